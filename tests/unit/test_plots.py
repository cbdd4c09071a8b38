"""The lab's pictures draw what they are given (no stack needed)."""

from __future__ import annotations

import pandas as pd

from labkit import plots
from labkit.event_time import EventTimeRun, Fired, Options, Seen


def test_differing_features_draws_one_labelled_bar_per_feature_zeros_included():
    counts = {"amount_std_1h": 1_885, "seconds_since_prev": 44, "txn_count_5m": 0}
    fig = plots.differing_features(counts, total=1_925)
    (ax,) = fig.axes
    bars = {tick.get_text(): patch.get_width()
            for tick, patch in zip(ax.get_yticklabels(), ax.patches, strict=True)}
    assert bars == counts
    labels = [text.get_text().strip() for text in ax.texts]
    assert sorted(labels) == sorted(["1,885", "44", "0"])
    assert "of 1,925" in ax.get_xlabel()


def test_throughput_draws_one_bar_per_configuration_at_the_median_of_its_runs():
    runs = pd.DataFrame({"label": ["simple", "simple", "simple", "flink p1"],
                         "engine": ["simple", "simple", "simple", "flink"],
                         "events_per_s": [9_000.0, 12_000.0, 30_000.0, 1_000.0]})
    fig = plots.throughput(runs, {"simple": 10_000})
    bars = fig.axes[0].containers[0]
    assert [bar.get_width() for bar in bars] == [12_000.0, 1_000.0]


def test_where_inputs_went_stacks_each_engines_outcomes():
    fig = plots.where_inputs_went({"flink-sql": {"feature records": 1_800, "dropped": 200},
                                   "simple": {"feature records": 2_000}}, total=2_000)
    (ax,) = fig.axes
    widths = [[bar.get_width() for bar in container] for container in ax.containers]
    assert widths == [[2_000, 1_800], [0, 200]]  # rows bottom-up: simple, then flink-sql
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["feature records",
                                                                         "dropped"]


def test_event_time_draws_every_event_by_its_fate_the_watermark_and_each_firing():
    options = Options(window_ms=60_000, delay_ms=5_000, allowed_lateness_ms=10_000)
    start = 1_767_225_600_000
    trace = [Seen("a", start + 1_000, 100, None),
             Seen("b", start + 70_000, 300, start + 64_999),
             Seen("c", start + 2_000, 400, start + 64_999),
             Seen("d", start + 3_000, 900, start + 80_000)]
    windows = [Fired(start, start + 60_000, 1, start + 64_999, 350),
               Fired(start, start + 60_000, 2, start + 64_999, 450)]
    fig = plots.event_time(EventTimeRun(options, trace, windows, []))
    (ax,) = fig.axes
    points = {dots.get_label(): len(dots.get_offsets()) for dots in ax.collections}
    assert points == {"event, on time (2)": 2, "event, late, kept (1)": 1, "event, dropped (1)": 1}
    watermark = next(line for line in ax.lines if line.get_label() == "watermark each event met")
    assert list(watermark.get_xdata()) == [0.2, 0.3, 0.8]
    assert list(watermark.get_ydata()) == [64_999 / 60_000] * 2 + [80_000 / 60_000]
    assert sorted(text.get_text() for text in ax.texts) == ["1", "2"]


def test_event_time_says_so_when_no_watermark_ever_came():
    trace = [Seen("a", 1_000, 100, None), Seen("b", 2_000, 200, None)]
    fig = plots.event_time(EventTimeRun(Options(window_ms=60_000, delay_ms=5_000), trace, [], []))
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert "no event met a watermark" in labels


def test_scaling_draws_the_steady_state_beside_the_whole_run_where_measured():
    rates = pd.DataFrame({"engine": ["simple", "simple", "flink", "flink"],
                          "workers": [1, 2, 1, 2],
                          "events_per_s": [10_000.0, 18_000.0, 2_000.0, 2_500.0],
                          "steady_per_s": [None, None, 4_000.0, 4_500.0]})
    (ax,) = plots.scaling(rates, x="workers", title="t").axes
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert lines == {"simple, whole run": [10_000.0, 18_000.0],
                     "flink, whole run": [2_000.0, 2_500.0],
                     "flink, steady state": [4_000.0, 4_500.0]}


def test_latency_breakdown_stacks_each_runs_stages_in_the_same_order():
    fig = plots.latency_breakdown({"run 1": {"waiting": 3.0, "redis": 10.0},
                                   "run 2": {"waiting": 1.0, "decode": 0.5, "redis": 2.0}})
    (ax,) = fig.axes
    widths = [bar.get_width() for bar in ax.patches]
    # stages in first-seen order (waiting, redis, decode); run 1 has no decode bar width
    assert widths == [3.0, 10.0, 0.0, 1.0, 2.0, 0.5]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == \
        ["waiting", "redis", "decode"]


def test_stored_bytes_draws_each_encodings_bytes_per_field_and_marks_the_lossy_ones():
    # The second encoding's rows in another order: bars still line up by feature.
    stored = pd.DataFrame({"feature": ["flag", "count", "count", "flag"],
                           "encoding": ["str()", "str()", "JSON", "JSON"],
                           "stored_bytes": [5, 2, 3, 4],
                           "lossless": [False, True, True, True]})
    (ax,) = plots.stored_bytes(stored).axes
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["flag", "count"]
    bars = [[(bar.get_height(), bar.get_hatch() or "") for bar in container]
            for container in ax.containers]
    assert bars == [[(5, "//"), (2, "")], [(4, ""), (3, "")]]  # per encoding: flag, count
    assert sorted(text.get_text() for text in ax.texts if text.get_text()) == ["✗"]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        "str(): 7 bytes, 1 lossy", "JSON: 7 bytes, 0 lossy"]


def test_replica_logs_titles_each_setting_with_what_it_lost():
    from labkit.replication import LeaderKill

    hasty = LeaderKill("1", "t", 4000, 2000, 4000, 4000, 2000, 2000, 1, 2)
    durable = LeaderKill("all", "t", 4000, 2000, 2000, 4000, 4000, 0, 1, 2)
    fig = plots.replica_logs([hasty, durable])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["acks=1: 2,000 acknowledged writes lost",
                      "acks=all: 0 acknowledged writes lost"]
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == [4000, 2000, 4000, 2000]


def test_failovers_puts_each_timing_on_its_faults_row():
    stalls = pd.DataFrame([{"fault": "kill_broker", "elected_s": 4.1, "stalled_s": 5.9},
                           {"fault": "stop_broker", "elected_s": 1.8, "stalled_s": 2.0}])
    fig = plots.failovers(stalls)
    elected, stalled = (collection.get_offsets() for collection in fig.axes[0].collections)
    assert [tuple(map(round, point, (1, 2))) for point in elected] == [(4.1, -0.12),
                                                                       (1.8, 0.88)]
    assert [round(x, 1) for x, _ in stalled] == [5.9, 2.0]
