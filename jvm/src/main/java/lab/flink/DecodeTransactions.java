package lab.flink;

import org.apache.flink.avro.shaded.org.apache.avro.generic.GenericRecord;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * The fields of a Confluent-framed Avro transaction that the feature contract reads, decoded
 * in the JVM ({@link TransactionDecoder}), or why the message holds none.
 *
 * <p>A table function, so a query calls it once per message ({@code LEFT JOIN LATERAL
 * TABLE(decode_transactions(v, ...)) ON TRUE}), and it gives exactly one row per message:
 * the transaction's fields with {@code dlq_reason} and {@code dlq_error} NULL, or NULL
 * fields with the reason ({@code oversized} or {@code undecodable}) and the error. The
 * message keeps its original bytes either way, so nothing is lost:
 * <ul>
 *   <li>the {@code flink-jvm} engine (labkit.engines.flink_job) gives a message without
 *       fields to the contract's own checks in Python, which dead-letter it exactly as
 *       every other engine does (or decode it, if only this reader schema could not);</li>
 *   <li>the {@code flink-sql} engine (labkit.engines.flink_sql) writes it to its
 *       dead-letter topic with the reason and error, in SQL.</li>
 * </ul>
 * Built by {@code make jvm} from pom.xml.
 */
@FunctionHint(output = @DataTypeHint(
        "ROW<txn_id STRING, card_id STRING, amount DOUBLE, mcc STRING, geo_country STRING, "
                + "`timestamp` BIGINT, is_fraud BOOLEAN, dlq_reason STRING, dlq_error STRING>"))
public class DecodeTransactions extends TableFunction<Row> {

    private transient TransactionDecoder decoder;

    /** One row: the transaction's fields, or the reason and error of a message without one.
     * A registry that does not answer fails the job: the message may be fine. */
    public void eval(byte[] value, String readerSchema, String registryUrl, int maxBytes) {
        if (decoder == null) {
            decoder = new TransactionDecoder(readerSchema, registryUrl, maxBytes);
        }
        try {
            GenericRecord record = decoder.decode(value);
            collect(Row.of(text(record.get("txn_id")), text(record.get("card_id")),
                    record.get("amount"), text(record.get("mcc")),
                    text(record.get("geo_country")), record.get("timestamp"),
                    record.get("is_fraud"), null, null));
        } catch (TransactionDecoder.Undecodable undecodable) {
            collect(Row.of(null, null, null, null, null, null, null, undecodable.reason,
                    undecodable.getMessage()));
        }
    }

    /** Avro strings arrive as Utf8 (or null for an absent union branch). */
    private static String text(Object avroString) {
        return avroString == null ? null : avroString.toString();
    }
}
