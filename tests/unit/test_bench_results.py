"""Benchmark results: what `labkit bench run --json` prints and `make bench` saves (no stack)."""

import csv
import json
import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest

from labkit import bench, engines
from labkit.bench import measure
from labkit.engines.floors import FLOORS
from labkit.errors import LabError
from labkit.instruments import Latencies
from labkit.runs import Outputs, RunReport


def test_throughput_uses_the_loop_time_when_the_engine_reports_it():
    assert bench.Result("simple", 10_000, wall_s=4.0, loop_s=2.0).events_per_s == 5_000
    assert bench.Result("flink", 10_000, wall_s=4.0).events_per_s == 2_500


def test_json_has_the_figures_and_no_raw_latencies():
    result = bench.Result("simple", 100, wall_s=1.0, latencies=Latencies([1.0], [2.0]))
    data = result.to_dict()
    assert data["events_per_s"] == 100
    assert "latencies" not in data
    json.dumps(data)  # serialisable as it is


def test_save_writes_json_and_csv(tmp_path):
    results = [bench.Result("ceiling", 10, wall_s=0.5, loop_s=0.25),
               bench.Result("flink", 10, wall_s=2.0, parallelism=2)]
    folder = bench.save(results, tmp_path / "run")
    assert [row["engine"] for row in json.loads((folder / "results.json").read_text())] == \
        ["ceiling", "flink"]
    rows = list(csv.DictReader((folder / "results.csv").open()))
    assert [(row["engine"], row["parallelism"], row["events_per_s"]) for row in rows] == \
        [("ceiling", "1", "40"), ("flink", "2", "5")]


def test_an_unknown_engine_is_refused_before_anything_runs():
    with pytest.raises(LabError, match="Unknown engine 'spark'"):
        bench.run("spark", events=10)


def _saved_suite(folder, *, with_conditions=True):
    results = [bench.Result("ceiling", 10_000, wall_s=0.5, loop_s=0.125),
               bench.Result("passthrough", 10_000, wall_s=0.8, loop_s=0.4, steady_per_s=40_000),
               bench.Result("simple", 10_000, wall_s=1.0, loop_s=0.5, steady_per_s=30_000,
                            startup_s=0.25),
               bench.Result("simple", 10_000, wall_s=1.0, loop_s=0.4, processes=2),
               bench.Result("flink", 10_000, wall_s=20.0, steady_per_s=4_000, startup_s=12.0),
               bench.Result("flink", 10_000, wall_s=10.0, parallelism=2),
               bench.Result("flink", 10_000, wall_s=5.0, cluster=True, steady_per_s=8_000),
               bench.Result("ceiling", 1_000_000, wall_s=20.0, loop_s=12.5),
               bench.Result("simple", 30_000, wall_s=7.0, loop_s=6.0, rate=5_000.0,
                            latency_ms={"processing": {"p50": 2.5, "p99": 40.0}}, pinned=True,
                            breakdown_ms={"tail": {"waiting": 3.5, "redis": 30.25}},
                            alongside={"kafka": 3.25, "redis": 0.5})]
    conditions = {"before": {"utc": "2026-11-30 03:00:00", "cores": 2, "cpu": "AMD EPYC",
                             "memory_gib": 23.5, "load": {"1min": 0.5},
                             "services": {"kafka": {"version": "4.1.1",
                                                    "resident_mib": 400, "peak_mib": 410}},
                             "versions": {"python": "3.11.7"}, "redis_keys": 7,
                             "redis_aof_mb": 1.5},
                  "after": {"load": {"1min": 1.25},
                            "services": {"kafka": {"resident_mib": 600, "peak_mib": 1_100}}}}
    return bench.save(results, folder, measured_under=conditions if with_conditions else None)


def test_the_report_is_the_saved_suite_as_a_markdown_table(tmp_path):
    text = bench.report(_saved_suite(tmp_path / "20261130T030000Z"))
    lines = text.splitlines()
    assert "| engine (`labkit bench run --engine …`) | 10K | 1M events |" in lines
    assert "| `ceiling`: consume + Avro decode only | 80K/s | 80K/s |" in lines
    # Engines: the whole run (events over wall time), then the steady state where measured.
    assert "| `simple`: the whole pipeline, one process | 10K/s · 30K/s | - |" in lines
    assert "| `simple`, two processes (`--processes 2`) | 10K/s | - |" in lines
    assert "| `flink`: PyFlink DataStream, parallelism 1 | 0.5K/s · 4.0K/s | - |" in lines
    assert "| `flink`, parallelism 2 | 1.0K/s | - |" in lines
    assert ("| `flink` on the standalone cluster (`--flink-cluster`), parallelism 1 | "
            "2.0K/s · 8.0K/s | - |") in lines
    assert not any("flink-sql" in line for line in lines)  # not measured: no row
    assert "steady states: 10K 75%." in text  # simple's 30K/s of passthrough's 40K/s
    assert "`simple` 0.2 s" in text and "`flink` 12.0 s" in text  # start-up
    header = lines[0]
    assert "run saved as `20261130T030000Z`" in header and "2026-11-30 03:00:00 UTC" in header
    assert "before, 1.25 after" in header and "Kafka 4.1.1" in header
    assert "Resident memory: kafka 400 MiB at the start, 1,100 at its peak." in header
    assert "at a steady 5,000 events/s for 6 s (warm-up left out" in text and "p99 40.0 ms" in text
    assert "pinned to separate cores" in text
    assert "The slowest 1 % spent, on average: waiting 3.5 ms, redis 30.2 ms." in text
    assert "CPU time meanwhile: kafka 3.2 s, redis 0.5 s." in text


def test_a_report_without_conditions_says_so(tmp_path):
    assert "not recorded" in bench.report(_saved_suite(tmp_path / "run", with_conditions=False))


def test_no_saved_suite_is_a_lab_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(tmp_path))  # a lab home that never ran `make bench`
    with pytest.raises(LabError, match="No saved benchmark run"):
        bench.report()


def test_end_to_end_latency_matches_inputs_to_their_first_feature_record_by_txn_id():
    sent = [("b", 1_010), ("a", 1_000), ("c", 1_020)]  # ("c" has no feature record yet)
    appended = [("a", 1_250), ("b", 1_040), ("a", 1_900)]  # "a" written twice (a replay)
    assert bench.end_to_end_ms(sent, appended) == [250.0, 30.0]
    assert bench.end_to_end_ms([], appended) == []
    assert bench.end_to_end_ms(sent, appended, sent_after_ms=1_005) == [30.0]  # warm-up left out



def test_a_folder_without_a_saved_run_is_a_lab_error(tmp_path):
    with pytest.raises(LabError, match="holds no saved benchmark run"):
        bench.report(tmp_path)


@pytest.fixture
def no_stack(monkeypatch):
    """`bench.run` with every broker call answered here; the feature logs it paces."""
    paced: list[tuple[str, int]] = []
    monkeypatch.setattr(measure, "_consumed", lambda _topic, _partitions: 10)
    monkeypatch.setattr(measure.topics, "describe", lambda _topic: {"partitions": 2})
    monkeypatch.setattr(measure.topics, "run_id", lambda: "run0")
    monkeypatch.setattr(measure.topics, "count", lambda _topic: 7)
    monkeypatch.setattr(measure, "output_pace", lambda log, _started_at, records: (
        paced.append((log, records)) or (0.5, 100.0)))
    return paced


def test_a_floor_is_measured_like_an_engine_and_paced_only_if_it_wrote(no_stack, monkeypatch):
    monkeypatch.setitem(FLOORS, "ceiling", replace(FLOORS["ceiling"], measure=lambda *_: None))
    monkeypatch.setitem(FLOORS, "passthrough", replace(
        FLOORS["passthrough"], measure=lambda topic, options: Outputs(topic, options.tag)))
    ceiling = bench.run("ceiling", topic="t")
    passthrough = bench.run("passthrough", topic="t")
    assert (ceiling.tag, ceiling.startup_s, ceiling.events) == ("", None, 10)  # wrote nothing
    assert (passthrough.tag, passthrough.startup_s) == (".passthrough-p1-run0", 0.5)
    assert no_stack == [("t.features.passthrough-p1-run0", 7)]
    assert ceiling.guarantee == passthrough.guarantee == ""


def test_an_engine_is_paced_from_where_its_report_says_it_wrote(no_stack, monkeypatch):
    def run(topic, options):  # the SQL engine's run, reconciled
        return RunReport("flink-sql", 10, 9, {}, dropped=1,
                         outputs=engines.get("flink-sql").outputs(topic, options.tag))

    monkeypatch.setitem(sys.modules, "labkit.engines.fake", SimpleNamespace(run=run))
    monkeypatch.setitem(engines.ENGINES, "flink-sql",
                        replace(engines.ENGINES["flink-sql"], module="fake"))
    result = bench.run("flink-sql", topic="t", parallelism=2)
    assert (result.engine, result.parallelism, result.tag) == ("flink-sql", 2,
                                                              ".flink-sql-p2-run0")
    assert no_stack == [("t.features-sql.flink-sql-p2-run0", 9)]


def test_pinning_a_flink_engine_or_tagging_the_ceiling_is_refused(no_stack):
    with pytest.raises(LabError, match="runs in Flink's JVM"):
        bench.run("flink", topic="t", pin=True)
    with pytest.raises(LabError, match=r"`tag`.*does not apply to the ceiling floor"):
        bench.run("ceiling", topic="t", tag=".mine")
