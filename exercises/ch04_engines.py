"""Chapter 04 exercises: an engine's loop by hand, a new feature, and which records differ.

Grade them with `make check CH=04` (or `.venv/bin/labkit check 04`). Notebook 04 shows
everything you need: the loop in section 5, `CardWindow` in section 1, parity in section 4.
"""

from __future__ import annotations

from confluent_kafka import Consumer, Producer

from labkit.features import CardWindow
from labkit.runs import Outputs
from labkit.sinks import RedisFeatureSink


def process_topic(topic: str, outputs: Outputs, *, consumer: Consumer, producer: Producer,
                  sink: RedisFeatureSink) -> int:
    """Run the simple engine's loop by hand over `topic`, from its start to its end offsets.

    `consumer` has a consumer group of its own, auto-commit off and nothing assigned yet;
    `producer` waits for the broker's acknowledgements; `sink` writes Redis under
    `outputs.redis_prefix`. Use these three (the grader watches them); do not close them.

    For each batch of messages (what one `consumer.consume(...)` returns):
    - `lk.processing.check` each message (decoder: `lk.serde.ConfluentDecoder()`), then
      `lk.processing.update` its card's `CardWindow` (keep the windows in a dict by key);
    - produce each feature record to `outputs.features` (key: the message's key; value:
      `lk.serde.make_encoder("confluent", schema="features.v1", topic=outputs.features)`)
      and each dead letter to `outputs.dlq` (its key, its value, `letter.headers()`);
    - write the batch's feature records to Redis with `sink.write_latest(records)`;
    - wait for the broker: `producer.flush(...)` must return 0 (nothing still waiting)
      and no delivery report may carry an error (`on_delivery=` callback); otherwise
      raise, and do not commit;
    - only then commit the batch's offsets, explicitly (`TopicPartition`s: the next
      offset to read) and synchronously (`asynchronous=False`), before you consume the
      next batch.

    Returns how many input messages were processed.

    The grader runs your loop three times: as it is, once with a delivery the broker
    rejects (its report has an error; flush() returns 0), once with one still waiting
    when flush() returns (it returns 1; the error report comes later). In those two runs,
    raising is right; committing the failed output's batch is not.

    Hint: assign every partition from its low watermark and stop when each reaches the
    high watermark you saw at the start (`consumer.get_watermark_offsets`).
    """
    raise NotImplementedError("consume → check → update → produce → Redis → flush → commit")


def txn_count_10m(window: CardWindow) -> int:
    """A new feature: how many of the card's events lie in (T - 10 min, T].

    `window` has just been updated with an event (`window.update(txn)` returned a
    record); T is `window.clock_ms`. `window.times` holds the timestamps (ms) of the
    events in (T - 1 h, T], sorted. The bound at T - 10 min is excluded, like the
    contract's 5-minute window excludes T - 5 min.

    Hint: `bisect.bisect_right` on `window.times`.
    """
    raise NotImplementedError("count window.times in (clock_ms - 10 min, clock_ms]")


def differing_records(left: list[dict], right: list[dict]) -> dict[str, list[str]]:
    """Which records differ between two runs' feature logs, feature by feature.

    Records are matched by `txn_id` (the logs may list them in different orders). For
    every feature where at least one matched pair differs, return the sorted txn_ids of
    those records. Floats are equal when `lk.parity.same` says so (a relative 1e-9);
    other values must be equal exactly. A feature absent from one record compares as
    None (the first record of a card has "seconds_since_prev": None; absent is the same).
    txn_ids found in only one of the logs, either one, go under the key "missing",
    sorted. Features with no difference are not listed; identical logs give {}.

    Example: {"amount_std_1h": ["0b1c...", "9f2e..."], "missing": ["77aa..."]}

    Hint: a dict from txn_id to record for each log; then compare field by field.
    """
    raise NotImplementedError("line the logs up by txn_id and compare each feature")
