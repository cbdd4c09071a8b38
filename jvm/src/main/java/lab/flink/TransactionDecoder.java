package lab.flink;

import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.util.Locale;
import org.apache.flink.avro.registry.confluent.shaded.io.confluent.kafka.schemaregistry.client.rest.exceptions.RestClientException;
import org.apache.flink.avro.shaded.org.apache.avro.Schema;
import org.apache.flink.avro.shaded.org.apache.avro.generic.GenericRecord;
import org.apache.flink.formats.avro.registry.confluent.ConfluentRegistryAvroDeserializationSchema;

/**
 * A Confluent-framed Avro transaction decoded by the class Flink's own {@code avro-confluent}
 * format decodes with: the writer schema found in the registry by the id in the frame,
 * resolved to the reader schema (the lab's transactions.v1). Shared by the lab's two SQL
 * functions, {@link DecodeTransactions} (the fields) and {@link EventTime} (the time).
 *
 * <p>Where the format fails the whole job on one bad message, this says why the message
 * cannot be used, as the lab's contract does ({@code labkit.processing.check}): its
 * dead-letter reason ({@code oversized} or {@code undecodable}) and an error. A registry
 * that does not answer is not the message's fault: that failure is thrown, as the
 * contract's engines retry or fail rather than dead-letter a message that may be fine.
 */
final class TransactionDecoder {

    /** Why a message holds no transaction: a dead-letter reason and its error. */
    static final class Undecodable extends Exception {
        final String reason;

        Undecodable(String reason, String error) {
            super(error, null, false, false); // no stack trace: it is an answer, not a bug
            this.reason = reason;
        }
    }

    /** The registry's error code for "schema not found": the message's fault, final. */
    private static final int SCHEMA_NOT_FOUND = 40403;

    private final String readerSchema;
    private final String registryUrl;
    private final int maxBytes;
    private ConfluentRegistryAvroDeserializationSchema<GenericRecord> decoder;

    TransactionDecoder(String readerSchema, String registryUrl, int maxBytes) {
        this.readerSchema = readerSchema;
        this.registryUrl = registryUrl;
        this.maxBytes = maxBytes;
    }

    /** The transaction in {@code value}; Undecodable if there is none. If the registry could
     * not be asked, an UncheckedIOException (unchecked: SQL's generated code, which calls
     * the functions, declares no checked exception). */
    GenericRecord decode(byte[] value) throws Undecodable {
        if (value == null) {
            throw new Undecodable("undecodable", "the message has no value (a null, or tombstone)");
        }
        if (value.length > maxBytes) {
            throw new Undecodable("oversized", String.format(Locale.ROOT,
                    "value of %,d bytes is above the lab's limit of %,d", value.length, maxBytes));
        }
        try {
            return decoder().deserialize(value);
        } catch (Exception failure) {
            // The decoder reuses its input buffer between messages, and a failure can leave
            // bytes of this message in it, which the next message would then be read from
            // (seen here: every later message decoded as the one before it). A new decoder
            // starts clean; failures are rare, so re-reading the writer schema costs little.
            decoder = null;
            if (registryAway(failure)) {
                throw new UncheckedIOException(new IOException("the schema registry at "
                        + registryUrl + " did not answer: " + failure, failure));
            }
            throw new Undecodable("undecodable", rootMessage(failure));
        }
    }

    /** One decoder per function instance: it caches writer schemas by id. */
    private ConfluentRegistryAvroDeserializationSchema<GenericRecord> decoder() {
        if (decoder == null) {
            decoder = ConfluentRegistryAvroDeserializationSchema.forGeneric(
                    new Schema.Parser().parse(readerSchema), registryUrl);
        }
        return decoder;
    }

    /** True if the registry could not be asked (unreachable, or an error other than
     * "schema not found"): the message itself may be fine. */
    private static boolean registryAway(Throwable failure) {
        for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
            if (cause instanceof SocketException || cause instanceof SocketTimeoutException
                    || cause instanceof UnknownHostException) {
                return true;
            }
            if (cause instanceof RestClientException rest) {
                return rest.getErrorCode() != SCHEMA_NOT_FOUND;
            }
        }
        return false;
    }

    /** The failure and its causes in one line, outermost first ("Could not find schema
     * with id 7 in registry: Schema not found; error code: 40403"). */
    private static String rootMessage(Throwable failure) {
        StringBuilder line = new StringBuilder();
        for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
            String text = cause.getMessage() != null ? cause.getMessage()
                    : cause instanceof EOFException ? "the value ends before the record does"
                    : cause.getClass().getSimpleName();
            if (line.indexOf(text) < 0) { // a wrapper often repeats its cause's message
                line.append(line.length() == 0 ? "" : ": ").append(text);
            }
        }
        return line.toString();
    }
}
