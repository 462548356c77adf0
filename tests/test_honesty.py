"""Honest figures (issue #14): each trap found on real exports and the demo, on a fixture small
enough to check by hand. Every test here failed on the code before the fix (checked by running it
against the old functions read with `git show`): a missing fact read as zero, a 3-answer theme
flag ranked, hotspots that summed journeys per edge and ranked three overlapping measures in one
list, a misspelled activity giving a funnel of zeros, filters that leave nothing giving an empty
table, recontact on a process log counting every event as a contact, a group of 3 answers shown,
CSAT drivers on a database without CSAT saying "too few answers", review refused as an outcome."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import cjworkbench
from cjworkbench.analysis.journeys.funnels import funnel_table
from cjworkbench.analysis.journeys.gaps import recontact_table
from cjworkbench.analysis.journeys.paths import paths_around_table, variants_table
from cjworkbench.analysis.journeys.retention import retention_table
from cjworkbench.analysis.journeys.transitions import hotspots_table
from cjworkbench.analysis.voc.drivers import MIN_DRIVER_ANSWERS, drivers_table
from cjworkbench.analysis.voc.scores import scores_table
from cjworkbench.analysis.voc.sentiment import sentiment_table
from cjworkbench.errors import DriverError, EmptyScopeError, FilterError, ScoresError
from cjworkbench.ingest import run_ingest
from cjworkbench.privacy import suppress_small

from .conftest import write_config

T0 = dt.datetime(2024, 1, 1, 9, 0, 0)
N, N_DELIVERED, TINY = 120, 40, 3
DAMAGED = (50, 51, 52)   # the three answers mentioning a smashed parcel


def _ts(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat(sep=" ")


def _score(i: int) -> int:
    """4, one star less for customers with a delivery, one more for every third; 1 for a smashed parcel."""
    return 1 if i in DAMAGED else 4 - (i < N_DELIVERED) + (i % 3 == 0)


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    """120 customers answering CSAT and a review on day 100; the first 40 had a delivery on day 90
    (days_late = i % 8, no effect on the score); the last 3 form segment Tiny."""
    d = tmp_path_factory.mktemp("honesty_voc")
    day = 24 * 60
    ev = ["cust,journey,ts,act,tp,chan,days_late"]
    for i in range(N):
        c = f"R{i:03d}"
        if i < N_DELIVERED:
            ev.append(f"{c},O{i},{_ts(90 * day)},order_delivered,delivery,,{i % 8}")
        ev.append(f"{c},W{i},{_ts(95 * day)},view_home,website,web,")
    (d / "events.csv").write_text("\n".join(ev) + "\n")
    (d / "customers.csv").write_text("cust,segment\n" + "".join(
        f"R{i:03d},{'Tiny' if i >= N - TINY else 'Big'}\n" for i in range(N)))
    (d / "csat.csv").write_text("id,cust,ts,score\n" + "".join(
        f"C{i},R{i:03d},{_ts(100 * day)},{_score(i)}\n" for i in range(N)))
    (d / "review.csv").write_text("id,cust,ts,score,text\n" + "".join(
        f"V{i},R{i:03d},{_ts(100 * day)},{_score(i)},{'parcel smashed' if i in DAMAGED else 'fine'}\n"
        for i in range(N)))
    (d / "complaints.csv").write_text("id,cust,ts,text\nK1,R001,2024-04-10 10:00:00,box smashed\n")
    fb = {"feedback_id": "id", "customer_id": "cust", "feedback_ts": "ts", "score": "score"}
    run_ingest(write_config(d, [
        {"name": "crm", "kind": "customers", "path": "customers.csv", "columns": {"customer_id": "cust",
                                                                                  "segment": "segment"}},
        {"name": "ev", "kind": "events", "path": "events.csv",
         "columns": {"customer_id": "cust", "journey_id": "journey", "event_ts": "ts", "activity": "act",
                     "touchpoint": "tp", "channel": "chan"}},
        {"name": "csat", "kind": "feedback", "path": "csat.csv", "instrument": "csat", "scale": [1, 5], "columns": fb},
        {"name": "reviews", "kind": "feedback", "path": "review.csv", "instrument": "review", "scale": [1, 5],
         "columns": fb | {"text": "text"}},
        {"name": "complaints", "kind": "feedback", "path": "complaints.csv", "instrument": "complaint",
         "columns": {"feedback_id": "id", "customer_id": "cust", "feedback_ts": "ts", "text": "text"}}]),
        d / "db.duckdb")
    return cjworkbench.connect(d / "db.duckdb")


def _ols(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(np.column_stack([np.ones(len(y)), x]), y, rcond=None)[0][1:]


def test_a_missing_fact_is_not_zero(voc):
    df = drivers_table(voc, outcome="csat", facts=["days_late"], n_resamples=20).set_index("driver")
    r = df.loc["days_late"]
    i = np.arange(N_DELIVERED)
    # estimated on the 40 answers with a delivery only: no effect (the score does not follow days_late)
    assert r.effect == pytest.approx(_ols(i % 8, np.array([_score(k) for k in i], float))[0])
    assert (r.n_answers, r.applies_to) == (N_DELIVERED, "answers with days_late")
    assert r.low < 0 < r.high and not r.moment_of_truth
    # the old reading (0 days late for the 80 answers without a delivery) invents a clear negative effect
    zero_filled = np.where(np.arange(N) < N_DELIVERED, np.arange(N) % 8, 0)
    assert _ols(zero_filled, np.array([_score(k) for k in range(N)], float))[0] < -0.1
    assert "missing is not zero" in df.attrs["definition"]["missing"]


def test_a_three_answer_theme_flag_is_shown_but_not_ranked(voc):
    df = drivers_table(voc, outcome="review", facts=["has_delivery"], taxonomy={"damage": ["smashed"]},
                       n_resamples=20).set_index("driver")
    flag = df.loc["theme_damage"]
    assert pd.isna(flag["rank"]) and f"minimum {MIN_DRIVER_ANSWERS}" in flag.reason
    assert flag.suppressed and not flag.moment_of_truth   # 3 answers: flagged for privacy too
    assert df.loc["has_delivery", "rank"] == 1 and all(m["driver"] != "theme_damage"
                                                       for m in df.attrs["moments_of_truth"])


def test_review_is_an_outcome(voc):
    df = drivers_table(voc, outcome="review", facts=["has_delivery"], n_resamples=20).set_index("driver")
    y = np.array([_score(i) for i in range(N)], float)
    assert df.loc["has_delivery", "effect"] == pytest.approx(_ols((np.arange(N) < N_DELIVERED) * 1.0, y)[0])
    assert df.loc["has_delivery", "n_answers"] == N and "stars (review)" in df.loc["has_delivery", "statement"]


def test_an_absent_instrument_names_those_present(voc):
    with pytest.raises(DriverError, match=r"No CES answers in this database; it has: complaint, csat, review"):
        drivers_table(voc, outcome="ces")
    with pytest.raises(DriverError, match=r"The complaint answers in this database carry no score"):
        drivers_table(voc, outcome="complaint")
    with pytest.raises(ScoresError, match=r"No nps answers in this database; it has: complaint, csat, review"):
        scores_table(voc, instrument="nps")
    # filters that leave no answers are a different sentence from an absent instrument
    with pytest.raises(EmptyScopeError, match=r"No csat answers in scope \(segment='Tiniest'\)"):
        scores_table(voc, instrument="csat", filters={"segment": "Tiniest"})


def test_a_group_of_three_answers_is_flagged_and_never_shown(voc):
    df = scores_table(voc, instrument="csat", by="segment").set_index("segment")
    # the API flags it (privacy.SMALL_GROUP_RULE, k_min 10 as in the notebooks) ...
    assert df.loc["Tiny", "suppressed"] and not df.loc["Big", "suppressed"]
    assert df.attrs["suppression"]["k"] == 10 == df.attrs["definition"]["k_min"]
    assert not scores_table(voc, instrument="csat", by="segment", k_min=3).suppressed.any()
    # ... and what a chart, table or dashboard shows of it is blank (the faces' suppress_small)
    shown = suppress_small(df.reset_index(), count="n_customers").set_index("segment")
    assert shown.loc[["Tiny"], ["estimate", "low", "high", "n_answers"]].isna().all(axis=None)
    assert shown.loc["Big", "n_answers"] == N - TINY
    # the same rule in the other group tables: drivers (the 3-answer theme flag above), sentiment by group
    sent = sentiment_table(voc, by="segment", instrument="review").set_index("segment")
    assert sent.loc["Tiny", "suppressed"] and not sent.loc["Big", "suppressed"]


# --- a process log: activities only, no channel or touchpoint, with rework -----------------------
LOG = [("C1", "J1", 0, "A"), ("C1", "J1", 10, "B"), ("C1", "J1", 20, "A"), ("C1", "J1", 30, "B"),
       ("C1", "J1", 40, "A"), ("C1", "J1", 100, "C"), ("C2", "J2", 0, "A"), ("C2", "J2", 5, "C"),
       ("C3", "J3", 0, "A"), ("C3", "J3", 1, "B"), ("C3", "J3", 2, "C")]


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    d = tmp_path_factory.mktemp("honesty_log")
    (d / "e.csv").write_text("cust,case,ts,act\n" + "".join(f"{c},{j},{_ts(m)},{a}\n" for c, j, m, a in LOG))
    (d / "c.csv").write_text("cust,segment\nC1,Premium\nC2,Value\nC3,Value\n")
    run_ingest(write_config(d, [
        {"name": "crm", "kind": "customers", "path": "c.csv", "columns": {"customer_id": "cust", "segment": "segment"}},
        {"name": "log", "kind": "events", "path": "e.csv",
         "columns": {"customer_id": "cust", "journey_id": "case", "event_ts": "ts", "activity": "act"}}]),
        d / "db.duckdb")
    return cjworkbench.connect(d / "db.duckdb")


def test_hotspots_count_distinct_journeys_and_rank_each_kind(log):
    h = hotspots_table(log, top=None)
    assert (h["n_journeys"] <= 3).all() and h.attrs["definition"]["n_in_scope"] == 3
    act = h[h.kind == "activity"].set_index("name")
    # A: 5 events with a next one in 3 journeys (the per-edge sum said 4); 10 + 10 + 60 + 5 + 1 minutes
    assert act.loc["A", ["volume", "n_journeys"]].tolist() == [5, 3]
    assert act.loc["A", "hours_lost"] == pytest.approx(86 / 60)
    rework = h[h.kind == "rework"].set_index("name")
    # J1 repeats A (0 -> 40 min) and B (10 -> 30 min): one span each, counted once
    assert rework.loc["A (repeated)", ["volume", "n_journeys"]].tolist() == [2, 1]
    assert rework["hours_lost"].to_dict() == pytest.approx({"A (repeated)": 40 / 60, "B (repeated)": 20 / 60})
    # each kind is ranked on its own: one measure per ranking, never three overlapping ones in one list
    assert h.groupby("kind")["rank"].min().to_dict() == {"activity": 1, "rework": 1, "transition": 1}


def test_a_misspelled_activity_is_an_error_not_a_funnel_of_zeros(log):
    with pytest.raises(FilterError, match=r"Unknown activity 'Bb'\. Did you mean 'B'\?"):
        funnel_table(log, steps=["A", "Bb"])
    with pytest.raises(FilterError, match=r"Unknown anchor 'c'\. Did you mean 'C'\?"):
        paths_around_table(log, anchor="c")
    with pytest.raises(FilterError, match=r"Unknown activity 'AA'"):
        retention_table(log, activity="AA")
    assert funnel_table(log, steps=["A", "B"]).n_entered.tolist() == [3, 2]


def test_filters_that_leave_nothing_say_so_once(log):
    with pytest.raises(EmptyScopeError, match=r"No journeys in scope \(segment='Premum'\)\. Unknown segment "
                                              r"'Premum'\. Did you mean 'Premium'\?"):
        variants_table(log, filters={"segment": "Premum"})
    with pytest.raises(EmptyScopeError, match="No events in scope"):
        funnel_table(log, steps=["A", "B"], filters={"start_date": "2030-01-01"})
    with pytest.raises(EmptyScopeError):
        hotspots_table(log, filters={"segment": "Premum"})


def test_recontact_on_a_process_log_is_refused(log):
    with pytest.raises(FilterError, match=r"No contacts: none of these events has a touchpoint or channel"):
        recontact_table(log)
    with pytest.raises(FilterError, match=r"Unknown activity 'X'"):
        recontact_table(log, activity="X")
    # naming the contacts works: C1's A events 20 min apart are recontacts, the last one is not
    df = recontact_table(log, activity="A", days=1).iloc[0]
    assert (df.n_contacts, df.n_recontacts) == (5, 2)


def test_retention_on_one_off_customers_says_why_it_is_zero(log):
    df = retention_table(log, period="day")
    assert (df.loc[df.period_offset > 0, "n_customers"] == 0).all()
    assert "one-off" in df.attrs["definition"]["caveat"]


# --- the real help-desk and receipt logs against pandas and pm4py --------------------------------
LOGS = {"helpdesk": "process_mining/helpdesk.csv.gz", "receipt": "process_mining/receipt_wabo.csv.gz"}


@pytest.mark.parametrize("name", list(LOGS))
def test_hotspots_on_real_logs_equal_pandas_and_pm4py(tmp_path, real_data, name):
    from .test_real_data import _ingest

    _summary, raw = _ingest(tmp_path, name, duplicates="keep")
    raw.close()
    h = hotspots_table(cjworkbench.connect(tmp_path / f"{name}.duckdb"), top=None)
    df = pd.read_csv(real_data / LOGS[name])
    df["ts"] = pd.to_datetime(df["time:timestamp"], utc=True, format="ISO8601")
    df = df.rename(columns={"case:concept:name": "case", "concept:name": "act"})
    df = df.sort_values(["case", "ts"], kind="stable")   # ties in file order, as seq
    df["nxt"] = df.groupby("case")["act"].shift(-1)
    df["secs"] = (df.groupby("case")["ts"].shift(-1) - df["ts"]).dt.total_seconds()
    moves = df[df["nxt"].notna()]
    n_cases = df["case"].nunique()
    act = h[h.kind == "activity"].set_index("name")
    want = moves.groupby("act").agg(volume=("case", "size"), n_journeys=("case", "nunique"), secs=("secs", "sum"))
    assert act["volume"].to_dict() == want["volume"].to_dict()
    assert act["n_journeys"].to_dict() == want["n_journeys"].to_dict() and act["n_journeys"].max() <= n_cases
    assert (act["hours_lost"] * 3600).to_dict() == pytest.approx(want["secs"].to_dict(), rel=1e-9)
    edges = h[h.kind == "transition"].set_index("name")
    per = moves.groupby(["act", "nxt"])["case"].nunique()
    assert edges["n_journeys"].to_dict() == {f"{a} → {b}": n for (a, b), n in per.items()}
    spans = df.groupby(["case", "act"])["ts"].agg(["size", "min", "max"])
    spans = spans[spans["size"] > 1]
    rework = h[h.kind == "rework"].set_index("name")
    want = spans.assign(s=(spans["max"] - spans["min"]).dt.total_seconds()).groupby("act").agg(
        n=("size", "size"), s=("s", "sum"))
    assert rework["n_journeys"].to_dict() == {f"{a} (repeated)": n for a, n in want["n"].items()}
    assert (rework["hours_lost"] * 3600).to_dict() == pytest.approx(
        {f"{a} (repeated)": s for a, s in want["s"].items()}, rel=1e-9)
    pm4py = pytest.importorskip("pm4py")
    log_df = pm4py.format_dataframe(pd.read_csv(real_data / LOGS[name]), case_id="case:concept:name",
                                    activity_key="concept:name", timestamp_key="time:timestamp")
    perf, _s, _e = pm4py.discover_performance_dfg(log_df)
    dfg, _s, _e = pm4py.discover_dfg(log_df)
    assert edges["volume"].to_dict() == {f"{a} → {b}": n for (a, b), n in dfg.items()}
    assert (edges["hours_lost"] * 3600).to_dict() == pytest.approx(
        {f"{a} → {b}": s["sum"] for (a, b), s in perf.items()}, rel=1e-9, abs=1e-6)
