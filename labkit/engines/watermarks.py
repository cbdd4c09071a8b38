"""The SQL engine's watermark in plain Python: which rows reach its windows too late.

`labkit.engines.flink_sql` declares `WATERMARK FOR ts AS ts - INTERVAL 'd' SECOND`
and emits it on every event; it routes each row at or behind the watermark
to its late topic instead of its OVER windows. `late_rows` predicts those rows
from the input alone, without Flink, following what Flink 2.x does:

- each partition (a Kafka split) has its own watermark, the largest event time
  read from it so far minus the delay, raised *after* the row that raised it;
- the source's watermark is the minimum over the partitions still being read:
  one that has been assigned but has sent nothing yet holds it back entirely
  (no watermark at all), one read to its end no longer counts, and one with no
  rows never counts;
- a watermark never goes back;
- a row is late when its event time is at or behind the watermark before it
  (`ts <= CURRENT_WATERMARK(ts)`).

With one partition the source reads the rows in offset order, and the
prediction is exact. With more, it interleaves the partitions as Kafka's
fetches return them, which nothing in the input fixes: the caller passes the
interleaving (`reads`), and the moment a finished partition stops counting is
approximate (Flink releases it at the end of the fetch that finished it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = ["late_rows"]


def late_rows(times: Mapping[int, Sequence[int]], *, delay_ms: int,
              reads: Iterable[int] | None = None) -> set[tuple[int, int]]:
    """(partition, index) of every row at or behind the source's watermark when read.

    `times` holds each partition's event times in ms, in offset order (index =
    offset in a fresh topic); `reads` the partition of each row in the order the
    source reads them, needed when more than one partition has rows.
    """
    unread = {partition: len(rows) for partition, rows in times.items() if rows}
    if reads is None:
        if len(unread) > 1:
            raise ValueError("rows in more than one partition: pass the order the source "
                             "reads them in (`reads`), which the input does not fix")
        reads = [partition for partition, count in unread.items() for _ in range(count)]
    newest: dict[int, int] = {}
    watermark: int | None = None
    late = set()
    for partition in reads:
        index = len(times[partition]) - unread[partition]
        time = times[partition][index]
        if watermark is not None and time <= watermark:
            late.add((partition, index))
        newest[partition] = max(time, newest.get(partition, time))
        unread[partition] -= 1
        if not unread[partition]:
            del unread[partition]
        watermark = _advanced(watermark, newest, unread.keys(), delay_ms)
    return late


def _advanced(watermark: int | None, newest: Mapping[int, int], reading: Iterable[int],
              delay_ms: int) -> int | None:
    """The source's watermark after a row: the minimum over the partitions still being
    read, none while one of them has sent nothing, and never lower than before."""
    marks = [newest.get(partition) for partition in reading]
    if not marks or None in marks:
        return watermark
    candidate = min(marks) - delay_ms
    return candidate if watermark is None else max(watermark, candidate)
