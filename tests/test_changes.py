"""What changed: period windows, a hand-built two-month log (funnel, variants, transition times,
scores) checked against statsmodels / scipy / hand arithmetic, the multiple-testing correction,
hostile values, and the planted E6 payment drift on the demo."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import ibis
import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

import cjworkbench
from cjworkbench.analysis.changes.changes import COLUMNS, changes_table, mann_whitney_p, period_window
from cjworkbench.narrative import changes_summary
from cjworkbench.scope import FilterError
from cjworkbench.contract import DDL
from cjworkbench.ingest.local_time import fill_business_dates
from cjworkbench.model import build_derived

CHECKOUT = ("checkout_start", "checkout_payment", "checkout_confirmed")
# per month: sessions reaching start / payment / confirmed, start -> payment seconds, NPS and CSAT answers
MAY = dict(day="2026-05-10", start=20, pay=16, done=14,
           secs=[30, 30, 40, 40, 45, 50, 50, 50, 60, 60, 70, 75, 80, 90, 95, 120],
           nps=[10, 10, 9, 9, 8, 7, 6, 5, 3, 10], csat=[5, 5, 4, 4, 3])
JUNE = dict(day="2026-06-10", start=20, pay=15, done=6,
            secs=[40, 50, 50, 60, 60, 60, 70, 80, 90, 90, 100, 110, 120, 150, 200],
            nps=[10, 9, 8, 7, 6, 6, 5, 2, 1, 0], csat=[3, 2, 2, 1, 4])


def _month(m: dict, tag: str):
    """Checkout sessions of one month: (customer, journey, ts, activity) rows and NPS / CSAT answers."""
    t0 = dt.datetime.fromisoformat(m["day"] + " 10:00:00")
    events = []
    for i in range(m["start"]):
        cust, journey, at = f"{tag}c{i}", f"{tag}s{i}", t0 + dt.timedelta(hours=i)
        events.append((cust, journey, at, "checkout_start"))
        if i < m["pay"]:
            at = at + dt.timedelta(seconds=m["secs"][i])
            events.append((cust, journey, at, "checkout_payment"))
        if i < m["done"]:
            events.append((cust, journey, at + dt.timedelta(seconds=20), "checkout_confirmed"))
    feedback = [(f"{tag}c{i}", t0 + dt.timedelta(days=1, minutes=i), "nps", s, 0, 10, "brand")
                for i, s in enumerate(m["nps"])]
    feedback += [(f"{tag}c{i}", t0 + dt.timedelta(days=2, minutes=i), "csat", s, 1, 5, "contact centre")
                 for i, s in enumerate(m["csat"])]
    return events, feedback


def _write_db(path, *, derived: bool = False):
    events, feedback = [], []
    for m, tag in ((MAY, "m"), (JUNE, "j")):
        e, f = _month(m, tag)
        events, feedback = events + e, feedback + f
    con = duckdb.connect(str(path))
    for table in ("customers", "events", "feedback"):
        con.execute(DDL[table])
    customers = sorted({e[0] for e in events})
    con.executemany("INSERT INTO customers (customer_id, segment, source) VALUES (?, 'Value', 'crm')",
                    [(c,) for c in customers])
    con.executemany("INSERT INTO events (customer_id, journey_id, event_ts, activity, channel, source, seq) "
                    "VALUES (?, ?, ?, ?, 'web', 'web', ?)", [(*e, i) for i, e in enumerate(events)])
    con.executemany("INSERT INTO feedback (customer_id, feedback_ts, instrument, score, scale_min, scale_max, "
                    "touchpoint, direction, source, seq) VALUES (?, ?, ?, ?, ?, ?, ?, 'higher_is_better', 'survey', ?)",
                    [(*f, i) for i, f in enumerate(feedback)])
    fill_business_dates(con, "UTC")   # what the ingest does: business dates in UTC
    if derived:
        build_derived(ibis.duckdb.from_connection(con))
    con.close()
    return cjworkbench.connect(path)


@pytest.fixture(scope="module")
def two_months(tmp_path_factory):
    return _write_db(tmp_path_factory.mktemp("changes") / "db.duckdb")


def _june(con, **options):
    options = {"as_of": "2026-06-30", "min_n": 1, "drivers": (), **options}
    return changes_table(con, **options)


def _one(df, area, item, metric=None):
    rows = df[(df["area"] == area) & (df["item"] == item) & ((df["metric"] == metric) if metric else True)]
    assert len(rows) == 1, df[["area", "item", "metric"]]
    return rows.iloc[0]


# --- windows --------------------------------------------------------------------------------------

@pytest.mark.parametrize("period, as_of, baseline, expected", [
    ("month", "2026-06-30", None, ("2026-06-01", "2026-06-30", "2026-06")),
    ("month", "2026-06-30", "previous", ("2026-05-01", "2026-05-31", "2026-05")),   # whole May: June was whole
    ("month", "2026-06-30", "six_months", ("2025-12-01", "2025-12-31", "2025-12")),
    ("month", "2026-03-31", "previous", ("2026-02-01", "2026-02-28", "2026-02")),
    ("month", "2026-03-15", "previous", ("2026-02-01", "2026-02-15", "2026-02")),   # month to date: 15 days
    ("month", "2026-06-30", "year", ("2025-06-01", "2025-06-30", "2025-06")),
    ("quarter", "2026-05-20", None, ("2026-04-01", "2026-05-20", "2026-Q2")),
    ("quarter", "2026-06-30", "six_months", ("2025-10-01", "2025-12-31", "2025-Q4")),
    ("week", "2026-06-30", None, ("2026-06-29", "2026-06-30", "2026-W27")),       # Monday 29 June
    ("week", "2026-07-05", "previous", ("2026-06-22", "2026-06-28", "2026-W26")),
    ("week", "2026-07-05", "year", ("2025-06-30", "2025-07-06", "2025-W27")),      # 52 weeks: same weekday
    ("year", "2026-12-31", "previous", ("2025-01-01", "2025-12-31", "2025")),
])
def test_period_windows(period, as_of, baseline, expected):
    w = period_window(period, as_of, baseline)
    assert (str(w.start), str(w.end), w.label) == expected


def test_window_errors():
    with pytest.raises(FilterError, match="Did you mean 'month'"):
        period_window("monht", "2026-06-30")
    with pytest.raises(FilterError, match="overlaps the year"):
        period_window("year", "2026-06-30", "six_months")
    with pytest.raises(FilterError, match="as_of must be a date"):
        period_window("month", "2026-13-45")
    with pytest.raises(FilterError, match="Did you mean 'six_months'"):
        period_window("month", "2026-06-30", "six_month")


# --- the hand-built log ---------------------------------------------------------------------------

def test_funnel_change_and_newcombe_interval(two_months):
    df = _june(two_months, areas=("funnel",), funnels={"checkout": CHECKOUT})
    pay = _one(df, "funnel", "checkout: checkout_payment → checkout_confirmed")
    # June 6 of 15 sessions at payment confirmed, May 14 of 16
    assert (pay["current"], pay["previous"], pay["n_current"], pay["n_previous"]) == (6 / 15, 14 / 16, 15, 16)
    assert pay["change"] == pytest.approx(6 / 15 - 14 / 16)   # -0.475
    low, high = confint_proportions_2indep(6, 15, 14, 16, method="newcomb", compare="diff")
    assert (pay["low"], pay["high"]) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    # by hand: Wilson 6/15 = 0.1982-0.6425, 14/16 = 0.6398-0.9650, combined by Newcombe's method 10
    assert (round(pay["low"], 4), round(pay["high"], 4)) == (-0.6959, -0.1371)
    assert pay["p_value"] == pytest.approx(proportions_ztest([6, 14], [15, 16])[1])
    whole = _one(df, "funnel", "checkout: checkout_start → checkout_confirmed")
    assert whole["change"] == pytest.approx(6 / 20 - 14 / 20)
    assert df.iloc[0]["item"] == pay["item"] and df.iloc[0]["rank"] == 1   # the biggest, surest change first
    assert list(df.columns) == COLUMNS


def test_stored_and_computed_journeys_agree(two_months, tmp_path):
    stored = _write_db(tmp_path / "derived.duckdb", derived=True)
    a = _june(two_months, areas=("funnel", "variant", "transition"), funnels={"checkout": CHECKOUT})
    b = _june(stored, areas=("funnel", "variant", "transition"), funnels={"checkout": CHECKOUT})
    assert a.drop(columns=["rank"]).sort_values(["area", "item"]).reset_index(drop=True).equals(
        b.drop(columns=["rank"]).sort_values(["area", "item"]).reset_index(drop=True))


def test_variant_shares(two_months):
    df = _june(two_months, areas=("variant",))
    full = _one(df, "variant", " → ".join(CHECKOUT))
    assert (full["current"], full["previous"], full["n_current"]) == (6 / 20, 14 / 20, 20)
    low, high = confint_proportions_2indep(6, 20, 14, 20, method="newcomb", compare="diff")
    assert (full["low"], full["high"]) == (pytest.approx(low), pytest.approx(high))
    start_only = _one(df, "variant", "checkout_start")   # 5 of 20 in June, 4 of 20 in May
    assert start_only["change"] == pytest.approx(5 / 20 - 4 / 20) and start_only["better"] is None


def test_transition_median_interval_and_mann_whitney(two_months):
    df = _june(two_months, areas=("transition",), transitions=[("checkout_start", "checkout_payment")], level=0.9)
    row = _one(df, "transition", "checkout_start → checkout_payment")
    june, may = np.array(JUNE["secs"], float), np.array(MAY["secs"], float)
    assert (row["current"], row["previous"]) == (np.median(june), np.median(may))   # 80 vs 60
    ref = stats.mannwhitneyu(june, may, alternative="two-sided", method="asymptotic", use_continuity=False)
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)

    def bounds(x):   # order statistics (1-based) l = floor((n - z sqrt n) / 2), u = ceil(1 + (n + z sqrt n) / 2)
        z, n, s = stats.norm.ppf(0.95), len(x), np.sort(x)
        lo, hi = max(math.floor((n - z * math.sqrt(n)) / 2), 1), min(math.ceil(1 + (n + z * math.sqrt(n)) / 2), n)
        return s[lo - 1], s[hi - 1]
    (l1, u1), (l2, u2), d = bounds(june), bounds(may), np.median(june) - np.median(may)
    assert row["low"] == pytest.approx(d - math.hypot(np.median(june) - l1, u2 - np.median(may)))
    assert row["high"] == pytest.approx(d + math.hypot(u1 - np.median(june), np.median(may) - l2))
    assert row["better"] == "lower"


def test_mann_whitney_from_rank_sums_matches_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 6, 40).astype(float), rng.integers(1, 7, 55).astype(float)   # many ties
    both = np.concatenate([a, b])
    ranks = stats.rankdata(both)
    _, counts = np.unique(both, return_counts=True)
    ties = float((counts ** 3 - counts).sum())   # sum over values of (t^2 - 1) = sum over tie groups of t^3 - t
    p = mann_whitney_p(len(a), len(b), ranks[:len(a)].sum(), ties)
    ref = stats.mannwhitneyu(a, b, method="asymptotic", use_continuity=False).pvalue
    assert p == pytest.approx(ref, rel=1e-9)


def test_scores_nps_and_means(two_months):
    df = _june(two_months, areas=("score",))
    nps = _one(df, "score", "nps", "nps")
    # June: 2 promoters, 6 detractors of 10 -> -40; May: 5 and 3 -> +20
    assert nps["current"] == pytest.approx(-40) and nps["previous"] == pytest.approx(20)
    assert nps["change"] == pytest.approx(-60)
    se = 100 * math.sqrt((0.2 + 0.6 - 0.4 ** 2) / 10 + (0.5 + 0.3 - 0.2 ** 2) / 10)
    z = stats.norm.ppf(0.975)
    assert (nps["low"], nps["high"]) == (pytest.approx(-60 - z * se), pytest.approx(-60 + z * se))
    assert nps["p_value"] == pytest.approx(2 * stats.norm.sf(60 / se))
    mean = _one(df, "score", "csat", "mean_score")
    ref = stats.ttest_ind(JUNE["csat"], MAY["csat"], equal_var=False)
    assert mean["change"] == pytest.approx(np.mean(JUNE["csat"]) - np.mean(MAY["csat"]))
    assert mean["p_value"] == pytest.approx(ref.pvalue)
    top = _one(df, "score", "csat", "top_box_rate")   # 0 of 5 fives in June, 2 of 5 in May
    assert (top["current"], top["previous"]) == (0.0, 0.4)


def test_multiple_testing_and_small_groups(two_months):
    df = _june(two_months, funnels={"checkout": CHECKOUT})
    ok = df["p_value"].notna()
    q = multipletests(df.loc[ok, "p_value"], method="fdr_bh")[1]
    assert df.loc[ok, "q_value"].to_numpy() == pytest.approx(q)
    assert (df["significant"] == (df["q_value"] <= 0.05)).all()
    assert df["rank"].tolist() == list(range(1, len(df) + 1))
    assert df["significant"].iloc[:df["significant"].sum()].all()   # significant rows first
    few = changes_table(two_months, as_of="2026-06-30", areas=("funnel", "variant", "score"),
                        funnels={"checkout": CHECKOUT})   # default min_n = 30
    compared = df[df["area"].isin(["funnel", "variant", "score"])]   # every group here is under 30
    assert few.empty and few.attrs["definition"]["n_left_out_small"] == len(compared) > 0
    assert list(few.columns) == COLUMNS


def test_summary_says_what_moved(two_months):
    df = _june(two_months, areas=("funnel",), funnels={"checkout": CHECKOUT})
    text = changes_summary(df)
    assert text.startswith("2026-06 against 2026-05 (previous): ")
    assert "checkout: checkout_payment → checkout_confirmed" in text
    assert "87.5 % → 40.0 % (-47.5 points, -69.6 to -13.7) — worse" in text


def test_errors_and_hostile_values(two_months):
    with pytest.raises(FilterError, match=r"No events between 2027-01-01 and 2027-01-31 .* 2026-05-10 \.\. 2026-06-"):
        _june(two_months, as_of="2027-01-31")
    with pytest.raises(FilterError, match="Did you mean 'funnel'"):
        _june(two_months, areas=("funel",))
    hostile = ["'; DROP TABLE events; --", "O'Brien", "ünïcödé"]
    # an unknown step is an error naming the real ones (issue #14's honesty rule), the value a literal
    with pytest.raises(FilterError, match="Unknown activity ''; DROP TABLE events; --'"):
        _june(two_months, areas=("funnel",), funnels={"x'y": hostile}, min_n=0)
    # filters that leave nothing: one sentence naming the filter and the real values
    with pytest.raises(FilterError, match="Unknown segment ''; DROP TABLE customers; --'. The data has 1: Value"):
        _june(two_months, areas=("funnel", "score"), funnels={"checkout": CHECKOUT},
              filters={"segment": "'; DROP TABLE customers; --"}, min_n=0)
    assert two_months.table("events").count().execute() == 2 * 20 + 16 + 15 + 14 + 6   # untouched


# --- the demo: E6, the payment step's drift from 2026-05-01 ---------------------------------------

def test_demo_payment_drift_is_the_top_change(demo_db):
    db, truth = demo_db
    con = cjworkbench.connect(db)
    df = changes_table(con, as_of="2026-06-30", baseline=["six_months", "previous"], drivers=())
    # E2 (late deliveries, from 2026-05-01) is the most certain change: delivery takes longer
    first = df.iloc[0]
    assert (first["area"], first["item"], first["baseline"]) == (
        "transition", "order_shipped → order_delivered", "six_months")
    assert first["significant"] and first["low"] > 0
    top = df[df["area"] == "funnel"].iloc[0]   # E6 is the top funnel change
    assert (top["area"], top["item"], top["baseline"]) == (
        "funnel", "checkout: checkout_payment → checkout_confirmed", "six_months")
    assert top["significant"] and top["high"] < 0
    planted = truth["effects"]["E6"]["planted"]   # drop-off 10 % -> 22 %: conversion 90 % -> 78 %
    assert top["low"] <= planted["drop_before"] - planted["drop_after"] <= top["high"]
    assert 0.85 < top["previous"] < 0.95 and 0.72 < top["current"] < 0.84
    same = _one(df[df["baseline"] == "previous"], "funnel", top["item"])   # May is already in the drift
    assert not same["significant"] and same["low"] < 0 < same["high"]
    assert df.attrs["definition"]["baselines"]["six_months"] == {
        "label": "2025-12", "start_date": "2025-12-01", "end_date": "2025-12-31"}


def test_demo_driver_effects_and_theme_impact_follow_their_tables(demo_db):
    from cjworkbench.analysis.voc.drivers import drivers_table
    from cjworkbench.analysis.voc.theme_impact import theme_impact_table

    db, _ = demo_db
    con = cjworkbench.connect(db)
    taxonomy = db.parent / "designed" / "themes.yml"
    df = changes_table(con, as_of="2026-06-30", baseline="six_months", areas=("driver", "theme"), drivers=("csat",),
                       taxonomy=taxonomy, min_n=10)
    june = {"start_date": "2026-06-01", "end_date": "2026-06-30"}
    dec = {"start_date": "2025-12-01", "end_date": "2025-12-31"}
    now, then = (drivers_table(con, outcome="csat", filters=f, n_resamples=20).set_index("driver") for f in (june, dec))
    row = _one(df, "driver", "repeat_contact", "effect on csat")
    assert row["current"] == now.loc["repeat_contact", "effect"]
    assert row["previous"] == then.loc["repeat_contact", "effect"]
    z = stats.norm.ppf(0.975)
    se = math.hypot(*(t.loc["repeat_contact", "high"] - t.loc["repeat_contact", "low"] for t in (now, then))) / (2 * z)
    assert (row["low"], row["high"]) == (pytest.approx(row["change"] - z * se), pytest.approx(row["change"] + z * se))
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(row["change"]) / se))
    assert now.loc["repeat_contact", "effect"] < 0   # E3 holds in a single month too
    late = theme_impact_table(con, taxonomy=taxonomy, filters=june).set_index("theme").loc["late_delivery"]
    theme = _one(df, "theme", "late_delivery")
    assert theme["current"] == pytest.approx(late["impact"]) and theme["n_current"] == late["n_answers"]
    assert df["better"].isna().all()   # a driver or theme moving has no good direction by itself
    with pytest.raises(FilterError, match="Unknown driver outcome 'detractor'"):
        changes_table(con, as_of="2026-06-30", drivers=("detractor",))
