"""Benchmark results: what `labkit bench --json` prints and `make bench` saves (no stack)."""

import csv
import json

import pytest

from labkit import bench
from labkit.errors import LabError
from labkit.instruments import Latencies


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


def test_end_to_end_latency_matches_inputs_to_their_first_feature_record_by_txn_id():
    sent = [("b", 1_010), ("a", 1_000), ("c", 1_020)]  # ("c" has no feature record yet)
    appended = [("a", 1_250), ("b", 1_040), ("a", 1_900)]  # "a" written twice (a replay)
    assert bench.end_to_end_ms(sent, appended) == [250.0, 30.0]
    assert bench.end_to_end_ms([], appended) == []
