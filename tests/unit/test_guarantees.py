"""The three delivery guarantees put the crash point between a batch's two steps, in their
own order (no stack: the consumer and producers are recorders)."""

import pytest
from confluent_kafka import TopicPartition

from labkit.engines import guarantees


class Recorder:
    """Stands in for the consumer, the producer and `Deliveries`: it writes down each call."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def commit(self, *, offsets, asynchronous):
        self.calls.append(f"commit offsets ({'async' if asynchronous else 'sync'})")

    def consumer_group_metadata(self):
        return "group metadata"

    # Deliveries
    def send(self, topic, key, value, headers=None):
        self.calls.append(f"send to {topic}")

    def confirm(self, **_kwargs):
        self.calls.append("wait for acks")

    # a transactional Producer
    def init_transactions(self, _timeout):
        self.calls.append("init_transactions")

    def begin_transaction(self):
        self.calls.append("begin_transaction")

    def produce(self, topic, **_kwargs):
        self.calls.append(f"send to {topic}")

    def flush(self, _timeout):
        self.calls.append("wait for acks")
        return 0

    def send_offsets_to_transaction(self, offsets, metadata, _timeout):
        self.calls.append(f"offsets into the transaction with {metadata}")

    def commit_transaction(self, _timeout):
        self.calls.append("commit_transaction")

    def abort_transaction(self, _timeout):
        self.calls.append("abort_transaction")


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    recorded: list[str] = []
    monkeypatch.setattr(guarantees, "Deliveries", lambda: Recorder(recorded))
    monkeypatch.setattr(guarantees.clients, "producer", lambda **_config: Recorder(recorded))
    return recorded


def run_batch(name: str, calls: list[str]) -> guarantees.Guarantee:
    """The guarantee `name`, after one batch; `calls` then holds the batch's calls alone."""
    crash = lambda messages, guarantee: calls.append("CRASH POINT")  # noqa: E731
    guarantee = guarantees.make(name, Recorder(calls), crash=crash, transactional_id="t-0")
    offsets = [TopicPartition("in", 0, 10)]
    calls.clear()
    guarantee.begin(offsets, 10)
    guarantee.send("out", b"k", b"v")
    guarantee.confirm()
    guarantee.commit(offsets, 10)
    return guarantee


def one_batch(name: str, calls: list[str]) -> list[str]:
    run_batch(name, calls)
    return calls


def test_at_most_once_commits_before_it_writes(calls):
    assert one_batch("at-most-once", calls) == [
        "commit offsets (sync)", "CRASH POINT", "send to out", "wait for acks"]


def test_at_least_once_writes_before_it_commits(calls):
    assert one_batch("at-least-once", calls) == [
        "send to out", "wait for acks", "CRASH POINT", "commit offsets (async)"]


def test_exactly_once_commits_writes_and_offsets_in_one_transaction(calls):
    assert one_batch("exactly-once", calls) == [
        "begin_transaction", "send to out", "wait for acks", "CRASH POINT",
        "offsets into the transaction with group metadata", "commit_transaction"]


def test_exactly_once_aborts_and_starts_by_fencing_its_predecessor(calls):
    guarantee = guarantees.make("exactly-once", Recorder(calls), crash=lambda *_: None,
                                transactional_id="t-0")
    assert calls == ["init_transactions"]  # aborts whatever a predecessor left open
    guarantee.abort()
    assert calls[-1] == "abort_transaction"


@pytest.mark.parametrize("name", ["at-most-once", "at-least-once", "exactly-once"])
def test_a_guarantee_is_transactional_exactly_when_its_batches_are_transactions(name, calls):
    """`transactional` decides how the engine counts the run's feature log (runs.reconcile):
    a guarantee that wrote its batches in transactions but said it did not would have its
    log counted by offsets, aborted records and commit markers included."""
    guarantee = run_batch(name, calls)
    assert guarantee.transactional == ("commit_transaction" in calls), calls


def test_an_unknown_guarantee_is_a_lab_error():
    with pytest.raises(guarantees.LabError, match="exactly-once"):
        guarantees.make("twice", Recorder([]), crash=lambda *_: None, transactional_id="t")


def test_the_crash_point_counts_batches(monkeypatch):
    killed = []
    monkeypatch.setattr(guarantees.os, "kill", lambda pid, sig: killed.append(sig))
    crash = guarantees.CrashPoint(3)
    for _ in range(5):
        crash(100, "at-least-once")
    assert killed == [guarantees.signal.SIGKILL]
    never = guarantees.CrashPoint(None)
    for _ in range(5):
        never(100, "at-least-once")
    assert killed == [guarantees.signal.SIGKILL]
