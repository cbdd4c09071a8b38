"""The compacted changelog rebuilds Redis: from it, or from the whole feature log, Redis
ends as the engine left it, card by card; a tombstoned card is not restored."""

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

import labkit as lk
from labkit import changelog, parity
from labkit.cli import app
from labkit.runs import Outputs
from labkit.sinks import RedisFeatureSink

pytestmark = pytest.mark.integration

CARDS = 60


@pytest.fixture(scope="module")
def run() -> Iterator[tuple[Outputs, dict[str, dict]]]:
    """A simple engine run over 3,000 payments, its changelog published, and what the
    engine left in Redis; the run's Redis keys are deleted afterwards."""
    topic = lk.topics.fresh_topic("it-changelog", partitions=2)
    lk.generate.produce(topic, 3000, fmt="confluent", n_cards=CARDS)
    outputs = lk.engines.run("simple", topic).outputs
    assert changelog.publish_latest(outputs) > CARDS  # a card's newer records, not just its last
    snapshot = parity.redis_snapshot(outputs)
    assert len(snapshot) == CARDS
    yield outputs, snapshot
    emptied(outputs)


def emptied(outputs: Outputs) -> RedisFeatureSink:
    """Delete the run's Redis keys (only those: others share this Redis); a sink for them."""
    sink = RedisFeatureSink(key_prefix=outputs.redis_prefix)
    sink.delete_all()
    assert parity.redis_snapshot(outputs) == {}
    return sink


def test_a_restore_from_the_changelog_is_what_the_engine_left_in_redis(run):
    outputs, snapshot = run
    restored = changelog.restore(changelog.latest_topic(outputs), emptied(outputs))
    assert (restored.written, restored.deleted) == (CARDS, 0)
    assert parity.redis_snapshot(outputs) == snapshot


def test_a_tombstoned_card_is_not_restored(run):
    outputs, snapshot = run
    # A copy of the changelog, so the tombstone stays out of the other tests' way.
    copy = lk.topics.fresh_topic("it-changelog-copy", partitions=2)
    lk.topics.copy_records(copy, lk.topics.read_all(changelog.latest_topic(outputs)))
    deleted = sorted(snapshot)[0]
    changelog.tombstone(copy, deleted)
    restored = changelog.restore(copy, emptied(outputs))
    assert (restored.written, restored.deleted) == (CARDS - 1, 1)
    assert parity.redis_snapshot(outputs) == {card: record for card, record in snapshot.items()
                                              if card != deleted}


def test_a_restore_from_the_whole_feature_log_is_the_same(run):
    outputs, snapshot = run
    restored = changelog.restore(outputs.features, emptied(outputs))
    assert restored.records == lk.topics.count(outputs.features)
    assert parity.redis_snapshot(outputs) == snapshot


def test_the_cli_restores_from_the_changelog_into_the_runs_prefix(run):
    outputs, snapshot = run
    emptied(outputs)
    result = CliRunner().invoke(app, ["features", "restore", "--topic",
                                      changelog.latest_topic(outputs)])
    assert result.exit_code == 0, result.output
    assert f"{CARDS} cards written, 0 deleted" in result.output
    assert parity.redis_snapshot(outputs) == snapshot


def test_compaction_leaves_one_record_per_card_and_the_same_restore(run):
    outputs, snapshot = run
    topic = changelog.latest_topic(outputs)
    segments_before = changelog.segments(topic)
    compaction = changelog.wait_compacted(topic)
    # Each partition's last card twice: its compacted record and the copy that closed
    # the open segment.
    assert (compaction.keys, compaction.after) == (CARDS, CARDS + 2)
    assert compaction.before > compaction.after
    *closed, _open = changelog.segments(topic)  # the copy opened a new segment
    assert sum(size for _, size in closed) < sum(size for _, size in segments_before)
    changelog.restore(topic, emptied(outputs))
    assert parity.redis_snapshot(outputs) == snapshot
