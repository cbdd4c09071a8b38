"""The Flink SQL job against the feature contract, on a stream that arrives in order."""

import pytest

import labkit as lk
from labkit import engines, parity
from labkit.engines import flink_sql
from labkit.errors import LabError
from labkit.runs import Outputs, RunReport

pytestmark = pytest.mark.integration

EVENTS = 3_000


@pytest.fixture(scope="module")
def stream() -> str:
    """3,000 in-order events over 100 cards on 2 partitions, run through both engines."""
    topic = lk.topics.fresh_topic("it-flink-sql", partitions=2)
    assert lk.generate.produce(topic, EVENTS, fmt="confluent", n_cards=100, late_share=0) == EVENTS
    engines.run("simple", topic, tag=".simple")
    return topic


@pytest.fixture(scope="module")
def sql_run(stream) -> RunReport:
    return engines.run("flink-sql", stream, tag=".sql")


def test_one_row_per_event(stream, sql_run):
    assert sql_run.engine == "flink-sql"
    assert sql_run.input_messages == EVENTS
    assert sql_run.feature_records == EVENTS
    assert sql_run.balanced, str(sql_run)
    assert len(parity.sql_rows(flink_sql.sql_outputs(stream, ".sql"))) == EVENTS


def test_every_feature_sql_expresses_matches_the_contract(stream, sql_run):
    result = parity.compare_sql(flink_sql.sql_outputs(stream, ".sql"), Outputs(stream, ".simple"))
    assert result.in_order == EVENTS
    assert result.compared == EVENTS
    assert result.equal, str(result)
    assert all(result.matched[name] == EVENTS for name in parity.SQL_COMPARED)


def test_compare_reports_a_wrong_value(stream, sql_run):
    log = parity.feature_log(Outputs(stream, ".simple"))
    log[10] = {**log[10], "amount_sum_1h": log[10]["amount_sum_1h"] * 1.001}
    result = parity.compare_sql(flink_sql.sql_outputs(stream, ".sql"), log)
    assert result.mismatched["amount_sum_1h"] == 1
    assert sum(result.mismatched.values()) == 1
    assert log[10]["txn_id"] in result.first_mismatch


def test_a_used_output_topic_is_refused(stream, sql_run):
    with pytest.raises(LabError, match="already exists"):
        engines.run("flink-sql", stream, tag=".sql")
