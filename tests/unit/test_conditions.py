"""What else ran: CPU time per process between two snapshots (no stack)."""

import os

from labkit import conditions


def test_busiest_ranks_cpu_time_between_snapshots_ended_children_included():
    tick = os.sysconf("SC_CLK_TCK")
    before = {10: ("kafka", 5 * tick), 11: ("redis", tick), conditions.ENDED_CHILDREN: ("ended", 0)}
    after = {10: ("kafka", 7 * tick), 11: ("redis", tick), 12: ("new", tick // 2),
             conditions.ENDED_CHILDREN: ("ended", 3 * tick)}
    assert conditions.busiest(before, after) == [("ended", None, 3.0), ("kafka", 10, 2.0),
                                            ("new", 12, 0.5)]  # redis used nothing: left out
    assert conditions.busiest(before, after, top=1) == [("ended", None, 3.0)]
