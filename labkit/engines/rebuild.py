"""Rebuilding a partition's card windows by replay, before the simple engine processes it.

The windows live in the engine process's memory. A process that gets a partition
(at start, or in a rebalance) replays what its group has already processed of it
through the very same stages (`engines.stages`), emitting nothing, so the windows
are as the last owner had them at the group's committed offset. The replay starts
where the broker's `offsets_for_times` puts `REBUILD_HORIZON_MS` of ingestion time
before the last processed message (notebook 06).
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from .. import clients
from ..features import WINDOW_1H_MS
from .stages import Windows, decode_batch, read_to, update_windows

__all__ = ["REBUILD_HORIZON_MS", "rebuild"]

# The 1-hour window plus an hour of lateness: events older than that (in ingestion time)
# cannot be in a window any more if events are ingested within an hour of happening.
REBUILD_HORIZON_MS = 2 * WINDOW_1H_MS


def rebuild(topic: str, starts: dict[int, int],
             decode: Callable[[bytes], dict]) -> dict[int, Windows]:
    """Each partition's card windows as they were at its start (the committed offset),
    replayed from Kafka: what the process that processed them last had in memory."""
    windows: dict[int, Windows] = {partition: {} for partition in starts}
    replayer = clients.consumer()
    try:
        replay = {}
        for partition, committed in starts.items():
            low, _high = replayer.get_watermark_offsets(TopicPartition(topic, partition),
                                                        timeout=10)
            if committed > low:
                replay[partition] = (_replay_start(replayer, topic, partition, committed, low),
                                     committed)
        if replay:
            replayer.assign([TopicPartition(topic, p, start) for p, (start, _) in replay.items()])
            for batch in read_to(replayer, replay, batch_size=5000, idle_timeout_s=30.0):
                # A batch can run past the committed offset: those are not processed yet.
                done = [msg for msg in batch if msg.offset() < replay[msg.partition()][1]]
                update_windows(decode_batch(done, decode), windows)
    finally:
        replayer.close()
    return windows


def _replay_start(consumer: Consumer, topic: str, partition: int, committed: int,
                  low: int) -> int:
    """The first offset whose ingestion time is within the horizon of the last processed one."""
    last = TopicPartition(topic, partition, committed - 1)
    consumer.assign([last])
    found = consumer.consume(1, timeout=10)
    if not found or found[0].error() is not None:
        return low
    horizon_start = found[0].timestamp()[1] - REBUILD_HORIZON_MS
    located = consumer.offsets_for_times([TopicPartition(topic, partition, horizon_start)],
                                         timeout=10)[0]
    return max(low, located.offset) if located.offset >= 0 else low
