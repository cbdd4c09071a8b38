"""The feature state against a straightforward recomputation from the raw window."""

import math
import pickle
import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import generate
from labkit.features import FEATURE_NAMES, HIGH_RISK_MCCS, WINDOW_1H_MS, WINDOW_5M_MS, CardWindow

HIGH_RISK = set(HIGH_RISK_MCCS)


def recompute(history: list[dict], txn: dict, clock_before: int | None) -> dict | None:
    """Features for `txn` from scratch: filter every accepted event by the window bounds."""
    if clock_before is not None and txn["timestamp"] <= clock_before - WINDOW_1H_MS:
        return None
    history.append(txn)
    t = txn["timestamp"] if clock_before is None else max(clock_before, txn["timestamp"])
    hour = [e for e in history if t - WINDOW_1H_MS < e["timestamp"] <= t]
    five = [e for e in history if t - WINDOW_5M_MS < e["timestamp"] <= t]
    amounts = [e["amount"] for e in hour]
    mean, std = statistics.fmean(amounts), statistics.pstdev(amounts)
    others = [e["geo_country"] for e in hour if e is not txn]
    return {
        "card_id": txn["card_id"], "txn_id": txn["txn_id"], "event_ts": txn["timestamp"],
        "feature_ts": t, "txn_count_5m": len(five), "txn_count_1h": len(hour),
        "amount_sum_5m": math.fsum(e["amount"] for e in five),
        "amount_sum_1h": math.fsum(amounts),
        "amount_avg_5m": math.fsum(e["amount"] for e in five) / len(five),
        "amount_max_5m": max(e["amount"] for e in five),
        "amount_std_1h": std,
        "amount_zscore": (txn["amount"] - mean) / std if std > 0 else 0.0,
        "unique_countries_1h": len({e["geo_country"] for e in hour} - {None}),
        "high_risk_mcc_ratio_1h": sum(e["mcc"] in HIGH_RISK for e in hour) / len(hour),
        "seconds_since_prev": None if clock_before is None else
        (txn["timestamp"] - clock_before) / 1000,
        "is_high_velocity": len(five) >= 5,
        "is_new_country": txn["geo_country"] is not None and txn["geo_country"] not in others,
        "last_geo_country": txn["geo_country"],
        "is_fraud": txn["is_fraud"],
    }


def same(got, want) -> bool:
    if isinstance(want, float) and not isinstance(want, bool):
        # Relative 1e-9 as the contract says; the tiny absolute part only matters
        # for z-scores whose exact value is 0 and whose float recomputation is 1e-15.
        return isinstance(got, float) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    return type(got) is type(want) and got == want


events = st.lists(st.fixed_dictionaries({
    # Steps from -70 min to +20 min: out-of-order, late and far-future arrivals all occur.
    "step_ms": st.integers(-70 * 60_000, 20 * 60_000),
    "amount": st.one_of(st.integers(1, 300_000).map(lambda c: c / 100),
                        st.sampled_from([10.0, 10.0, 0.01, 2500.0])),
    "geo_country": st.sampled_from([None, "US", "GB", "NG"]),
    "mcc": st.sampled_from(["5411", "6011", "7995", "5812"]),
    "is_fraud": st.booleans(),
}), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(events)
def test_incremental_state_matches_recomputation(steps):
    window, history, clock, at = CardWindow("card-0001"), [], None, 1_767_225_600_000
    for i, step in enumerate(steps):
        at += step["step_ms"]
        txn = {"txn_id": f"t{i}", "card_id": "card-0001", "timestamp": at, **step}
        want = recompute(history, txn, clock)
        got = window.update(txn)
        if want is None:
            assert got is None
            continue
        clock = want["feature_ts"]
        assert list(got) == list(FEATURE_NAMES)
        for name in FEATURE_NAMES:
            assert same(got[name], want[name]), (name, got[name], want[name])


def test_generated_traffic_matches_recomputation_card_by_card():
    windows, histories, clocks = {}, {}, {}
    late = 0
    for txn in generate.transactions(3000, late_share=0.1, jitter_ms=2 * WINDOW_1H_MS):
        card = txn["card_id"]
        want = recompute(histories.setdefault(card, []), txn, clocks.get(card))
        got = windows.setdefault(card, CardWindow(card)).update(txn)
        if want is None:
            late += 1
            assert got is None
            continue
        clocks[card] = want["feature_ts"]
        assert all(same(got[n], want[n]) for n in FEATURE_NAMES), txn
    assert late > 0  # the jitter really produced events too late for every window


def test_the_window_forgets_what_is_older_than_an_hour():
    window = CardWindow("c")
    base = {"txn_id": "t", "card_id": "c", "amount": 1.0, "geo_country": "US", "mcc": "5411",
            "is_fraud": False}
    for minute in range(0, 180, 10):
        window.update({**base, "timestamp": minute * 60_000})
    assert len(window.events) == 6  # (T-1h, T] holds minutes 120..170
    assert window.count_1h == 6
    assert window.countries_1h == {"US": 6}


def test_feature_names_are_spelled_once_the_schema_and_the_record_agree():
    """One source of truth: FEATURE_NAMES is the order of features.v1.avsc and of every
    record CardWindow makes; the SQL variant's columns come from the same list."""
    from labkit import parity, schemas
    from labkit.engines import flink_sql

    assert tuple(f["name"] for f in schemas.load("features.v1")["fields"]) == FEATURE_NAMES
    txn = {"txn_id": "t1", "card_id": "card-0001", "amount": 12.5, "mcc": "5411",
           "geo_country": "GB", "timestamp": 1_000_000, "is_fraud": False}
    assert tuple(CardWindow("card-0001").update(txn)) == FEATURE_NAMES
    assert tuple(name for name, _ in flink_sql.SQL_COLUMNS) == tuple(
        name for name in FEATURE_NAMES if name != "feature_ts")
    assert set(parity.SQL_COMPARED) == set(FEATURE_NAMES) - {"card_id", "txn_id", "event_ts",
                                                            "feature_ts"}


def test_the_sql_windows_are_derived_from_the_contract_widths():
    """Half-open windows one millisecond short of the width, as the contract's (T-w, T]."""
    from labkit.engines import flink_sql

    assert "INTERVAL '4:59.999' MINUTE TO SECOND(3)" in flink_sql._5M
    assert "INTERVAL '59:59.999' MINUTE TO SECOND(3)" in flink_sql._1H


def test_a_pickled_window_comes_back_equal_and_goes_on_the_same():
    """The Flink engine keeps each card's window in keyed state, pickled, and restores it
    after a crash: the restored window must be the same and compute the same features."""
    txns = list(generate.transactions(400, n_cards=3, late_share=0.1, jitter_ms=WINDOW_1H_MS))
    kept, restored = {}, {}
    for txn in txns:
        card = txn["card_id"]
        expected = kept.setdefault(card, CardWindow(card)).update(txn)
        before = restored.get(card) or CardWindow(card)
        window = pickle.loads(pickle.dumps(before))
        assert window == before
        assert window.update(txn) == expected
        restored[card] = window
    assert restored == kept
    assert any(len(window.events) > 1 for window in kept.values())
