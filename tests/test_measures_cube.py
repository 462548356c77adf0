"""The scorecard read from the pre-aggregated cube (`analysis.measures.cube`) equals the scorecard
cut from the events on every call: on the demo (periods, as_of, segment, persona and attribute
filters, medians and per-customer exposures included) and on the hand-worked log; and
`kpi_tree_table(n_resamples=0)` gives point estimates without intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cjworkbench
from cjworkbench.analysis.measures import kpi_tree_table, scorecard_table
from cjworkbench.analysis.measures import cube as cube_module

from .test_measures import OPTIONS

NUMBERS = ["estimate", "low", "high", "target_gap", "previous", "change", "change_low", "change_high", "p_value",
           "six_months", "change_six_months", "change_six_months_low", "change_six_months_high",
           "p_value_six_months", "n_units", "n_customers"]


def assert_same(fast, slow):
    """Every number of two scorecards equal to 1e-9 (relative above 1), NaN where the other is NaN."""
    assert fast["kpi"].tolist() == slow["kpi"].tolist()
    assert fast["available"].tolist() == slow["available"].tolist()
    def better(df):
        return [b if b in (True, False) else None for b in df["better"]]
    assert better(fast) == better(slow)
    pairs = [(c, fast[c].astype(float).to_numpy(), slow[c].astype(float).to_numpy()) for c in NUMBERS]
    pairs.append(("trend", np.array(sum(fast["trend"], []), float), np.array(sum(slow["trend"], []), float)))
    for name, x, y in pairs:
        assert x.shape == y.shape and (np.isnan(x) == np.isnan(y)).all(), name
        ok = ~np.isnan(x)
        assert (np.abs(x[ok] - y[ok]) <= 1e-9 * np.maximum(1, np.abs(y[ok]))).all(), name


@pytest.fixture(scope="module")
def demo(demo_db):
    con = cjworkbench.connect(demo_db[0])
    sources = sorted(set(con.table("events").source.execute()) | set(con.table("feedback").source.execute()))
    return con, {"source": sources}   # an event-level filter that keeps everything: the events path


# a KPI of every kind: share, mean, two medians, per order, per customer, an answer score
KINDS = ["checkout_abandonment", "handle_time", "delivery_lead_time", "resolution_time", "contacts_per_order",
         "contacts_per_customer", "nps"]


@pytest.mark.parametrize("args", [
    dict(as_of="2026-06-30"),
    dict(as_of="2026-06-17", kpis=KINDS, filters={"segment": "Value"}),
    dict(as_of="2026-03-09", kpis=KINDS, period="week", trend_periods=6, filters={"persona": "budget shopper"}),
    dict(as_of="2026-08-20", kpis=KINDS, period="quarter", trend_periods=4,
         filters={"attributes": {"region": "Utrecht"}}),
], ids=["month", "segment", "week-persona", "quarter-attribute"])
def test_cube_equals_the_events_path_on_the_demo(demo, args):
    con, every = demo
    filters = args.pop("filters", {})
    fast = scorecard_table(con, filters=filters, **args)
    assert fast["available"].all() and (fast["n_units"] > 0).all() if "kpis" in args else \
        fast["available"].sum() == 21
    slow = scorecard_table(con, filters={**filters, **every}, **args)
    assert_same(fast, slow)


def test_cube_is_read_and_keeps_whole_classes(demo, monkeypatch):
    """The cube answers customer-level filters (not the unit rows); an empty segment is no units."""
    con, _ = demo
    calls = []
    real = cube_module.cube_stats
    monkeypatch.setattr(cube_module, "cube_stats", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    empty = scorecard_table(con, as_of="2026-05-31", filters={"segment": "x'; DROP TABLE events; --"})
    assert calls == [[]] and (empty["n_units"] == 0).all() and empty["reason"].eq("no units in the period").sum() == 21
    scorecard_table(con, as_of="2026-05-31", filters={"segment": ["Premium", "Value"]})
    assert len(calls[-1]) >= 2 and -1 not in calls[-1]   # ids without a customers row only unfiltered
    scorecard_table(con, as_of="2026-05-31")
    assert calls[-1][0] == -1


def test_cube_on_the_hand_worked_log(tmp_path):
    """Day and week scorecards of the hand-worked log, the cube against the events path, and the
    hand-worked medians and per-customer exposure read from the cube."""
    from .test_measures import write_db

    con = write_db(tmp_path / "db.duckdb")
    for period, as_of in (("day", "2026-03-02"), ("week", "2026-03-08")):   # months: on the demo above
        fast = scorecard_table(con, period=period, as_of=as_of, trend_periods=3, **OPTIONS)
        slow = scorecard_table(con, period=period, as_of=as_of, trend_periods=3,
                               filters={"source": ["log", "survey"]}, **OPTIONS)
        assert_same(fast, slow)
    card = scorecard_table(con, period="month", as_of="2026-03-31", **OPTIONS).set_index("kpi")
    assert card.loc["resolution_time", "estimate"] == 2_700.0 and card.loc["delivery_lead_time", "estimate"] == 259_200.0
    assert card.loc["contacts_per_customer", ["estimate", "n_units"]].tolist() == [1.0, 3]
    value = scorecard_table(con, period="month", as_of="2026-03-31", filters={"segment": "Value"}, **OPTIONS)
    assert value.set_index("kpi").loc["contacts_per_customer", ["estimate", "n_units"]].tolist() == [1.5, 2]


def test_tree_without_resamples_gives_points_and_no_interval(demo):
    con, _ = demo
    tree = [{"touchpoint": "delivery", "customer": "nps", "drivers": ["on_time_delivery", "delivery_lead_time"]}]
    df = kpi_tree_table(con, tree=tree, as_of="2026-06-30", n_resamples=0)
    full = kpi_tree_table(con, tree=tree, as_of="2026-06-30", n_resamples=200)
    assert df["estimate"].tolist() == pytest.approx(full["estimate"].tolist())
    assert df["slope"].tolist() == pytest.approx(full["slope"].tolist()) and df["p_value"].notna().all()
    assert df["low"].isna().all() and df["high"].isna().all() and full["low"].notna().all()
    assert "no interval" in df.attrs["definition"]["relation"]
    assert all("CI" not in s for s in df["statement"])
    with pytest.raises(ValueError, match="n_resamples must be a whole number"):
        kpi_tree_table(con, tree=tree, n_resamples=-1)
    assert math.isnan(df["low"].iloc[0])
