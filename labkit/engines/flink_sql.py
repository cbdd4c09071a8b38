"""The feature job in Flink SQL: every per-record step stays in the JVM, no Python workers.

Kafka (Confluent-framed Avro, decoded by Flink's `avro-confluent` format against
the lab's registry) -> four OVER aggregations keyed by card_id -> Kafka as JSON
(`<input>.features-sql<tag>`, keyed by card_id, one row per input event that
was not behind the watermark). `run` builds and runs the job; `compare` lines
its rows up with the contract's feature log (`labkit.features`).

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
- Out-of-order events: one less than the watermark delay behind its partition
  is sorted into place and sees only older events (the contract sees everything
  up to T); one further behind is *dropped* by the OVER operator, silently. The
  contract instead dead-letters events at or before T - 1 h as `late`, with a
  reason, like undecodable messages; SQL has no dead-letter output (a message
  the format cannot decode should fail the job: not tried here).
  `SqlRun.dropped` counts the drops.
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
more late events but holds every row back as long, in state.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field

from .. import topics
from ..errors import LabError
from ..generate import HIGH_RISK_MCCS
from ..processing import Outputs
from ..settings import Settings, get_settings
from ..stack.flink import avro_confluent_jar, connector_jar, restored_environ

__all__ = ["COMPARED", "SqlParity", "SqlRun", "compare", "output_topic", "read_output", "run"]

WATERMARK_DELAY_S = 30
REL_TOL = 1e-9
ABS_TOL = 1e-9
# Contract features the job computes the same way (for in-order events), compared by `compare`.
COMPARED = ("txn_count_5m", "txn_count_1h", "amount_sum_5m", "amount_sum_1h", "amount_avg_5m",
            "amount_max_5m", "amount_std_1h", "amount_zscore", "unique_countries_1h",
            "high_risk_mcc_ratio_1h", "seconds_since_prev", "is_high_velocity",
            "is_new_country", "last_geo_country", "is_fraud")

_HIGH_RISK = ", ".join(f"'{mcc}'" for mcc in HIGH_RISK_MCCS)
_5M = "RANGE BETWEEN INTERVAL '4:59.999' MINUTE TO SECOND(3) PRECEDING AND CURRENT ROW"
_1H = "RANGE BETWEEN INTERVAL '59:59.999' MINUTE TO SECOND(3) PRECEDING AND CURRENT ROW"
# Each view adds to every row of the one before: the aggregates of one window, then what
# the features derive from them. Sums are exact DECIMAL micro-units like the contract's
# integers: a window subtracts what leaves it, and doubles would drift (a card back to
# one event would get a standard deviation of 1e-6, or NaN, instead of 0).
_VIEWS = {
    "by_5m": f"""
        SELECT *, COUNT(*) OVER w AS txn_count_5m, SUM(micros) OVER w AS micros_5m,
               MAX(amount) OVER w AS amount_max_5m
        FROM transactions WINDOW w AS (PARTITION BY card_id ORDER BY ts {_5M})""",
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
    "with_std": """
        SELECT *, CAST(micros_1h AS DOUBLE) / txn_count_1h / 1e6 AS mean_1h,
               SQRT(CAST(txn_count_1h * squares_1h - micros_1h * micros_1h AS DOUBLE)
                    / (txn_count_1h * txn_count_1h) / 1e12) AS amount_std_1h
        FROM by_country""",
}
_FEATURES = """
    INSERT INTO features
    SELECT card_id, txn_id, `timestamp`, txn_count_5m, txn_count_1h,
           CAST(micros_5m AS DOUBLE) / 1e6, CAST(micros_1h AS DOUBLE) / 1e6,
           CAST(micros_5m AS DOUBLE) / txn_count_5m / 1e6, amount_max_5m, amount_std_1h,
           CASE WHEN amount_std_1h > 0 THEN (amount - mean_1h) / amount_std_1h ELSE 0.0 END,
           unique_countries_1h, CAST(high_risk_1h AS DOUBLE) / txn_count_1h,
           CAST(`timestamp` - prev_ts AS DOUBLE) / 1000, txn_count_5m >= 5,
           geo_country IS NOT NULL AND country_count_1h = 1, geo_country, is_fraud
    FROM with_std"""


def output_topic(topic: str, tag: str = "") -> str:
    """Where the SQL job over `topic` writes its feature rows."""
    return f"{topic}.features-sql{tag}"


def _source_ddl(topic: str, settings: Settings, delay_s: int) -> str:
    # Only the fields the features need: Avro resolution skips the writer's others
    # (the `currency` enum could not be read into a STRING anyway). `timestamp` read as
    # the long it is (timestamp-millis), so it comes back out as epoch millis.
    return f"""
        CREATE TABLE transactions (
          txn_id STRING, card_id STRING, amount DOUBLE, mcc STRING, geo_country STRING,
          `timestamp` BIGINT, is_fraud BOOLEAN,
          ts AS TO_TIMESTAMP_LTZ(`timestamp`, 3),
          micros AS CAST(ROUND(amount * 1000000, 0) AS DECIMAL(38, 0)),
          WATERMARK FOR ts AS ts - INTERVAL '{delay_s}' SECOND
        ) WITH (
          'connector' = 'kafka', 'topic' = '{topic}',
          'properties.bootstrap.servers' = '{settings.kafka}',
          'value.format' = 'avro-confluent', 'value.avro-confluent.url' = '{settings.registry}',
          'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset')"""


def _sink_ddl(topic: str, settings: Settings) -> str:
    # Keyed by card_id like the input, so Kafka's default partitioner keeps each card's
    # rows in the partition its events came from.
    return f"""
        CREATE TABLE features (
          card_id STRING, txn_id STRING, event_ts BIGINT, txn_count_5m BIGINT,
          txn_count_1h BIGINT, amount_sum_5m DOUBLE, amount_sum_1h DOUBLE,
          amount_avg_5m DOUBLE, amount_max_5m DOUBLE, amount_std_1h DOUBLE,
          amount_zscore DOUBLE, unique_countries_1h BIGINT, high_risk_mcc_ratio_1h DOUBLE,
          seconds_since_prev DOUBLE, is_high_velocity BOOLEAN, is_new_country BOOLEAN,
          last_geo_country STRING, is_fraud BOOLEAN
        ) WITH (
          'connector' = 'kafka', 'topic' = '{topic}',
          'properties.bootstrap.servers' = '{settings.kafka}',
          'key.format' = 'raw', 'key.fields' = 'card_id',
          'value.format' = 'json', 'value.fields-include' = 'ALL')"""


@dataclass(frozen=True)
class SqlRun:
    """What a bounded run read and wrote, counted on the brokers, and Flink's job time."""

    input_messages: int
    rows_written: int
    output: str
    job_s: float  # the job's net runtime as Flink measured it (no client start-up)

    @property
    def dropped(self) -> int:
        """Input events with no row: behind the watermark when they arrived."""
        return self.input_messages - self.rows_written

    def __str__(self) -> str:
        return (f"flink-sql: {self.input_messages:,} events -> {self.rows_written:,} rows in "
                f"{self.output} ({self.dropped:,} dropped as late); job {self.job_s:.1f} s")


def _create_output(topic: str, output: str) -> None:
    if output in topics.list_topics():
        raise LabError(f"Topic {output!r} already exists: a second run would append to it.",
                       "pass a fresh tag (e.g. tag=f'.{lk.topics.run_id()}').")
    topics.create_topic(output, partitions=int(topics.describe(topic)["partitions"]))


def _configuration(settings: Settings, parallelism: int, cluster: bool):
    from pyflink.common import Configuration

    config = Configuration()
    jars = (connector_jar(settings), avro_confluent_jar(settings))
    config.set_string("pipeline.jars", ";".join(f"file://{jar}" for jar in jars))
    config.set_string("parallelism.default", str(parallelism))
    if cluster:  # pure SQL: nothing Python to run remotely, so a plain remote submission
        host, port = settings.host_port("flink")
        config.set_string("execution.target", "remote")
        config.set_string("rest.address", host)
        config.set_string("rest.port", str(port))
    return config


def _execute(topic: str, output: str, parallelism: int, cluster: bool, delay_s: int) -> float:
    """Build and run the job to the end of the input; return its net runtime in seconds."""
    settings = get_settings()
    try:
        from pyflink.table import EnvironmentSettings, TableEnvironment
    except ImportError as exc:
        raise LabError(f"PyFlink is not importable ({exc}).",
                       "run `make lab` to install the lab's pinned apache-flink.") from None
    environment = (EnvironmentSettings.new_instance().in_streaming_mode()
                   .with_configuration(_configuration(settings, parallelism, cluster)).build())
    t_env = TableEnvironment.create(environment)
    t_env.get_config().set("pipeline.name", f"labkit features (SQL): {topic}")
    t_env.execute_sql(_source_ddl(topic, settings, delay_s))
    t_env.execute_sql(_sink_ddl(output, settings))
    for name, query in _VIEWS.items():
        t_env.create_temporary_view(name, t_env.sql_query(query))
    result = t_env.execute_sql(_FEATURES)
    result.wait()
    done = result.get_job_client().get_job_execution_result().result()
    return done.get_net_runtime() / 1000


def run(topic: str, *, tag: str = "", parallelism: int = 1, cluster: bool = False,
        watermark_delay_s: int = WATERMARK_DELAY_S) -> SqlRun:
    """Run the SQL feature job over `topic` (beginning to the end offsets seen at start).

    On PyFlink's local mini-cluster, or with `cluster=True` on the standalone
    cluster (`labkit stack up --flink-cluster`, 2 slots). Writes a fresh topic
    `output_topic(topic, tag)`; a tag already used is refused.
    """
    output = output_topic(topic, tag)
    _create_output(topic, output)
    with restored_environ():  # PyFlink leaves FLINK_CONF_DIR & co. in os.environ
        job_s = _execute(topic, output, parallelism, cluster, watermark_delay_s)
    return SqlRun(topics.count(topic), topics.count(output), output, round(job_s, 3))


def read_output(topic: str, tag: str = "", *, timeout_s: float = 60.0) -> list[dict]:
    """The SQL job's rows over `topic`, decoded, ordered by (partition, offset)."""
    records = topics.read(output_topic(topic, tag), max_messages=10**9, timeout_s=timeout_s)
    records.sort(key=lambda record: (record.partition, record.offset))
    return [json.loads(record.value) for record in records]


@dataclass(frozen=True)
class SqlParity:
    """How the SQL rows agree with the contract on the events that arrived in order."""

    in_order: int  # contract records with event_ts == feature_ts
    compared: int  # of those, how many have a SQL row
    matched: dict[str, int] = field(default_factory=dict)  # feature -> equal values
    mismatched: dict[str, int] = field(default_factory=dict)  # feature -> different values
    first_mismatch: str = ""

    @property
    def equal(self) -> bool:
        return self.compared == self.in_order and not any(self.mismatched.values())

    def __str__(self) -> str:
        differing = {name: n for name, n in self.mismatched.items() if n}
        verdict = ("every feature equal" if not differing else
                   ", ".join(f"{name} {n:,}" for name, n in differing.items()) + " differ")
        return (f"{self.compared:,} of {self.in_order:,} in-order events have a SQL row: "
                f"{verdict}" + (f"; first: {self.first_mismatch}" if self.first_mismatch else ""))


def _same(a: object, b: object) -> bool:
    """Equal, floats up to rounding; JSON's 2.0 may come back as an int."""
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, int | float) and isinstance(b, int | float)
                and math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL))
    return type(a) is type(b) and a == b


def compare(topic: str, reference: Outputs | list[dict], tag: str = "") -> SqlParity:
    """Compare the SQL rows over `topic` with a contract run's feature log, feature by feature.

    `reference` is that run's `Outputs` or its feature log (`parity.feature_log`).
    Only events that arrived in order count (the contract's event_ts == feature_ts):
    for the others the two compute different things (see the module docstring).
    """
    if isinstance(reference, Outputs):
        from ..parity import feature_log

        reference = feature_log(reference)
    rows = {row["txn_id"]: row for row in read_output(topic, tag)}
    in_order = [record for record in reference if record["event_ts"] == record["feature_ts"]]
    matched: Counter[str] = Counter()
    mismatched: Counter[str] = Counter()
    first = ""
    for record in in_order:
        row = rows.get(record["txn_id"])
        if row is None:
            continue
        for name in COMPARED:
            if _same(record[name], row[name]):
                matched[name] += 1
            else:
                mismatched[name] += 1
                first = first or (f"{record['card_id']} {record['txn_id']}: {name} "
                                  f"{record[name]!r} (contract) vs {row[name]!r} (SQL)")
    compared = sum(record["txn_id"] in rows for record in in_order)
    return SqlParity(len(in_order), compared, {name: matched[name] for name in COMPARED},
                     {name: mismatched[name] for name in COMPARED}, first)
