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
    rows = []
    # 10 journeys with app→phone as first switch; the switch (call) is the point of comparison.
    for i in range(10):
        j = f"W{i}"
        rows += [(j, j, _m(0), "browse", "app", ""),
                 (j, j, _m(1), "purchase" if i == 6 else "browse", "app", "")]   # W6 buys BEFORE the switch
        if i == 9:
            rows.append((j, j, _m(1.5), "note", "", ""))                         # NULL channel, skipped
        rows.append((j, j, _m(2), "call", "phone", ""))
        if i < 3:
            rows.append((j, j, _m(2 + 5 * (i + 1)), "purchase", "phone", ""))   # next: 300, 600, 900 s
        elif i < 6:
            rows.append((j, j, _m(2) + dt.timedelta(seconds=1000), "browse", "app", ""))  # next: 1000 s
    # 20 journeys that start in app and never switch; point = second touch.
    for i in range(20):
        j = f"N{i}"
        rows += [(j, j, _m(0), "browse", "app", ""),
                 (j, j, _m(1), "purchase" if i == 0 else "browse", "app", "")]  # N0 buys AT the point
        if 1 <= i < 14:
            rows.append((j, j, _m(1) + dt.timedelta(seconds=100 * i), "purchase", "app", ""))  # 100..1300 s
    rows += [("S1", "S1", _m(0), "browse", "app", "")]                            # one touch: no point
    rows += [("X1", "X1", _m(0), "browse", "app", ""), ("X1", "X1", _m(1), "visit", "web", ""),
             ("X1", "X1", _m(2), "call", "phone", ""), ("X1", "X1", _m(3), "purchase", "phone", "")]
    rows += [(f"V{i}", f"V{i}", _m(0), "visit", "web", "") for i in range(3)]
    rows += [(f"V{i}", f"V{i}", _m(1), "purchase" if i == 0 else "visit", "web", "") for i in range(3)]
    return rows


def test_switch_gaps_rates_intervals_and_time_to_next(tmp_path):
    con = _db(tmp_path, _gap_rows())
    df = switch_gaps_table(con, outcome_activity="purchase")
    row = df.set_index(["from_value", "to_value"]).loc[("app", "phone")]
    # with: W0-W2 buy after the call (W6 bought before it: not counted) -> 3 of 10
    # without: N0 (at the point) and N1-N13 -> 14 of 20; S1 (one touch) and X1 (app→web first) left out
    assert (row.n_with, row.n_reached_with, row.n_without, row.n_reached_without) == (10, 3, 20, 14)
    assert (row.rate_with, row.rate_without, row.rate_diff) == pytest.approx((0.3, 0.7, -0.4))
    assert (row.rate_with_low, row.rate_with_high) == pytest.approx(
        proportion_confint(3, 10, method="wilson"), abs=1e-12)
    assert (row.rate_diff_low, row.rate_diff_high) == pytest.approx(
        confint_proportions_2indep(3, 10, 14, 20, method="newcomb", compare="diff"), abs=1e-12)
    assert row.p_value == pytest.approx(proportions_ztest([3, 14], [10, 20])[1], rel=1e-12)
    # pooled rate 17/30: expected counts 10 × 17/30 = 5.67 and 10 × 13/30 = 4.33 < 5 -> small sample
    assert row.small_sample
    # next event: with 300, 600, 900, 1000, 1000, 1000 (median 950); without 100..1300 (median 700)
    assert (row.n_next_with, row.median_seconds_to_next_with) == (6, 950.0)
    assert (row.n_next_without, row.median_seconds_to_next_without) == (13, 700.0)
    assert row.median_diff_seconds == 250.0
    assert row.median_diff_low_seconds <= 250.0 <= row.median_diff_high_seconds
    # X1's first switch is app→web, compared with the same 20 app journeys
    web = df.set_index(["from_value", "to_value"]).loc[("app", "web")]
    assert (web.n_with, web.n_reached_with, web.n_without, web.small_sample) == (1, 1, 20, True)
    # journeys started in web and never switched exist, but no switch starts from web
    assert set(zip(df.from_value, df.to_value)) == {("app", "phone"), ("app", "web")}
    assert "second touch" in df.attrs["definition"]["comparison"]


def test_switch_gaps_one_switch_and_absent_switch(tmp_path):
    con = _db(tmp_path, _gap_rows())
    one = switch_gaps_table(con, outcome_activity="purchase", switch=("app", "phone"))
    assert len(one) == 1 and one.n_with[0] == 10
    none = switch_gaps_table(con, outcome_activity="purchase", switch=("phone", "web"))
    assert (none.n_with[0], none.n_without[0]) == (0, 0) and math.isnan(none.rate_with[0])
    with pytest.raises(FilterError, match="Unknown outcome_activity 'purchse'.*Did you mean 'purchase'"):
        switch_gaps_table(con, outcome_activity="purchse")
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
    assert recontact_table(con, touchpoint=HOSTILE, activity=[HOSTILE, "ticket"]).n_contacts.tolist() == [0]
    with pytest.raises(FilterError, match="Unknown outcome_activity"):
        switch_gaps_table(con, outcome_activity=HOSTILE)
    gaps = switch_gaps_table(con, outcome_activity="ticket", by="touchpoint", switch=(HOSTILE, "call"))
    assert gaps.n_with.tolist() == [0]
    assert len(switch_matrix_table(con, by="touchpoint", filters={"channel": HOSTILE})) == 0
    assert con.table("events").count().execute() == 7
