"""Chapter 07 exercises: delivery guarantees and consumer groups
(notebooks/07_delivery_guarantees.ipynb).

Write each function, then grade them against the live stack: `make check CH=07`.
Every read must be bounded: stop at the end offsets you saw when you started.
"""

from __future__ import annotations


def lost_and_repeated(input_topic: str, output_topic: str) -> tuple[int, int]:
    """How a run delivered: how many inputs it lost, and how many outputs it repeated.

    Input: an input topic whose every message's value is a transaction id (UTF-8 text,
    unique per message), and the output topic of a run that wrote, for each input it
    processed, one record whose value is that input's transaction id.
    Output: (lost, repeated): the inputs with no output record, and the output records
    beyond the first for each transaction id (an id written three times repeats twice)
    — both as a `read_committed` consumer sees the output (the run used transactions,
    and some of them were aborted).

    Mind the end of a partition: a transaction's commit or abort marker takes an offset
    and is never delivered, so the last message of a partition may sit below its end
    offset. A partition is read to its end when the consumer's *position* reaches it.

    Hint: `lk.clients.consumer(**{"isolation.level": "read_committed"})`, `assign` every
    partition from its low watermark, and after a poll that returns nothing check
    `consumer.position([...])` against the high watermarks you read at the start.
    """
    raise NotImplementedError("count lost inputs and repeated outputs, read_committed")


def partition_lag(group: str, topic: str) -> dict[int, int]:
    """A consumer group's lag on `topic`, per partition: what `labkit lag` prints.

    Input: a group and a topic. Output: {partition: lag} for every partition of the
    topic, where lag is the end offset (high watermark) minus the group's committed
    offset, or minus the partition's first offset where the group committed nothing.

    Hint: `admin = lk.clients.admin()`, then `admin.list_consumer_group_offsets([...])`
    with a `ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p), ...])`: keep
    that reference until the result is in (inline, `lk.clients.admin().list_...(...)`,
    the client is collected and its request dies with it). Or a consumer of that group
    and `consumer.committed([...])` (committing nothing). The watermarks come from
    `get_watermark_offsets`. A partition without a commit has offset -1001.
    """
    raise NotImplementedError("committed offsets and end offsets, per partition")


def copy_exactly_once(input_topic: str, output_topic: str, group: str,
                      transactional_id: str) -> int:
    """Copy every message of `input_topic` not yet copied to `output_topic`, exactly once.

    Input: an input topic, an output topic (same partition count), the consumer group
    whose committed offsets say what was copied already, and the transactional.id of
    your producer. Output: how many messages this call copied (0 when called again).
    Each copy keeps the key and the value. The output records and the group's new
    offsets must be committed together, in transactions: a read_committed reader of the
    output then sees every input exactly once, however often the function is called or
    wherever it is stopped. Stop at the end offsets seen at the start.

    The grader stops your process twice, as a crash would: just after a
    `commit_transaction()` returned, and in place of one (the transaction left open).
    Each time the next call must copy nothing twice and lose nothing, so the offsets go
    through the transaction (`send_offsets_to_transaction`), never `consumer.commit()`.
    Make the producer with `lk.clients.producer(...)`: the crash comes through it.

    Hint: `lk.clients.producer(**{"transactional.id": ...})`, `init_transactions()`;
    per batch `begin_transaction()`, `produce(...)`, then
    `send_offsets_to_transaction(offsets, consumer.consumer_group_metadata())` and
    `commit_transaction()`. The consumer of `group` starts at its committed offsets
    (`consumer.committed`), else at the low watermark. Notebook 07, section 1 ("One
    transaction per batch, by hand").
    """
    raise NotImplementedError("consume, produce and commit the offsets in one transaction")
