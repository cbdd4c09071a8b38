"""Counting deliveries and lag: the arithmetic behind notebook 07's words (no stack)."""

from labkit.groups import PartitionLag
from labkit.runs import Delivery


def test_a_delivery_splits_inputs_by_how_often_they_were_answered():
    # 100 inputs: 80 answered once, 15 twice and 1 three times, 4 never.
    delivery = Delivery(inputs=100, once=80, more=16, answers=80 + 15 * 2 + 3)
    assert delivery.lost == 4
    assert delivery.repeated == 15 + 2
    assert delivery.shares() == {"once": 80, "more than once": 16, "never (lost)": 4}
    assert sum(delivery.shares().values()) == delivery.inputs
    assert str(delivery) == "100 inputs: 80 answered once, 16 more than once (17 repeats), 4 lost"


def test_lag_counts_from_the_committed_offset_or_from_the_first_one():
    assert PartitionLag("t", 0, committed=20, first=0, end=50).lag == 30
    assert PartitionLag("t", 1, committed=80, first=0, end=80).lag == 0
    # Nothing committed: everything from the partition's first offset (older ones deleted).
    assert PartitionLag("t", 2, committed=None, first=10, end=30).lag == 20
    assert PartitionLag("t", 3, committed=0, first=0, end=5).lag == 5
