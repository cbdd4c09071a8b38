"""Where keys land: librdkafka's crc32 rule, Java's murmur2, keys that move, salted keys."""

import zlib

import pytest

from labkit.errors import LabError
from labkit.generate import HOT_CARD
from labkit.partitioning import (
    moved,
    murmur2,
    murmur2_partition,
    partition_for,
    salted_key,
)

KEYS = [f"card-{i:05d}".encode() for i in range(10_000)]
CRC32_CHECK = 0xCBF43926  # the CRC-32 of b"123456789": the standard's published check value


def test_the_partition_is_the_crc32_of_the_key_modulo_the_count():
    # The zlib CRC-32, which librdkafka's rd_crc32 is: the standard's check value shows it.
    assert zlib.crc32(b"123456789") == CRC32_CHECK
    assert [partition_for(b"123456789", n) for n in (1, 2, 3, 6, 7)] == [
        CRC32_CHECK % n for n in (1, 2, 3, 6, 7)] == [0, 0, 2, 2, 5]
    # card-0000's CRC-32 is 0x63ba757f
    assert [partition_for(HOT_CARD.encode(), n) for n in (2, 3, 4)] == [1, 1, 3]


# Kafka's own test vectors for Utils.murmur2 (clients/.../common/utils/UtilsTest.java).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "expected"), JAVA_MURMUR2.items())
def test_murmur2_matches_kafkas_java_utils(data, expected):
    assert murmur2(data) == expected


def test_the_java_partition_clears_the_sign_bit_rather_than_taking_abs():
    # Utils.toPositive(h) % n is (h & 0x7fffffff) % n; abs(h) % n would differ for these.
    assert [murmur2_partition(data, 7) for data in JAVA_MURMUR2] == [
        (h & 0x7FFFFFFF) % 7 for h in JAVA_MURMUR2.values()]
    assert murmur2_partition(b"foobar", 7) != abs(murmur2(b"foobar")) % 7


def test_the_two_clients_place_the_same_key_differently():
    differ = sum(partition_for(key, 3) != murmur2_partition(key, 3) for key in KEYS[:1000])
    assert differ > 500  # about 2 in 3: the two hashes are unrelated


@pytest.mark.parametrize("key", [b"", None])
def test_a_message_without_a_key_has_no_partition_of_its_own(key):
    with pytest.raises(LabError, match="without a key"):
        partition_for(key, 3)


def test_a_topic_has_at_least_one_partition():
    with pytest.raises(LabError, match="at least one partition"):
        partition_for(b"card-0001", 0)


def test_growing_from_two_to_three_partitions_moves_two_keys_in_three():
    # A key stays when c % 2 == c % 3 (c its CRC-32). Both remainders follow from c % 6
    # (Chinese remainder theorem), and only c % 6 in {0, 1} gives equal ones: (0, 0) and
    # (1, 1); 2, 3, 4, 5 give (0, 2), (1, 0), (0, 1), (1, 2). So 4 residues in 6 move.
    keys_moved = moved(KEYS, 2, 3)
    assert keys_moved == [key for key in KEYS if zlib.crc32(key) % 6 not in (0, 1)]
    assert 0.64 < len(keys_moved) / len(KEYS) < 0.69


def test_doubling_the_partitions_moves_half_the_keys():
    # c % 3 == c % 6 exactly when c % 6 < 3: the other half goes to the new partitions.
    assert 0.47 < len(moved(KEYS, 3, 6)) / len(KEYS) < 0.53


def test_moved_keeps_the_order_given_and_moves_nothing_when_the_count_stays():
    assert moved(KEYS[:100], 3, 3) == []
    keys_moved = moved(KEYS[:100], 2, 3)
    assert keys_moved == sorted(keys_moved)  # as KEYS are


def test_a_salted_hot_key_spreads_over_the_partitions():
    hot = HOT_CARD.encode()
    assert salted_key(hot, 3) == b"card-0000#3"
    assert {partition_for(salted_key(hot, salt), 3) for salt in range(8)} == {0, 1, 2}
    assert {partition_for(hot, 3)} == {1}  # unsalted, every event goes to one partition



def test_a_salt_is_not_negative():
    with pytest.raises(LabError, match="from 0 up"):
        salted_key(b"card-0000", -1)
