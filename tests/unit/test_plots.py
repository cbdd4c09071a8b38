"""The lab's pictures draw what they are given (no stack needed)."""

from __future__ import annotations

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
