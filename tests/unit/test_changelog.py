"""The changelog's pure parts: its names, the follower's newest-wins rule, the last value
per key a restore writes."""

import pytest
from typer.testing import CliRunner

from labkit.changelog import latest_topic, latest_values, not_older, redis_prefix_for
from labkit.cli import app
from labkit.errors import LabError
from labkit.runs import Outputs
from labkit.topics import Record


@pytest.mark.parametrize("outputs", [Outputs("payments"), Outputs("payments", ".simple"),
                                     Outputs("lab.payments-run1a2b3c4d", ".flink"),
                                     Outputs("payments", ".x", mark="-sql")])
def test_a_runs_feature_log_and_changelog_name_its_redis_prefix(outputs):
    assert latest_topic(outputs) == outputs.features + ".latest"
    assert redis_prefix_for(outputs.features) == outputs.redis_prefix
    assert redis_prefix_for(latest_topic(outputs)) == outputs.redis_prefix


@pytest.mark.parametrize("topic", ["payments", "payments.latest", ".features.latest"])
def test_a_topic_named_otherwise_asks_for_the_prefix(topic):
    with pytest.raises(LabError, match="--prefix"):
        redis_prefix_for(topic)


def test_the_cli_asks_for_the_prefix_without_a_traceback():
    result = CliRunner().invoke(app, ["features", "restore", "--topic", "payments"])
    assert result.exit_code == 1
    assert "--prefix" in result.output
    assert "Traceback" not in result.output


def feature(card: str, feature_ts: int) -> dict:
    return {"card_id": card, "feature_ts": feature_ts}


def test_the_follower_skips_a_replayed_older_record_and_keeps_an_equal_one():
    log = [("a1", feature("a", 10)), ("b1", feature("b", 5)), ("a2", feature("a", 20)),
           ("a-replayed", feature("a", 10)), ("a-equal", feature("a", 20)),
           ("b2", feature("b", 6))]
    assert list(not_older(log)) == ["a1", "b1", "a2", "a-equal", "b2"]


def record(offset: int, key: bytes, value: bytes | None) -> Record:
    return Record("t", 0, offset, key, value, 0)


def test_the_last_record_per_key_wins_a_tombstone_included():
    records = [record(0, b"a", b"a1"), record(1, b"b", b"b1"), record(2, b"a", b"a2"),
               record(3, b"b", None), record(4, b"c", None), record(5, b"c", b"c1")]
    latest = latest_values(records)
    assert {key: found.value for key, found in latest.items()} == {
        b"a": b"a2", b"b": None, b"c": b"c1"}
