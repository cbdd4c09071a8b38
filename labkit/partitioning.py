"""Which partition a key lands on, as the lab's producers choose it, and what follows.

The lab produces with confluent-kafka, that is librdkafka, whose default
partitioner (`consistent_random`) sends a message with a non-empty key to
partition `crc32(key) % partition_count` and one without a key (or with an
empty one) to a random partition. Java's producer hashes the key with murmur2
instead (`murmur2_partition`): the same key lands on different partitions
depending on which client wrote it, so clients that share a keyed topic must
share a partitioner too.

Because the partition depends on the partition count, adding partitions to a
topic remaps keys (`moved`): Kafka moves no record, so such a key's history
stays behind on its old partition while its new records go to the new one.
And since a key has exactly one partition, one very busy key keeps one
partition busy however many there are, unless it is salted (`salted_key`),
which spreads it over several keys at the cost of its order.

Pure: the standard library only, no Kafka client (tests/unit/test_layering.py checks).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from .errors import LabError

__all__ = ["SALT_SEPARATOR", "moved", "murmur2", "murmur2_partition", "partition_for",
           "salted_key"]

SALT_SEPARATOR = b"#"  # card-0000 salted with 3 is card-0000#3
_INT32 = 0xFFFFFFFF


def _check(key: bytes, partitions: int) -> None:
    if partitions < 1:
        raise LabError(f"A topic has at least one partition, not {partitions}.",
                       "pass the topic's partition count (lk.topics.describe(topic)).")
    if not key:
        raise LabError("A message without a key (or with an empty one) has no partition of "
                       "its own: the default partitioners spread such messages at random.",
                       "give the message a key, e.g. its card_id encoded as bytes.")


def partition_for(key: bytes, partitions: int) -> int:
    """The partition the lab's producers send `key` to, on a topic of `partitions`.

    librdkafka's default partitioner: the CRC-32 of the key (zlib's, as
    librdkafka computes it) modulo the partition count. A LabError for an empty
    key, which that partitioner places at random.
    """
    _check(key, partitions)
    return zlib.crc32(key) % partitions


def murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed 0x9747b28c, as Java's signed int.

    Written out to the 32-bit word, as in the Java source, so its values match
    the Java client's (Kafka's own test vectors pin it).
    """
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & _INT32
    whole = len(data) - len(data) % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little") * m & _INT32
        k = (k ^ k >> r) * m & _INT32
        h = (h * m & _INT32) ^ k
    if tail := data[whole:]:  # the last 1-3 bytes, little-endian like the words above
        h = (h ^ int.from_bytes(tail, "little")) * m & _INT32
    h = (h ^ h >> 13) * m & _INT32
    h ^= h >> 15
    return h - (1 << 32) if h >> 31 else h


def murmur2_partition(key: bytes, partitions: int) -> int:
    """The partition Java's producer (and Kafka Streams) sends `key` to, for comparison.

    `BuiltInPartitioner.partitionForKey`: murmur2 of the key with its sign bit
    cleared (`Utils.toPositive`, which is not `abs`) modulo the partition count.
    """
    _check(key, partitions)
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def moved(keys: Iterable[bytes], before: int, after: int) -> list[bytes]:
    """The keys, in the order given, whose partition changes when a topic goes from
    `before` to `after` partitions.

    Kafka never moves a written record: each of these keys now has its older
    records on one partition and its newer ones on another, so per-key order
    and per-partition state (a consumer's windows, a compacted log's latest
    value) break for exactly these keys. The modulo moves most of them, not
    just the share the new partitions take: a key stays only when
    `crc32 % before == crc32 % after`, which from 2 to 3 partitions holds for
    1 key in 3.
    """
    return [key for key in keys if partition_for(key, before) != partition_for(key, after)]


def salted_key(key: bytes, salt: int) -> bytes:
    """`key` with a salt suffix (`card-0000#3`): a hot key written under several salts
    lands on several partitions, so more than one consumer shares its load.

    The price: its events are no longer in one partition, so they are no longer
    in order, and whatever needs all of them (a per-card window) must combine
    the salted keys again in a second step, keyed by the card itself.
    """
    if salt < 0:
        raise LabError(f"A salt is a number from 0 up, not {salt}.",
                       "salt with e.g. an event counter modulo the number of salts.")
    return key + SALT_SEPARATOR + str(salt).encode()
