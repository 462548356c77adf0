"""Hand-off gaps on tiny hand-checked journeys: switch matrix, with/without-switch gaps, recontact."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint, proportions_ztest

from cjworkbench import connect
from cjworkbench.scope import FilterError
from cjworkbench.analysis.journeys.gaps import recontact_table, switch_gaps_table, switch_matrix_table
from cjworkbench.ingest import run_ingest

from .conftest import write_config

T0 = dt.datetime(2024, 3, 1, 10, 0, 0)
COLUMNS = {"customer_id": "customer", "journey_id": "journey", "event_ts": "ts", "activity": "activity",
           "channel": "channel", "touchpoint": "touchpoint"}


def _db(tmp_path, rows):
    """Ingest (customer, journey, ts, activity, channel, touchpoint) rows; '' is NULL."""
    lines = ["customer,journey,ts,activity,channel,touchpoint"]
    lines += [",".join([c, j, t.isoformat(sep=" "), a, ch, tp]) for c, j, t, a, ch, tp in rows]
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path, [{"name": "ev", "kind": "events", "path": "events.csv", "duplicates": "keep",
                                   "columns": COLUMNS}])
    run_ingest(cfg, tmp_path / "db.duckdb")
    return connect(tmp_path / "db.duckdb")


def _m(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


MATRIX_ROWS = [
    # J1: app, app, phone (+15 min after the last app touch), phone -> app→phone 900 s
    ("C1", "J1", _m(0), "login", "app", ""), ("C1", "J1", _m(5), "browse", "app", ""),
    ("C1", "J1", _m(20), "call", "phone", ""), ("C1", "J1", _m(30), "purchase", "phone", ""),
    # J2: app, (NULL skipped), phone 10 min after the app touch, app 30 min later
    #     -> app→phone 600 s, phone→app 1800 s
    ("C2", "J2", _m(0), "login", "app", ""), ("C2", "J2", _m(1), "note", "", ""),
    ("C2", "J2", _m(10), "call", "phone", ""), ("C2", "J2", _m(40), "browse", "app", ""),
    # J3: web, app (30 min), app -> web→app 1800 s
    ("C3", "J3", _m(0), "visit", "web", ""), ("C3", "J3", _m(30), "login", "app", ""),
    ("C3", "J3", _m(40), "browse", "app", ""),
    # J4: equal timestamps keep file order: web then phone -> web→phone 0 s
    ("C3", "J4", _m(0), "visit", "web", ""), ("C3", "J4", _m(0), "call", "phone", ""),
    # J5: no switch
    ("C4", "J5", _m(0), "login", "app", ""), ("C4", "J5", _m(5), "browse", "app", ""),
]


def test_switch_matrix_counts_and_medians(tmp_path):
    con = _db(tmp_path, MATRIX_ROWS)
    df = switch_matrix_table(con)
    got = {(r.from_value, r.to_value): (r.n_switches, r.n_journeys, r.n_customers, r.median_seconds)
           for r in df.itertuples()}
    assert got == {("app", "phone"): (2, 2, 2, 750.0),    # median of 900 and 600
                   ("phone", "app"): (1, 1, 1, 1800.0),
                   ("web", "app"): (1, 1, 1, 1800.0),
                   ("web", "phone"): (1, 1, 1, 0.0)}
    assert df.iloc[0][["from_value", "to_value"]].tolist() == ["app", "phone"]
    assert "NULL" in df.attrs["definition"]["switch_rule"]
    # per customer, C3's two journeys become one: web (J3), web, phone (J4, all at 10:00, file
    # order), app, app (J3, 10:30 and 10:40): web→phone 0 s, phone→app 1800 s, no web→app
    cust = switch_matrix_table(con, unit="customer")
    assert {(r.from_value, r.to_value): r.n_switches for r in cust.itertuples()} == {
        ("app", "phone"): 2, ("phone", "app"): 2, ("web", "phone"): 1}


def test_switch_matrix_rejects_unknown_by(tmp_path):
    con = _db(tmp_path, MATRIX_ROWS)
    with pytest.raises(FilterError, match="Unknown by 'chanel'.*Did you mean 'channel'"):
        switch_matrix_table(con, by="chanel")


def _gap_rows():
    """Journeys anchored at 'start' (the first step of the way to 'purchase'); times in seconds from it."""
    rows = []
    # 10 journeys that call (app -> phone) after the anchor; W6 buys BEFORE calling: not exposed then.
    for i in range(10):
        j = f"W{i}"
        rows += [(j, j, _m(0), "browse", "app", ""), (j, j, _m(1), "start", "app", "")]
        if i == 6:
            rows.append((j, j, _m(1.5), "purchase", "app", ""))                  # 30 s after the anchor
        if i == 9:
            rows.append((j, j, _m(1.5), "note", "", ""))                         # NULL channel, skipped
        rows.append((j, j, _m(2), "call", "phone", ""))
        if i < 3:
            rows.append((j, j, _m(2) + dt.timedelta(seconds=300 * (i + 1)), "purchase", "phone", ""))  # 360, 660, 960
        elif i < 6:
            rows.append((j, j, _m(2) + dt.timedelta(seconds=1000), "browse", "app", ""))
    # 20 journeys that reach the anchor in app and never switch; N0 buys at the anchor's timestamp.
    for i in range(20):
        j = f"N{i}"
        rows += [(j, j, _m(0), "browse", "app", ""), (j, j, _m(1), "start", "app", "")]
        if i < 14:
            rows.append((j, j, _m(1) + dt.timedelta(seconds=100 * i), "purchase", "app", ""))  # 0, 100..1300
    rows += [(f"B{i}", f"B{i}", _m(0), "browse", "app", "") for i in range(5)]   # never reach the anchor
    rows += [("S1", "S1", _m(0), "start", "", ""), ("S1", "S1", _m(1), "call", "phone", "")]  # no value at it
    rows += [("S2", "S2", _m(0), "browse", "app", ""), ("S2", "S2", _m(1), "start", "", "")]   # app: touch before
    # P1 switched web -> app AT the anchor (not after it): from app, no exposure; buys 60 s later
    rows += [("P1", "P1", _m(0), "browse", "web", ""), ("P1", "P1", _m(1), "start", "app", ""),
             ("P1", "P1", _m(2), "purchase", "app", "")]
    # X1's first switch after the anchor is app -> web (then phone): with, for app -> web only
    rows += [("X1", "X1", _m(0), "start", "app", ""), ("X1", "X1", _m(1), "visit", "web", ""),
             ("X1", "X1", _m(2), "call", "phone", ""), ("X1", "X1", _m(3), "purchase", "phone", "")]
    rows += [(f"V{i}", f"V{i}", _m(0), "start", "web", "") for i in range(3)]
    rows += [(f"V{i}", f"V{i}", _m(1), "purchase" if i == 0 else "visit", "web", "") for i in range(3)]
    return rows


def test_switch_gaps_rates_intervals_and_time_to_outcome(tmp_path):
    """Both groups are measured from the same moment, the anchor (issue #14: comparing units that
    switched mid-checkout with every unit that stayed, from its second touch, reversed the E1 sign)."""
    con = _db(tmp_path, _gap_rows())
    df = switch_gaps_table(con, outcome_activity="purchase", anchor="start")
    row = df.set_index(["from_value", "to_value"]).loc[("app", "phone")]
    # with: W0-W9 but W6 (bought before calling) -> 9, of which W0-W2 buy -> 3
    # without (from app): N0-N19, W6, S2, P1 -> 23, of which N0-N13, W6, P1 buy -> 16
    assert (row.n_with, row.n_reached_with, row.n_without, row.n_reached_without) == (9, 3, 23, 16)
    assert (row.rate_with, row.rate_without) == pytest.approx((3 / 9, 16 / 23))
    assert row.rate_diff == pytest.approx(3 / 9 - 16 / 23)
    assert (row.rate_with_low, row.rate_with_high) == pytest.approx(
        proportion_confint(3, 9, method="wilson"), abs=1e-12)
    assert (row.rate_diff_low, row.rate_diff_high) == pytest.approx(
        confint_proportions_2indep(3, 9, 16, 23, method="newcomb", compare="diff"), abs=1e-12)
    assert row.p_value == pytest.approx(proportions_ztest([3, 16], [9, 23])[1], rel=1e-12)
    assert row.small_sample     # pooled 19/32: 9 × 13/32 = 3.7 < 5
    # seconds from the anchor to the purchase: with 360, 660, 960 (median 660);
    # without 0, 30 (W6), 60 (P1), 100..1300 (N1-N13): median of 16 values = (500 + 600) / 2
    assert row.median_seconds_to_outcome_with == 660.0
    assert row.median_seconds_to_outcome_without == 550.0
    assert row.median_diff_seconds == 110.0
    assert row.median_diff_low_seconds <= 110.0 <= row.median_diff_high_seconds
    web = df.set_index(["from_value", "to_value"]).loc[("app", "web")]
    assert (web.n_with, web.n_reached_with, web.n_without) == (1, 1, 23)
    assert set(zip(df.from_value, df.to_value)) == {("app", "phone"), ("app", "web")}
    # left out and counted: B0-B4 never reach 'start'; S1 has no channel at or before it
    assert df.attrs["excluded"] == {"n_units": 42, "n_no_anchor": 5, "n_no_value_at_anchor": 1}
    d = df.attrs["definition"]
    assert d["anchor"] == "start" and "5 of 42 journeys never reach start" in d["excluded"]
    assert "same moment" in d["comparison_rule"] and d["comparison"].startswith("journeys that reached start, from")


def test_switch_gaps_default_anchor_is_the_funnel_to_the_goal(tmp_path):
    """Without a designed funnel, the default anchor is the first step of the most common path when
    the goal is a later step of it (here browse -> start -> purchase, 14 journeys N0-N13)."""
    con = _db(tmp_path, _gap_rows())
    df = switch_gaps_table(con, outcome_activity="purchase")
    d = df.attrs["definition"]
    assert d["anchor"] == "browse" and "most common path" in d["anchor_source"]
    # S1, X1 and V0-V2 never browse (left out); P1 browses in web and switches to app after it
    assert df.attrs["excluded"]["n_no_anchor"] == 5
    row = df.set_index(["from_value", "to_value"]).loc[("app", "phone")]
    assert (row.n_with, row.n_without) == (9, 27)   # without: N0-N19, B0-B4, S2, W6
    assert df.set_index(["from_value", "to_value"]).loc[("web", "app"), "n_with"] == 1
    # a goal no funnel leads to: compared from the first touch, and the definition says so
    visit = switch_gaps_table(con, outcome_activity="visit")
    assert visit.attrs["definition"]["anchor"] == "the unit's first touch"
    assert "no funnel leads to visit" in visit.attrs["definition"]["anchor_source"]


def test_switch_gaps_one_switch_and_absent_switch(tmp_path):
    con = _db(tmp_path, _gap_rows())
    one = switch_gaps_table(con, outcome_activity="purchase", switch=("app", "phone"), anchor="start")
    assert len(one) == 1 and one.n_with[0] == 9
    none = switch_gaps_table(con, outcome_activity="purchase", switch=("phone", "web"), anchor="start")
    assert (none.n_with[0], none.n_without[0]) == (0, 0) and math.isnan(none.rate_with[0])
    with pytest.raises(FilterError, match="Unknown outcome_activity 'purchse'.*Did you mean 'purchase'"):
        switch_gaps_table(con, outcome_activity="purchse")
    with pytest.raises(FilterError, match="Unknown anchor 'strat'.*Did you mean 'start'"):
        switch_gaps_table(con, outcome_activity="purchase", anchor="strat")
    with pytest.raises(FilterError, match="switch must be a \\(from, to\\) pair"):
        switch_gaps_table(con, outcome_activity="purchase", switch="app")


D0 = dt.datetime(2024, 1, 1)
RECONTACT_ROWS = [
    ("A", "", D0, "ticket", "", "call"),
    ("A", "", D0 + dt.timedelta(days=7), "ticket", "", "call"),                        # exactly 7 days later
    ("A", "", D0 + dt.timedelta(days=14, seconds=1), "ticket", "", "call"),            # 7 days + 1 s later
    ("B", "", D0, "ticket", "", "call"),
    ("B", "", D0 + dt.timedelta(days=1), "ticket", "", "chat"),
    ("B", "", dt.datetime(2024, 3, 1), "ticket", "", "chat"),
    ("Z", "", dt.datetime(2024, 3, 1), "visit", "", "web"),                            # end of the data
]


def test_recontact_boundary_and_open_windows(tmp_path):
    con = _db(tmp_path, RECONTACT_ROWS)
    df = recontact_table(con, days=7).set_index("touchpoint")
    # call: A1 (next after exactly 7 d: yes), A2 (7 d + 1 s: no), A3 (none), B1 (chat after 1 d: yes)
    # chat: B2 (59 d: no), B3 (last, window open); web: Z (last, window open)
    assert df.loc["(all)", ["n_contacts", "n_recontacts", "n_customers", "n_open_window"]].tolist() == [7, 2, 3, 2]
    assert df.loc["call", ["n_contacts", "n_recontacts", "n_open_window"]].tolist() == [4, 2, 0]
    assert df.loc["chat", ["n_contacts", "n_recontacts", "n_open_window"]].tolist() == [2, 0, 1]
    assert df.loc["web", ["n_contacts", "n_recontacts", "n_open_window"]].tolist() == [1, 0, 1]
    assert df.loc["call", "recontact_rate"] == 0.5
    assert tuple(df.loc["call", ["recontact_rate_low", "recontact_rate_high"]]) == pytest.approx(
        proportion_confint(2, 4, method="wilson"), abs=1e-12)
    assert df.index[0] == "(all)"


def test_recontact_narrowed_to_a_touchpoint(tmp_path):
    con = _db(tmp_path, RECONTACT_ROWS)
    # only calls are contacts: B's call has no later call -> 1 of 4 (A1)
    df = recontact_table(con, touchpoint="call", days=7)
    assert df[["touchpoint", "n_contacts", "n_recontacts"]].values.tolist() == [["(all)", 4, 1], ["call", 4, 1]]
    # 7 days + 1 s counts with a window one second longer
    longer = recontact_table(con, touchpoint="call", days=7 + 1 / 86_400)
    assert longer.n_recontacts[0] == 2
    by_activity = recontact_table(con, by="activity", days=60)
    # within 60 days: A1, A2, B1, B2 (59 d) yes; A3 and B3 have no later contact -> 4 of 6
    assert by_activity.set_index("activity").loc["ticket", ["n_contacts", "n_recontacts"]].tolist() == [6, 4]
    with pytest.raises(FilterError, match="Unknown by 'devce'"):
        recontact_table(con, by="devce")
    with pytest.raises(FilterError, match="days must be a positive number"):
        recontact_table(con, days=0)


HOSTILE = "x'; DROP TABLE events; -- ö"


def test_hostile_values_are_literals(tmp_path):
    con = _db(tmp_path, RECONTACT_ROWS)
    # an unknown value is an error naming the real ones (never SQL text, never a table of zeros)
    with pytest.raises(FilterError, match="Unknown touchpoint 'x'; DROP TABLE"):
        recontact_table(con, touchpoint=HOSTILE, activity=[HOSTILE, "ticket"])
    with pytest.raises(FilterError, match="Unknown outcome_activity"):
        switch_gaps_table(con, outcome_activity=HOSTILE)
    with pytest.raises(FilterError, match="Unknown anchor"):
        switch_gaps_table(con, outcome_activity="ticket", anchor=HOSTILE)
    gaps = switch_gaps_table(con, outcome_activity="ticket", by="touchpoint", switch=(HOSTILE, "call"))
    assert gaps.n_with.tolist() == [0]
    assert len(switch_matrix_table(con, by="touchpoint", filters={"channel": HOSTILE})) == 0
    assert con.table("events").count().execute() == 7
