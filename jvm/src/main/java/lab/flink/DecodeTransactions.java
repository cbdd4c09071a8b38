package lab.flink;

import org.apache.flink.avro.shaded.org.apache.avro.Schema;
import org.apache.flink.avro.shaded.org.apache.avro.generic.GenericRecord;
import org.apache.flink.formats.avro.registry.confluent.ConfluentRegistryAvroDeserializationSchema;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * The fields of a Confluent-framed Avro transaction that the feature contract reads,
 * decoded in the JVM by the same class Flink's own {@code avro-confluent} format decodes
 * with: the writer schema found in the registry by the id in the frame, resolved to the
 * reader schema (the lab's transactions.v1).
 *
 * <p>A table function, so a query calls it once per message ({@code LEFT JOIN LATERAL
 * TABLE(decode_transactions(v, ...)) ON TRUE}). A value it cannot decode, or one above
 * {@code maxBytes}, gives no row: the join fills the fields with NULL, the message keeps
 * its original bytes, and the job's Python side runs the lab's own checks on them, which
 * dead-letter it exactly as every other engine does (or decode it, if only this reader
 * schema could not). Unlike the format itself, which fails the whole job on one bad
 * message, nothing is lost.
 *
 * <p>Used by labkit.engines.flink_job (the {@code flink-jvm} engine); built by
 * {@code make jvm} from pom.xml.
 */
@FunctionHint(output = @DataTypeHint(
        "ROW<txn_id STRING, card_id STRING, amount DOUBLE, mcc STRING, geo_country STRING, "
                + "`timestamp` BIGINT, is_fraud BOOLEAN>"))
public class DecodeTransactions extends TableFunction<Row> {

    private transient ConfluentRegistryAvroDeserializationSchema<GenericRecord> decoder;

    /** Collect the transaction's fields, or nothing if {@code value} does not decode. */
    public void eval(byte[] value, String readerSchema, String registryUrl, int maxBytes) {
        if (value == null || value.length > maxBytes) {
            return;
        }
        GenericRecord record;
        try {
            record = decoder(readerSchema, registryUrl).deserialize(value);
        } catch (Exception undecodable) {
            // The decoder reuses its input buffer between messages, and a failure can leave
            // bytes of this message in it, which the next message would then be read from
            // (seen here: every later message decoded as the one before it). A new decoder
            // starts clean; failures are rare, so re-reading the writer schema costs little.
            decoder = null;
            return; // the lab's checks on the Python side say why, with the bytes
        }
        collect(Row.of(text(record.get("txn_id")), text(record.get("card_id")),
                record.get("amount"), text(record.get("mcc")), text(record.get("geo_country")),
                record.get("timestamp"), record.get("is_fraud")));
    }

    /** One decoder per function instance: it caches writer schemas by id. */
    private ConfluentRegistryAvroDeserializationSchema<GenericRecord> decoder(
            String readerSchema, String registryUrl) {
        if (decoder == null) {
            decoder = ConfluentRegistryAvroDeserializationSchema.forGeneric(
                    new Schema.Parser().parse(readerSchema), registryUrl);
        }
        return decoder;
    }

    /** Avro strings arrive as Utf8 (or null for an absent union branch). */
    private static String text(Object avroString) {
        return avroString == null ? null : avroString.toString();
    }
}
