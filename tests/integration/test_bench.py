"""`labkit bench` on the live stack: the shape of what it reports, never how fast it was."""

import json
import subprocess
import sys

import pytest

import labkit as lk
from labkit import bench

pytestmark = pytest.mark.integration


def _bench(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "labkit", "bench", *args, "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def workload() -> str:
    return bench.workload(4_000, partitions=2)


def test_ceiling_and_simple_report_every_message_and_their_stages(workload):
    ceiling = _bench("run", "--engine", "ceiling", "--topic", workload)
    simple = _bench("run", "--engine", "simple", "--topic", workload)
    assert (ceiling["events"], simple["events"]) == (4_000, 4_000)
    assert set(ceiling["stages_s"]) == {"consume", "decode"}
    assert set(simple["stages_s"]) == {"consume", "decode", "features", "produce", "redis",
                                       "acks", "commit"}
    for result in (ceiling, simple):
        assert result["loop_s"] <= result["wall_s"]
        assert result["events_per_s"] == round(result["events"] / result["loop_s"])


def test_two_processes_share_the_partitions_and_every_message(workload):
    result = bench.scale_out(workload, processes=2)
    assert (result.events, result.processes, result.partitions) == (4_000, 2, 2)
    report = lk.runs.reconcile("simple", lk.runs.Outputs(workload, result.tag))
    assert report.balanced and report.input_messages == 4_000


def test_a_latency_run_measures_each_message_from_its_send_and_from_its_receipt():
    result = _bench("latency", "--rate", "1000", "--events", "3000")
    assert result["rate"] == 1000 and result["events"] == 3_000
    processing, end_to_end = (result["latency_ms"][kind] for kind in ("processing", "end_to_end"))
    assert set(processing) == set(end_to_end) == {"p50", "p95", "p99"}
    for point in processing:
        # A message was sent before the engine received it, so its end-to-end time holds its
        # processing time, message by message and so at each percentile: timing from another
        # moment (the broker's append time, not the send) or clock (time.monotonic against
        # time.time) breaks this.
        assert 0 < processing[point] <= end_to_end[point], point
        # And no message took longer than the whole run: a unit slip (seconds taken for ms)
        # or a mixed clock breaks this.
        assert end_to_end[point] <= result["wall_s"] * 1000, point

