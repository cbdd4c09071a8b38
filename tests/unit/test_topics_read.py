"""`topics.read` is bounded; `read_all` (with `complete`) says when the bound cut it short,
instead of returning fewer records than the topic holds; a broker's retriable refusal (a
restarted broker still electing a partition's leader) is asked again. No stack: a consumer
that never delivers, and calls that fail on cue."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labkit import topics
from labkit.errors import LabError


class _Stalled:
    """A consumer of a one-partition topic holding 5 messages that never delivers any."""

    def list_topics(self, topic, timeout):
        return SimpleNamespace(topics={topic: SimpleNamespace(error=None, partitions={0: None})})

    def get_watermark_offsets(self, partition, timeout):
        return 0, 5

    def assign(self, partitions):
        pass

    def poll(self, timeout):
        return None

    def position(self, partitions):
        return [SimpleNamespace(partition=tp.partition, offset=0) for tp in partitions]

    def close(self):
        pass


@pytest.fixture
def stalled(monkeypatch):
    monkeypatch.setattr(topics.clients, "consumer", lambda **_: _Stalled())


def test_a_bounded_read_returns_what_it_got(stalled):
    assert topics.read("t", max_messages=5, timeout_s=0.3, committed_only=False) == []


def test_a_complete_read_cut_short_is_an_error(stalled):
    with pytest.raises(LabError, match=r"partitions \[0\] not read to their end"):
        topics.read("t", max_messages=5, timeout_s=0.3, committed_only=False, complete=True)
    with pytest.raises(LabError, match="not read to their end"):
        topics.read_all("t", timeout_s=0.3, committed_only=False)


def test_a_retriable_kafka_error_is_asked_again_and_any_other_is_raised(monkeypatch):
    from confluent_kafka import KafkaError, KafkaException

    # As get_watermark_offsets raises it after a broker restart: not flagged retriable
    # (notebook 06 once stopped on it), and a flagged one; then an answer.
    refusals = [KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION,
                           "Failed to get watermark offsets: Broker: Not leader for partition"),
                KafkaError(KafkaError.REQUEST_TIMED_OUT, retriable=True)]

    class Restarted(_Stalled):
        def get_watermark_offsets(self, partition, timeout):
            if refusals:
                raise KafkaException(refusals.pop(0))
            return 2, 9

    monkeypatch.setattr(topics.clients, "consumer", lambda **_: Restarted())
    assert topics.partition_counts("t", timeout_s=5.0) == {0: 7}  # after two refusals
    assert not refusals

    refusals.append(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    refusals.append(KafkaError(KafkaError.REQUEST_TIMED_OUT, retriable=True))
    with pytest.raises(LabError, match=r"did not answer.*TOPIC_AUTHORIZATION_FAILED"):
        topics.partition_counts("t", timeout_s=5.0)
    assert len(refusals) == 1, "a refusal that does not pass was asked again"


def test_a_missing_topic_is_named_and_the_lookup_has_one_home():
    from pathlib import Path
    from types import SimpleNamespace

    from labkit import clients

    class Client:
        def list_topics(self, topic, timeout):
            error = SimpleNamespace(str=lambda: "Broker: Unknown topic or partition")
            return SimpleNamespace(topics={topic: SimpleNamespace(error=error, partitions={})})

    with pytest.raises(LabError, match="Topic 'nope' cannot be read: Broker: Unknown topic"):
        clients.topic_metadata(Client(), "nope", timeout_s=1.0)
    # One topic's metadata is looked up in one place (every topic's, by topics.list_topics).
    labkit = Path(clients.__file__).parent
    lookups = sorted(f"{path.relative_to(labkit)}" for path in labkit.rglob("*.py")
                     if ".list_topics(topic" in path.read_text())
    assert lookups == ["clients.py"], lookups
