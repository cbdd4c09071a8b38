"""The Flink SQL engine's job as text, and a failed job's error, checked with no cluster.

The job's dead letters must be the contract's (`processing.DeadLetter`): the same
headers, so `runs.read_dead_letters` reads them back. A failed job reaches the user as
a LabError naming its innermost cause.
"""

from __future__ import annotations

import json

from labkit import schemas
from labkit.engines import flink_sql
from labkit.engines.flink_tables import JVM_FUNCTIONS, decoder_call
from labkit.processing import MAX_VALUE_BYTES, DeadLetter, Source
from labkit.settings import Settings
from labkit.stack.flink_jobs import root_cause


def test_the_sql_dead_letters_carry_the_contracts_headers():
    letter = DeadLetter(b"k", b"v", "invalid", "why", Source("t", 0, 1))
    assert list(flink_sql._DLQ_HEADERS) == list(letter.headers())
    insert = flink_sql._dead_letter_insert()
    assert all(f"'{header}'" in insert for header in letter.headers())


def test_messages_are_decoded_by_the_labs_functions_not_the_format():
    settings = Settings(registry="http://registry.example:8081/apis/ccompat/v7")
    source = flink_sql._source_ddl("payments", settings, 30, until_end=True)
    assert "avro-confluent" not in source  # it would fail the job on one bad message
    assert "'value.format' = 'raw'" in source
    assert "event_time(`v`," in source and "WATERMARK FOR ts" in source
    assert "decode_transactions(`v`," in flink_sql._decoded(settings)
    assert all("lab.flink." in statement for statement in JVM_FUNCTIONS)


def test_a_decoder_call_passes_the_reader_schema_as_a_sql_string():
    call = decoder_call("decode_transactions", "v", "http://r:8081")
    prefix, suffix = "decode_transactions(`v`, '", f"', 'http://r:8081', {MAX_VALUE_BYTES})"
    assert call.startswith(prefix) and call.endswith(suffix)
    literal = call.removeprefix(prefix).removesuffix(suffix)
    assert "'" not in literal.replace("''", "")  # every quote inside is doubled
    assert json.loads(literal.replace("''", "'")) == schemas.load("transactions.v1")


def test_the_root_cause_is_the_innermost_caused_by_without_its_package():
    error = """py4j.protocol.Py4JJavaError: An error occurred while calling o193.await.
: java.util.concurrent.ExecutionException: org.apache.flink.table.api.TableException: Failed
Caused by: org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoff
Caused by: java.io.IOException: Unknown data format. Magic number does not match
\tat org.apache.flink.formats.avro.AvroRowDataDeserializationSchema.deserialize(X.java:140)
"""
    assert root_cause(error) == "IOException: Unknown data format. Magic number does not match"
    assert root_cause("java.lang.IllegalStateException: no slots") == \
        "IllegalStateException: no slots"
    assert len(root_cause("Caused by: java.lang.Error: " + "x" * 1000)) == 300
    # A cause without a message keeps the one above it, which says what was being done.
    assert root_cause("Caused by: java.io.IOException: Failed to deserialize Avro record.\n"
                      "Caused by: java.io.EOFException\n\tat x.y(Z.java:1)") == \
        "IOException: Failed to deserialize Avro record. (EOFException)"
