"""The lab's pictures draw what they are given (no stack needed)."""

from __future__ import annotations

import pandas as pd

from labkit import plots


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
