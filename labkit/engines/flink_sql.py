"""The feature job in Flink SQL: every per-record step stays in the JVM, no Python workers.

Kafka (raw bytes) -> decoded and checked in the JVM -> four OVER aggregations
keyed by card_id -> Kafka as JSON (`<input>.features-sql<tag>`: its outputs are
`sql_outputs(input, tag)`, apart from the Avro feature logs of the other
engines; keyed by card_id, one row per input event ahead of the watermark).
Each event at or behind the watermark becomes a row of `<input>.late-sql<tag>`
instead (`LATE_COLUMNS`, read back by `dropped_rows`), so the reconciliation
counts it as `dropped`. `run` builds and runs the job; `labkit.parity.compare_sql`
lines its rows up with the contract's feature log;
`labkit.engines.watermarks.late_rows` predicts the late rows from the input
alone. Every constant (window widths, the velocity threshold, the high-risk
codes, the micro-unit scale, the feature names and their types, the size and
amount limits) comes from `labkit.features`, `labkit.processing` and
`features.v1.avsc`, never typed again here.

Bad input. Flink's own `avro-confluent` format fails the whole job on the first
message it cannot decode ("Unknown data format. Magic number does not match",
and no restart: notebook 06 shows it). So the job reads raw bytes and decodes
them with the lab's JVM functions (`flink_tables.JVM_FUNCTIONS`, the decoder the
flink-jvm engine uses), which say why a message holds no transaction; SQL then
runs the contract's other checks (key = card_id, a finite amount). Every message
that fails one goes to `<input>.dlq-sql<tag>` with its original bytes, its
source and the reason (`oversized`, `undecodable`, `invalid`) as every engine
writes them, so the run balances on hostile input as the others do; only the
error texts are the JVM's own words. Messages that do not decode have no event
time, and do not move the watermark.

What SQL expresses, per event, over (t-5 min, t] and (t-1 h, t] of the event's
own time t: txn_count_5m/1h, amount_sum_5m/1h, amount_avg_5m, amount_max_5m,
amount_std_1h (population), amount_zscore, unique_countries_1h
(COUNT(DISTINCT) OVER), high_risk_mcc_ratio_1h, is_high_velocity,
seconds_since_prev (LAG), is_new_country (a count over a window partitioned by
card *and* country), last_geo_country and is_fraud. The windows are half-open
like the contract's: RANGE '4:59.999' / '59:59.999' PRECEDING at millisecond
precision, because SQL's `INTERVAL '5' MINUTE PRECEDING` includes an event
exactly 5 minutes older. Flink allows one window per SELECT, so the job nests
four OVER SELECTs (5 min, 1 h, previous event, card+country); the rowtime
attribute survives each OVER, so the next one can order by it.

What it cannot express:
- The contract's clock T (the newest event time per card, in arrival order) and
  its rule "recompute as of T, late arrivals included". An OVER window sorts
  rows by event time and emits each as of its own time, once the watermark has
  passed it; feature_ts is therefore not written (it would always equal event_ts).
- Out-of-order events: one ahead of the watermark (the newest event time read,
  minus `WATERMARK_DELAY_S`) is sorted into place and sees only older events
  (the contract sees everything up to T); one at or behind it would be dropped
  by the OVER windows silently, or not, by rules of their own. The job routes
  every such event to the late topic before the windows, and its `RunReport`
  counts them as `dropped`: the run balances.
  The contract judges lateness per card instead: it keeps every event newer
  than its card's T - 1 h and dead-letters the older ones as `late`, like
  undecodable messages.
- The Redis writes: Flink SQL has no Redis sink (the feature log is all it writes).

So the results match the contract for events that arrived in order (event_ts
== the contract's feature_ts) on cards whose events all arrived in order: the
sums bit for bit (exact DECIMAL micro-units, as the contract's integers), the
standard deviation and z-score to within a few ulps. Where a card has
out-of-order events, even its in-order events can differ: SQL's windows hold the
card's events by event time, including ones that arrive *later* with an older
timestamp, and lack the ones it dropped; the contract's hold what arrived so far.

The watermark delay is 30 s by default, the generator's default `jitter_ms`:
events up to that far behind are reordered, not dropped; a longer delay keeps
more late events but holds every row back as long, in state. The source emits
the watermark on every event, so which events are late depends on the input's
order alone; with several partitions that order is how the source interleaves
them, which Kafka's fetches decide.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .. import topics
from ..errors import LabError
from ..features import (
    HIGH_RISK_MCCS,
    HIGH_VELOCITY_COUNT,
    MICROS,
    WINDOW_1H_MS,
    WINDOW_5M_MS,
)
from ..processing import MAX_AMOUNT
from ..runs import Outputs, RunOptions, RunReport, reconcile
from ..schemas import load as load_schema
from ..settings import Settings, get_settings
from ..stack import flink_settings
from ..stack.flink_jobs import pyflink_job
from . import flink_follow, get
from .flink_tables import (
    JVM_FUNCTIONS,
    MESSAGE_COLUMNS,
    RAW_BYTES,
    dead_letter_table,
    decoder_call,
    kafka_table,
    source_end,
)

if TYPE_CHECKING:  # PyFlink loads only when a job runs
    from pyflink.common import Configuration

__all__ = ["LATE_COLUMNS", "SQL_COLUMNS", "WATERMARK_DELAY_S", "dropped_rows", "run",
           "sql_outputs"]

WATERMARK_DELAY_S = 30
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _preceding(width_ms: int) -> str:
    """An OVER range holding (t - width, t]: SQL's `INTERVAL '5' MINUTE PRECEDING` would
    include an event exactly 5 minutes older, so the range is one millisecond shorter."""
    minutes, millis = divmod(width_ms - 1, 60_000)
    return (f"RANGE BETWEEN INTERVAL '{minutes}:{millis / 1000:06.3f}' MINUTE TO SECOND(3) "
            "PRECEDING AND CURRENT ROW")


# A row the OVER windows can take: ahead of the watermark before it (NULL until every
# partition has sent a row). Left to themselves, the windows would drop late rows
# silently, each by its own rule: a bounded RANGE window drops a row at or before the
# last time it fired for the row's card, the unbounded one (LAG) a row at or behind its
# watermark. So every row at or behind the source's watermark goes to the late topic
# instead (`NOT _ON_TIME`), and the rest are never dropped: each operator downstream
# receives them ahead of its own watermark, which is never ahead of the source's. That
# sets aside some rows a RANGE window would still have taken (its card had fired nothing
# later), for one rule that the input alone decides and `watermarks.late_rows` predicts.
_ON_TIME = "CURRENT_WATERMARK(ts) IS NULL OR ts > CURRENT_WATERMARK(ts)"
_HIGH_RISK = ", ".join(f"'{mcc}'" for mcc in HIGH_RISK_MCCS)
_MICROS = f"CAST({MICROS} AS DOUBLE)"  # micro-units back to amounts (exact, like 1e6)
_MICROS_SQUARED = f"CAST({MICROS ** 2} AS DOUBLE)"
_5M, _1H = _preceding(WINDOW_5M_MS), _preceding(WINDOW_1H_MS)
# The first view keeps the rows the windows can take; each next one adds to every row of
# the one before: the aggregates of one window, then what the features derive from them.
# Sums are exact DECIMAL micro-units like the contract's integers: a window subtracts
# what leaves it, and doubles would drift (a card back to one event would get a standard
# deviation of 1e-6, or NaN, instead of 0).
_VIEWS = {
    # The contract's checks on what decoded (`processing.check`): the Kafka key is the
    # card_id (the windows are per key), and the amount is a finite number within
    # ±MAX_AMOUNT. NaN by its name: the planner rewrites NOT (x <= m) as x > m, which
    # NaN fails, and then evaluates the two forms in different places of one job.
    "checked": f"""
        SELECT *, CASE
            WHEN dlq_reason IS NOT NULL THEN NULL
            WHEN `k` IS NULL OR `k` <> CAST(card_id AS BYTES) THEN
                'Kafka key ' || COALESCE(CAST(`k` AS STRING), 'NULL')
                || ' is not the event''s card_id ' || card_id
            WHEN CAST(amount AS STRING) IN ('NaN', 'Infinity', '-Infinity')
                 OR ABS(amount) > {MAX_AMOUNT} THEN
                'amount ' || CAST(amount AS STRING)
                || ' is not a finite number within ±{MAX_AMOUNT:,.0f}'
            END AS invalid
        FROM decoded""",
    "transactions": f"""
        SELECT txn_id, card_id, amount, mcc, geo_country, `timestamp`, is_fraud, ts,
               CAST(ROUND(amount * {MICROS}, 0) AS DECIMAL(38, 0)) AS micros
        FROM checked WHERE dlq_reason IS NULL AND invalid IS NULL""",
    "on_time": f"SELECT * FROM transactions WHERE {_ON_TIME}",
    "by_5m": f"""
        SELECT *, COUNT(*) OVER w AS txn_count_5m, SUM(micros) OVER w AS micros_5m,
               MAX(amount) OVER w AS amount_max_5m
        FROM on_time WINDOW w AS (PARTITION BY card_id ORDER BY ts {_5M})""",
    "by_1h": f"""
        SELECT *, COUNT(*) OVER w AS txn_count_1h, SUM(micros) OVER w AS micros_1h,
               SUM(micros * micros) OVER w AS squares_1h,
               COUNT(DISTINCT geo_country) OVER w AS unique_countries_1h,
               SUM(CASE WHEN mcc IN ({_HIGH_RISK}) THEN 1 ELSE 0 END) OVER w AS high_risk_1h
        FROM by_5m WINDOW w AS (PARTITION BY card_id ORDER BY ts {_1H})""",
    "by_prev": """
        SELECT *, LAG(`timestamp`) OVER (PARTITION BY card_id ORDER BY ts) AS prev_ts
        FROM by_1h""",
    "by_country": f"""
        SELECT *, COUNT(*) OVER (PARTITION BY card_id, geo_country ORDER BY ts {_1H})
                  AS country_count_1h
        FROM by_prev""",
    "with_std": f"""
        SELECT *, CAST(micros_1h AS DOUBLE) / txn_count_1h / {_MICROS} AS mean_1h,
               SQRT(CAST(txn_count_1h * squares_1h - micros_1h * micros_1h AS DOUBLE)
                    / (txn_count_1h * txn_count_1h) / {_MICROS_SQUARED}) AS amount_std_1h
        FROM by_country""",
}
# Every feature the job writes, as SQL over the last view. feature_ts is not among them:
# an OVER window emits each row as of its own event time, so it would equal event_ts.
_FEATURE_SQL = {
    "card_id": "card_id",
    "txn_id": "txn_id",
    "event_ts": "`timestamp`",
    "txn_count_5m": "txn_count_5m",
    "txn_count_1h": "txn_count_1h",
    "amount_sum_5m": f"CAST(micros_5m AS DOUBLE) / {_MICROS}",
    "amount_sum_1h": f"CAST(micros_1h AS DOUBLE) / {_MICROS}",
    "amount_avg_5m": f"CAST(micros_5m AS DOUBLE) / txn_count_5m / {_MICROS}",
    "amount_max_5m": "amount_max_5m",
    "amount_std_1h": "amount_std_1h",
    "amount_zscore": "CASE WHEN amount_std_1h > 0 THEN (amount - mean_1h) / amount_std_1h "
                     "ELSE 0.0 END",
    "unique_countries_1h": "unique_countries_1h",
    "high_risk_mcc_ratio_1h": "CAST(high_risk_1h AS DOUBLE) / txn_count_1h",
    "seconds_since_prev": "CAST(`timestamp` - prev_ts AS DOUBLE) / 1000",
    "is_high_velocity": f"txn_count_5m >= {HIGH_VELOCITY_COUNT}",
    "is_new_country": "geo_country IS NOT NULL AND country_count_1h = 1",
    "last_geo_country": "geo_country",
    "is_fraud": "is_fraud",
}
# Avro type -> SQL type of the sink's columns. Avro's int becomes BIGINT: SQL's COUNT is
# a BIGINT, and the JSON the sink writes spells both alike.
_SQL_TYPES = {"string": "STRING", "int": "BIGINT", "long": "BIGINT", "double": "DOUBLE",
              "boolean": "BOOLEAN"}


def _sql_type(avro_type: object) -> str:
    if isinstance(avro_type, list):  # a nullable union: SQL columns are nullable anyway
        (avro_type,) = [branch for branch in avro_type if branch != "null"]
    if isinstance(avro_type, dict):  # a logical type over its primitive
        avro_type = avro_type["type"]
    return _SQL_TYPES[avro_type]


# (name, SQL type) of the sink, in the order of features.v1.avsc.
SQL_COLUMNS = tuple((field["name"], _sql_type(field["type"]))
                    for field in load_schema("features.v1")["fields"]
                    if field["name"] in _FEATURE_SQL)
# (name, SQL type) of the late topic's rows: the event, and the watermark it was at or
# behind when it reached the windows. SQL cannot turn a TIMESTAMP_LTZ back into epoch
# millis (no cast to a number; TIMESTAMPDIFF drops the millis), so the JSON holds it
# as ISO-8601 text in UTC and `dropped_rows` converts it.
LATE_COLUMNS = (("txn_id", "STRING"), ("card_id", "STRING"), ("timestamp", "BIGINT"),
                ("watermark", "TIMESTAMP_LTZ(3)"))


def _source_ddl(topic: str, settings: Settings, delay_s: int, until_end: bool,
                on_cluster: bool = False) -> str:
    """The input as raw bytes (`MESSAGE_COLUMNS`), with its event time as the rowtime.

    Not the `avro-confluent` format: it fails the whole job on the first message it
    cannot decode (notebook 06 shows it). The job decodes each message itself
    (`_decoded`), so one without a transaction becomes a dead letter instead. The
    watermark stays inside the source, so each partition keeps its own, over the
    event times of the messages that decode (`event_time`, jvm/src); one that does
    not has none, and its 0 never raises the watermark.
    """
    registry = settings.for_flink_cluster("registry") if on_cluster else settings.registry
    event_ms = decoder_call("event_time", "v", registry)
    return kafka_table("source", topic, [
        *MESSAGE_COLUMNS, f"ts AS TO_TIMESTAMP_LTZ(COALESCE({event_ms}, 0), 3)",
        f"WATERMARK FOR ts AS ts - INTERVAL '{delay_s}' SECOND"], {
        **RAW_BYTES, "scan.startup.mode": "earliest-offset", **source_end(until_end),
        # A watermark after every row that raises it, not every 200 ms (the default
        # `on-periodic`, `pipeline.auto-watermark-interval`): which rows are late then
        # depends on the order the source reads them in, never on how fast it reads, so
        # two runs agree and `watermarks.late_rows` predicts them.
        "scan.watermark.emit.strategy": "on-event"}, on_cluster=on_cluster)


def _decoded(settings: Settings, on_cluster: bool = False) -> str:
    """Every message with the transaction's fields, or with the reason and error of one
    that holds none (`decode_transactions`, jvm/src): one row each, in the JVM. Only
    the fields the features need: Avro resolution skips the writer's others."""
    registry = settings.for_flink_cluster("registry") if on_cluster else settings.registry
    return (f"SELECT s.*, t.* FROM source AS s "
            f"LEFT JOIN LATERAL TABLE({decoder_call('decode_transactions', 'v', registry)}) "
            "AS t ON TRUE")


def _json_sink(name: str, topic: str, columns: tuple[tuple[str, str], ...],
               on_cluster: bool = False) -> str:
    # Keyed by card_id like the input, so Kafka's default partitioner keeps each card's
    # rows in the partition its events came from.
    return kafka_table(name, topic, [f"`{column}` {kind}" for column, kind in columns], {
        "key.format": "raw", "key.fields": "card_id", "value.format": "json",
        "value.fields-include": "ALL", "value.json.timestamp-format.standard": "ISO-8601"},
        on_cluster=on_cluster)


def _insert() -> str:
    columns = ",\n           ".join(f"{_FEATURE_SQL[name]} AS {name}" for name, _ in SQL_COLUMNS)
    return f"INSERT INTO features\n    SELECT {columns}\n    FROM with_std"


def _late_insert() -> str:
    return f"""INSERT INTO late
    SELECT txn_id, card_id, `timestamp`, CURRENT_WATERMARK(ts)
    FROM transactions WHERE NOT ({_ON_TIME})"""


# A dead letter's headers (`processing.DeadLetter.headers`), as SQL over `checked`.
_DLQ_HEADERS = {
    "dlq.reason": "COALESCE(dlq_reason, 'invalid')",
    "dlq.error": "COALESCE(dlq_error, invalid)",
    "dlq.topic": "`topic`",
    "dlq.partition": "CAST(`partition` AS STRING)",
    "dlq.offset": "CAST(`offset` AS STRING)",
}


def _dead_letter_insert() -> str:
    """Every message that holds no valid transaction, with its original bytes and why."""
    headers = ", ".join(f"'{name}', CAST({value} AS BYTES)"
                        for name, value in _DLQ_HEADERS.items())
    return f"""INSERT INTO dead_letters
    SELECT `k`, `v`, MAP[{headers}]
    FROM checked WHERE dlq_reason IS NOT NULL OR invalid IS NOT NULL"""


def _create_outputs(outputs: Outputs) -> None:
    if outputs.features in topics.list_topics():
        raise LabError(f"Topic {outputs.features!r} already exists: a second run would append "
                       "to it.", "pass a fresh tag (e.g. tag=f'.{lk.topics.run_id()}').")
    outputs.create_topics()


def _configuration(settings: Settings, outputs: Outputs, options: RunOptions) -> Configuration:
    """The job's settings (`flink_settings.sql_job`), then the run's own."""
    job = flink_settings.sql_job(settings, name=f"labkit features (SQL): {outputs.input}",
                                 parallelism=options.parallelism, cluster=options.cluster)
    return flink_settings.configuration(job, options.flink_settings)


def _execute(outputs: Outputs, options: RunOptions) -> None:
    """Build and run the job: to the end of the input, or following it (`flink_follow`)."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    settings = get_settings()
    environment = (EnvironmentSettings.new_instance().in_streaming_mode()
                   .with_configuration(_configuration(settings, outputs, options)).build())
    t_env = TableEnvironment.create(environment)
    for statement in JVM_FUNCTIONS:
        t_env.execute_sql(statement)
    t_env.execute_sql(_source_ddl(outputs.input, settings, WATERMARK_DELAY_S, options.until_end,
                                  options.cluster))
    t_env.execute_sql(_json_sink("features", outputs.features, SQL_COLUMNS, options.cluster))
    t_env.execute_sql(_json_sink("late", outputs.late, LATE_COLUMNS, options.cluster))
    t_env.execute_sql(dead_letter_table("dead_letters", outputs.dlq, on_cluster=options.cluster))
    t_env.create_temporary_view("decoded", t_env.sql_query(_decoded(settings, options.cluster)))
    for name, query in _VIEWS.items():
        t_env.create_temporary_view(name, t_env.sql_query(query))
    statements = t_env.create_statement_set()  # one job, one source: every insert reads it
    statements.add_insert_sql(_insert())
    statements.add_insert_sql(_late_insert())
    statements.add_insert_sql(_dead_letter_insert())
    inserted = statements.execute()
    if options.until_end:
        inserted.wait()
    else:
        flink_follow.follow(inserted.get_job_client(), outputs, options)


def sql_outputs(topic: str, tag: str = "") -> Outputs:
    """Where the SQL job over `topic` writes: `<topic>.features-sql<tag>`, the rows it
    dropped behind the watermark in `<topic>.late-sql<tag>`, and so on (the registry's
    `outputs` of this engine; its run's report names them too).

    Its rows are JSON, not the contract's Avro records, so they never share a
    topic with another engine's feature log, even with the same tag.
    """
    return get("flink-sql").outputs(topic, tag)


def dropped_rows(outputs: Outputs, *, timeout_s: float = 60.0) -> list[dict]:
    """The late topic's rows (LATE_COLUMNS), `watermark` in epoch ms like `timestamp`,
    ordered by (partition, offset)."""
    rows = [json.loads(record.value)
            for record in topics.read_all(outputs.late, timeout_s=timeout_s)]
    return [{**row, "watermark": _epoch_ms(row["watermark"])} for row in rows]


def _epoch_ms(iso: str) -> int:
    """ISO-8601 text in UTC ("2026-01-01T00:00:30.5Z") as epoch milliseconds, exactly."""
    return (datetime.fromisoformat(iso) - _EPOCH) // timedelta(milliseconds=1)


def run(topic: str, options: RunOptions) -> RunReport:
    """Run the SQL feature job over `topic` (beginning to the end offsets seen at start).

    On PyFlink's local mini-cluster, or with `options.cluster` on the standalone
    cluster (`labkit stack up --flink-cluster`, 2 slots). Writes fresh output
    topics; a tag already used is refused. Events at or behind the watermark
    (`WATERMARK_DELAY_S`) go to the late topic: the report counts them as dropped.

    With `options.until_end` False (mini-cluster only), follow the topic until
    `options.max_messages` rows are written, then cancel the job. A row is written
    only once the watermark passes its event, so the input's last
    `WATERMARK_DELAY_S` of event time stay in state: ask for fewer rows than events.
    """
    flink_follow.check(options)
    outputs = sql_outputs(topic, options.tag)
    _create_outputs(outputs)
    with pyflink_job():
        _execute(outputs, options)
    return reconcile("flink-sql", outputs)
