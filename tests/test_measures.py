"""The KPI library on a hand-worked log: every KPI's value worked out by hand below, roles given
or inferred, absent inputs reported (never zero), intervals, periods, the scorecard's change and
targets, the KPI tree's relation, the chart, and errors that name the fix."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cjworkbench
from cjworkbench import charts
from cjworkbench.analysis.measures import CATALOGUE, MeasureError, RolesError, kpi_table, kpi_tree_table, scorecard_table
from cjworkbench.analysis.measures.estimates import poisson_interval
from cjworkbench.analysis.measures.tree import correlation
from cjworkbench.analysis.stats import wilson_interval
from cjworkbench.contract import DDL
from cjworkbench.ingest.local_time import fill_business_dates

D1 = dt.datetime(2026, 3, 2)   # a Monday


def at(day: int, hh: int, mm: int = 0) -> dt.datetime:
    return D1 + dt.timedelta(days=day - 1, hours=hh, minutes=mm)


# (customer, journey, ts, activity, channel, department, attributes)
EVENTS = [
    # web: A's first session (4 hits: cart, checkout, goal), A's second (1 hit: a bounce, 75 min later)
    ("A", "s1", at(1, 10, 0), "view_home", "web", None, {"scroll_depth": "50"}),
    ("A", "s1", at(1, 10, 10), "view_cart", "web", None, {}),
    ("A", "s1", at(1, 10, 20), "checkout_start", "web", None, {}),
    ("A", "s1", at(1, 10, 45), "checkout_confirmed", "web", None, {}),
    ("A", "s2", at(1, 12, 0), "view_home", "web", None, {}),
    # B: one session, the cart exactly 30 minutes after home (same session), checkout never confirmed
    ("B", "s3", at(1, 9, 0), "view_home", "web", None, {}),
    ("B", "s3", at(1, 9, 30), "view_cart", "web", None, {}),
    ("B", "s3", at(1, 9, 31), "checkout_start", "web", None, {}),
    # C: a single hit (bounce)
    ("C", "s4", at(1, 8, 0), "view_home", "app", None, {"scroll_depth": "1.0"}),
    # orders and deliveries: O1 2 days, on time; O2 4 days, 2 days late
    ("A", "O1", at(1, 10, 46), "order_placed", "web", None, {}),
    ("A", "O1", at(3, 10, 46), "order_delivered", None, "logistics", {"days_late": "0"}),
    ("B", "O2", at(1, 11, 0), "order_placed", "phone", None, {}),
    ("B", "O2", at(5, 11, 0), "order_delivered", None, "logistics", {"days_late": "2"}),
    # contacts: K1 (B, resolved after 30 min, B calls again 2 days later: a repeat), K2 (B, resolved), K3 (C)
    ("B", "K1", at(2, 9, 0), "case_opened", "phone", "care", {"wait_s": "60"}),
    ("B", "K1", at(2, 9, 10), "case_assigned", "phone", "care", {"handle_s": "600"}),
    ("B", "K1", at(2, 9, 30), "case_resolved", "phone", "care", {}),
    ("B", "K2", at(4, 9, 0), "case_opened", "phone", "care", {"wait_s": "120"}),
    ("B", "K2", at(4, 9, 5), "case_assigned", "phone", "care", {"handle_s": "300"}),
    ("B", "K2", at(4, 10, 0), "case_resolved", "phone", "care", {}),
    ("C", "K3", at(2, 12, 0), "case_opened", "email", "care", {"handle_s": "900"}),
    # onboarding (no channel: not web hits): A completes after an hour, B never does
    ("A", None, at(1, 8, 0), "signup", None, None, {}),
    ("A", None, at(1, 9, 0), "complete_profile", None, None, {}),
    ("B", None, at(1, 8, 0), "signup", None, None, {}),
    # a referral by C; campaign e-mails (M1): A opens and clicks, B ignores it, C receives it last
    ("C", None, at(3, 9, 0), "referral_sent", None, None, {}),
    ("A", "M1", at(15, 9, 0), "email_sent", "email", None, {}),
    ("A", "M1", at(15, 9, 30), "email_opened", "email", None, {}),
    ("A", "M1", at(15, 9, 31), "email_clicked", "email", None, {}),
    ("B", "M1", at(15, 9, 0), "email_sent", "email", None, {}),
    ("C", "M1", at(22, 9, 0), "email_sent", "email", None, {}),
]
# (customer, ts, instrument, score, scale_min, scale_max, direction)
FEEDBACK = [("A", at(6, 9), "nps", 10, 0, 10, "higher_is_better"), ("B", at(6, 9), "nps", 6, 0, 10, "higher_is_better"),
            ("C", at(6, 9), "nps", 8, 0, 10, "higher_is_better"), ("D", at(6, 9), "nps", 9, 0, 10, "higher_is_better"),
            ("A", at(6, 10), "csat", 5, 1, 5, "higher_is_better"), ("B", at(6, 10), "csat", 3, 1, 5, "higher_is_better"),
            ("A", at(6, 11), "ces", 2, 1, 7, "lower_is_better"), ("B", at(6, 11), "ces", 5, 1, 7, "lower_is_better")]

# every KPI by hand, with the units it counts
EXPECTED = {
    "bounce_rate": (2 / 4, 4),              # sessions A1, A2, B1, C1; A2 and C1 have one hit
    "exit_rate": (1 / 2, 2),                # checkout_start hits: A's is followed, B's ends its session
    "scroll_depth": (0.75, 2),              # 50 % and 1.0 (a fraction)
    "conversion_rate": (1 / 4, 4),          # A1 reaches checkout_confirmed
    "cart_abandonment": (1 / 2, 2),         # A1 and B1 have a cart; B1 never confirms
    "checkout_abandonment": (1 / 2, 2),
    "checkout_time": (1_500.0, 1),          # A1: 10:20 -> 10:45
    "open_rate": (1 / 3, 3), "click_through_rate": (1 / 3, 3),
    "contacts_per_order": (3 / 2, 2),       # K1..K3 per O1, O2
    "contacts_per_customer": (3 / 3, 3),    # A, B, C have events (D only answered)
    "repeat_contact_rate": (1 / 3, 3),      # K2 opens 1 d 23.5 h after K1 ended
    "first_contact_resolution": (1 / 3, 3),  # K1 resolved but repeated, K2 resolved, K3 not resolved
    "handle_time": (600.0, 3),              # 600, 300, 900
    "wait_time": (90.0, 2),                 # 60, 120 (K3 has none)
    "resolution_time": (2_700.0, 2),        # median of 1,800 and 3,600
    "cost_per_contact": (7.0, 3),           # 1 + 36/h: 7, 4, 10
    "delivery_lead_time": (259_200.0, 2),   # median of 2 and 4 days
    "on_time_delivery": (1 / 2, 2),
    "onboarding_completion": (1 / 2, 2),    # A within 7 days; B's 7 days have passed
    "onboarding_time": (3_600.0, 1),
    "nps": (25.0, 4),                       # promoters A, D; detractor B
    "csat": (1 / 2, 2), "ces": (1 / 2, 2),  # top box 5; low effort <= 2 (lower is better)
    "referral_share": (1 / 3, 3),
}
OPTIONS = dict(roles={"exit_page": "checkout_start"}, costs={"fixed": 1.0, "per_hour": 36.0}, onboarding_days=7)


def write_db(path, events=EVENTS, feedback=FEEDBACK):
    con = duckdb.connect(str(path))
    for table in ("customers", "events", "feedback"):
        con.execute(DDL[table])
    con.executemany("INSERT INTO customers (customer_id, segment, source) VALUES (?, ?, 'crm')",
                    [(c, "Premium" if c == "A" else "Value") for c in "ABCD"])
    con.executemany("INSERT INTO events (customer_id, journey_id, event_ts, activity, channel, department, source, "
                    "seq, attributes) VALUES (?, ?, ?, ?, ?, ?, 'log', ?, ?)",
                    [(*e[:6], i, e[6]) for i, e in enumerate(events)])
    con.executemany("INSERT INTO feedback (customer_id, feedback_ts, instrument, score, scale_min, scale_max, "
                    "direction, source, seq) VALUES (?, ?, ?, ?, ?, ?, ?, 'survey', ?)",
                    [(*f, i) for i, f in enumerate(feedback)])
    fill_business_dates(con, "UTC")   # what the ingest does: business dates in UTC
    con.close()
    return cjworkbench.connect(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_db(tmp_path_factory.mktemp("measures") / "db.duckdb")


def test_every_kpi_by_hand(tiny):
    df = kpi_table(tiny, **OPTIONS).set_index("kpi")
    assert set(EXPECTED) | {"review_score"} == set(CATALOGUE)
    for name, (value, n_units) in EXPECTED.items():
        row = df.loc[name]
        assert row["available"], (name, row["reason"])
        assert (row["estimate"], row["n_units"]) == (pytest.approx(value), n_units), name
    review = df.loc["review_score"]
    assert not review["available"] and "instrument 'review'" in review["reason"] and math.isnan(review["estimate"])


def test_review_score_by_hand(tmp_path):
    """Review stars (the one KPI the tiny log has no answers for): 4, 2 and 5 stars, mean 11/3 with
    its Student t interval; the answers' own dates set the period."""
    reviews = [(c, at(d, 9), "review", s, 1, 5, "higher_is_better") for c, d, s in (("A", 7, 4), ("B", 7, 2), ("C", 8, 5))]
    con = write_db(tmp_path / "db.duckdb", feedback=FEEDBACK + reviews)
    row = kpi_table(con, kpis=["review_score"]).iloc[0]
    stars = np.array([4.0, 2.0, 5.0])
    half = stats.t.ppf(0.975, 2) * stars.std(ddof=1) / math.sqrt(3)
    assert (row["estimate"], row["n_units"]) == (pytest.approx(11 / 3), 3)
    assert (row["low"], row["high"]) == pytest.approx((11 / 3 - half, 11 / 3 + half))
    day = kpi_table(con, kpis=["review_score"], filters={"start_date": "2026-03-09"}).iloc[0]   # day 8
    assert (day["estimate"], day["n_units"]) == (5.0, 1)


def test_roles_are_inferred_not_hard_coded(tiny):
    d = kpi_table(tiny, kpis=["conversion_rate"]).attrs["definition"]
    assert d["roles_values"]["goal"] == {"activity": ["checkout_confirmed"]}
    assert d["roles_values"]["contact"] == {"activity": ["case_opened"]}
    assert d["roles_values"]["referral"] == {"activity": ["referral_sent"]}
    assert d["attributes"] == {"handle_seconds": "handle_s", "wait_seconds": "wait_s", "days_late": "days_late",
                               "scroll_depth": "scroll_depth"}
    # a role given as another activity or as a predicate on event columns replaces the inference
    other = kpi_table(tiny, kpis=["conversion_rate", "contacts_per_order"],
                      roles={"goal": ["view_cart"], "contact": {"channel": "email", "department": "care"}})
    assert other.set_index("kpi")["estimate"].tolist() == [pytest.approx(2 / 4), pytest.approx(1 / 2)]


def test_absent_inputs_say_which_mapping_they_need(tiny):
    df = kpi_table(tiny, kpis=["exit_rate", "cost_per_contact", "scroll_depth"],
                   attributes={"scroll_depth": "no_such_key"}, roles={"web": {"channel": "kiosk"}}).set_index("kpi")
    assert not df.loc["exit_rate", "available"] and "roles['exit_page']" in df.loc["exit_rate", "reason"]
    assert "costs=" in df.loc["cost_per_contact", "reason"]
    # a mapping that matches nothing gives no units (not a zero rate)
    assert df.loc["scroll_depth", "available"] and df.loc["scroll_depth", "n_units"] == 0
    assert math.isnan(df.loc["scroll_depth", "estimate"])


def test_intervals_follow_the_kind(tiny):
    df = kpi_table(tiny, **OPTIONS).set_index("kpi")
    assert tuple(df.loc["bounce_rate", ["estimate", "low", "high"]]) == pytest.approx(tuple(wilson_interval(2, 4)))
    handle = np.array([600.0, 300.0, 900.0])
    half = stats.t.ppf(0.975, 2) * handle.std(ddof=1) / math.sqrt(3)
    assert (df.loc["handle_time", "low"], df.loc["handle_time", "high"]) == pytest.approx((600 - half, 600 + half))
    low, high = stats.chi2.ppf(0.025, 6) / 2 / 2, stats.chi2.ppf(0.975, 8) / 2 / 2
    assert (df.loc["contacts_per_order", "low"], df.loc["contacts_per_order", "high"]) == pytest.approx((low, high))
    assert poisson_interval(0, 5, 0.95)[1] == 0.0


def test_dates_and_filters_cut_units_by_their_own_time(tiny):
    df = kpi_table(tiny, kpis=["bounce_rate", "nps", "open_rate"], filters={"end_date": "2026-03-14"}).set_index("kpi")
    assert df.loc["bounce_rate", "n_units"] == 4 and df.loc["nps", "n_units"] == 4
    assert df.loc["open_rate", "n_units"] == 0 and df.loc["open_rate", "reason"] == "no units in scope"
    seg = kpi_table(tiny, kpis=["bounce_rate", "nps"], filters={"segment": "Premium"}).set_index("kpi")
    assert (seg.loc["bounce_rate", "estimate"], seg.loc["nps", "estimate"]) == (pytest.approx(1 / 2), 100.0)
    app = kpi_table(tiny, kpis=["bounce_rate"], filters={"channel": "app"})
    assert (app["estimate"].iloc[0], app["n_units"].iloc[0]) == (1.0, 1)


def test_by_period(tiny):
    df = kpi_table(tiny, kpis=["bounce_rate", "open_rate"], period="week")
    assert df[["kpi", "period", "n_units"]].values.tolist() == [
        ["bounce_rate", "2026-W10", 4], ["open_rate", "2026-W12", 2], ["open_rate", "2026-W13", 1]]


def test_by_segment(tiny):
    df = kpi_table(tiny, kpis=["bounce_rate", "nps"], by="segment")
    assert df[["kpi", "segment", "estimate", "n_units"]].values.tolist() == [
        ["bounce_rate", "Premium", 0.5, 2], ["bounce_rate", "Value", 0.5, 2],
        ["nps", "Premium", 100.0, 1], ["nps", "Value", 0.0, 3]]
    with pytest.raises(MeasureError, match="Unknown by 'segmnet'.*Did you mean 'segment'"):
        kpi_table(tiny, by="segmnet")


def test_scorecard_change_target_and_trend(tiny):
    df = scorecard_table(tiny, kpis=["open_rate", "bounce_rate", "nps"], period="week", as_of="2026-03-23",
                         targets={"open_rate": 0.6, "bounce_rate": 0.6}, trend_periods=4).set_index("kpi")
    o = df.loc["open_rate"]   # week 13 to date (Monday 23 March) against Monday 16 March
    assert (o["period"], o["estimate"], o["previous"], o["change"]) == ("2026-W13", 0.0, 0.5, -0.5)
    assert o["better"] is False and o["target_met"] is False
    assert o["trend"][2:] == [0.5, 0.0] and np.isnan(o["trend"][:2]).all()
    assert df.attrs["definition"]["trend_periods"] == ["2026-W10", "2026-W11", "2026-W12", "2026-W13"]
    b = df.loc["bounce_rate"]   # nothing in this week: a value nobody can compare
    assert b["reason"] == "no units in the period" and math.isnan(b["estimate"]) and b["trend"][0] == 0.5


def test_scorecard_change_is_a_two_proportion_test(tiny):
    df = scorecard_table(tiny, kpis=["bounce_rate"], period="day", as_of="2026-03-02").iloc[0]
    assert df["estimate"] == 0.5 and math.isnan(df["change"])   # no previous day of sessions


def test_correlation_with_a_bootstrap_interval():
    x = [1, 2, 3, 4, 5, 6, 7, 8]
    y = [2.1, 3.9, 6.2, 8.1, 9.8, 12.2, 13.8, 16.1]
    r, low, high, p, slope = correlation(x, y, n_resamples=500, seed=1)
    assert r == pytest.approx(np.corrcoef(x, y)[0, 1]) and low <= r <= high and p < 0.001
    assert slope == pytest.approx(np.polyfit(x, y, 1)[0])
    assert math.isnan(correlation([1, 2, 3], [1, 2, 3])[0])   # fewer than four periods


def test_kpi_tree_rows(tiny):
    tree = [{"touchpoint": "contact centre", "customer": "csat", "drivers": ["handle_time", "wait_time"]}]
    df = kpi_tree_table(tiny, tree=tree, period="week", as_of="2026-03-08", trend_periods=2)
    assert df[["customer_kpi", "operational_kpi"]].values.tolist() == [["csat", "handle_time"], ["csat", "wait_time"]]
    assert df["customer_estimate"].iloc[0] == 0.5 and df["operational_estimate"].tolist() == [600.0, 90.0]
    assert df["statement"].iloc[0].startswith("CSAT ") and "Average handle time" in df["statement"].iloc[0]


def test_kpi_tree_from_a_kpi_map(tiny):
    kpi_map = {"touchpoints": [{"name": "care", "match": {"department": "care"}, "customer_kpis": {"csat": {}},
                                "operational_kpis": {"handling_time": {"attribute": "handle_s"},
                                                     "cost_per_contact": {"fixed": 1.0, "per_hour": 36.0},
                                                     "backlog": {"closed": "case_closed"}}}]}
    df = kpi_tree_table(tiny, kpi_map=kpi_map, period="week", as_of="2026-03-08", trend_periods=2)
    assert df["operational_kpi"].tolist() == ["handle_time", "cost_per_contact"]
    assert df["operational_estimate"].tolist() == [600.0, 7.0]          # the map's costs became the option
    assert math.isnan(df["customer_estimate"].iloc[0])                   # no csat answer is about 'care'
    assert "care: backlog" in df.attrs["definition"]["not_in_library"]


@pytest.mark.parametrize("call, match", [
    (lambda c: kpi_table(c, kpis=["bounce_rat"]), "Unknown KPI 'bounce_rat'.*Did you mean 'bounce_rate'"),
    (lambda c: kpi_table(c, roles={"goals": "x"}), "Unknown role 'goals'.*Did you mean 'goal'"),
    (lambda c: kpi_table(c, roles={"goal": {"chanel": "web"}}), "Unknown column 'chanel'.*Did you mean 'channel'"),
    (lambda c: kpi_table(c, attributes={"handle": "x"}), "Unknown attribute 'handle'.*handle_seconds"),
    (lambda c: kpi_table(c, period="months"), "Unknown period 'months'.*Did you mean 'month'"),
    (lambda c: kpi_table(c, days=0), "days must be a positive number"),
    (lambda c: scorecard_table(c, targets={"nsp": 30}), "Unknown KPI 'nsp'.*Did you mean 'nps'"),
    (lambda c: scorecard_table(c, targets={"nps": "high"}), r"targets\['nps'\] must be a number"),
    (lambda c: scorecard_table(c, trend_periods=0), "trend_periods must be a whole number"),
    (lambda c: scorecard_table(c, period="fortnight"), "Unknown period 'fortnight'"),
    (lambda c: kpi_tree_table(c, tree=[{"touchpoint": "x", "customer": "csat", "drivers": ["handel_time"]}]),
     "Unknown KPI 'handel_time'"),
])
def test_errors_name_the_fix(tiny, call, match):
    with pytest.raises((MeasureError, RolesError), match=match) as info:
        call(tiny)
    assert isinstance(info.value, (ValueError, cjworkbench.WorkbenchError))


def test_hostile_values_are_literals(tiny):
    evil = "x'; DROP TABLE events; --ü"
    df = kpi_table(tiny, kpis=["conversion_rate", "nps"], roles={"goal": evil}, filters={"segment": evil})
    assert df["n_units"].tolist() == [0, 0]
    assert kpi_table(tiny, kpis=["bounce_rate"])["n_units"].iloc[0] == 4


def test_scorecard_chart_spec(tiny):
    from cjworkbench.privacy import suppress_small

    table = suppress_small(scorecard_table(tiny, kpis=["open_rate", "exit_rate", "bounce_rate"], period="week",
                                           as_of="2026-03-23", targets={"open_rate": 0.6}, trend_periods=4), k=1)
    spec = charts.scorecard_chart(table).to_dict()
    panels = spec["vconcat"][0]["hconcat"]
    first = [p["layer"][0] if "layer" in p else p for p in panels]   # the value column is a layer of two texts
    texts = [pd.DataFrame(spec["datasets"][(p.get("data") or f["data"])["name"]])
             for p, f in zip(panels, first) if f["mark"]["type"] == "text"]
    # bounce rate has no session this week: suppressed (no customers); exit rate is not available: shown
    assert texts[1]["value_text"].tolist() == ["0.0 %", "not available: needs roles['exit_page']"]
    assert texts[4]["change_text"].tolist()[0].startswith("-50.0 pts") and texts[4]["direction_text"][0] == "worse"
    assert panels[-1]["mark"]["type"] == "line" and panels[-1]["encoding"]["y"]["type"] == "quantitative"
    assert "Privacy: 1 group with fewer than 1 customers" in str(spec["title"])   # not 2: exit rate is listed
    with pytest.raises(charts.ChartError, match="scorecard_table"):
        charts.scorecard_chart(pd.DataFrame({"kpi": ["x"]}))


def test_readme_documents_every_kpi():
    """Each KPI is declared once (the catalogue) and the README's KPI table lists it with its direction and unit."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## KPI library", 1)[1].split("\n## ", 1)[0]
    for m in CATALOGUE.values():
        line = next((x for x in section.splitlines() if x.startswith(f"| `{m.name}` |")), None)
        assert line is not None, f"README KPI table misses {m.name}"
        assert f"| {m.direction} | {m.unit} |" in line, line
