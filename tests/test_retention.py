"""Retention cohorts and lifecycle on a hand-checked three-cohort fixture."""

from __future__ import annotations

import datetime as dt

import pytest

from cjworkbench import connect
from cjworkbench.scope import FilterError
from cjworkbench.analysis.journeys.retention import lifecycle_table, period_date, retention_table
from cjworkbench.ingest import run_ingest

from .conftest import write_config

# Active months (2024): A Jan Feb Apr · B Jan Mar · C Jan · D Feb Mar · E Feb Apr · F Mar · G Mar Apr.
# A buys first in Feb, D in Mar. C's only event is the last second of January (UTC).
EVENTS = """customer,ts,activity
A,2024-01-05 10:00:00,visit
A,2024-02-10 10:00:00,purchase
A,2024-04-01 00:00:00,visit
B,2024-01-20 09:00:00,visit
B,2024-03-03 09:00:00,visit
C,2024-01-31 23:59:59,visit
D,2024-02-14 12:00:00,visit
D,2024-03-15 12:00:00,purchase
E,2024-02-01 00:00:00,visit
E,2024-04-30 23:59:59,visit
F,2024-03-02 08:00:00,visit
F,2024-03-29 08:00:00,visit
G,2024-03-10 08:00:00,visit
G,2024-04-11 08:00:00,visit
"""


@pytest.fixture
def con(tmp_path):
    (tmp_path / "events.csv").write_text(EVENTS)
    cfg = write_config(tmp_path, [{"name": "ev", "kind": "events", "path": "events.csv",
                                   "columns": {"customer_id": "customer", "event_ts": "ts", "activity": "activity"}}])
    run_ingest(cfg, tmp_path / "db.duckdb")
    return connect(tmp_path / "db.duckdb")


def _cells(df):
    return {(str(r.cohort_date), r.period_offset): r.n_customers for r in df.itertuples()}


def test_retention_on(con):
    df = retention_table(con, mode="on")
    # Jan cohort A B C: Feb A, Mar B, Apr A · Feb cohort D E: Mar D, Apr E · Mar cohort F G: Apr G
    assert _cells(df) == {("2024-01-01", 0): 3, ("2024-01-01", 1): 1, ("2024-01-01", 2): 1, ("2024-01-01", 3): 1,
                          ("2024-02-01", 0): 2, ("2024-02-01", 1): 1, ("2024-02-01", 2): 1,
                          ("2024-03-01", 0): 2, ("2024-03-01", 1): 1}
    jan = df[df.cohort_date == dt.date(2024, 1, 1)]
    assert jan.n_cohort_customers.tolist() == [3, 3, 3, 3]
    assert jan.retention_rate.tolist() == pytest.approx([1, 1 / 3, 1 / 3, 1 / 3])
    assert jan.period_date.tolist() == [dt.date(2024, m, 1) for m in (1, 2, 3, 4)]


def test_retention_on_or_after(con):
    df = retention_table(con, mode="on_or_after")
    # last active offset: A 3, B 2, C 0 · D 1, E 2 · F 0, G 1
    assert _cells(df) == {("2024-01-01", 0): 3, ("2024-01-01", 1): 2, ("2024-01-01", 2): 2, ("2024-01-01", 3): 1,
                          ("2024-02-01", 0): 2, ("2024-02-01", 1): 2, ("2024-02-01", 2): 1,
                          ("2024-03-01", 0): 2, ("2024-03-01", 1): 1}
    assert df.attrs["definition"]["mode"] == "on_or_after"


def test_retention_from_first_activity(con):
    # cohort by first purchase: A (Feb; active Feb, Apr; January is before the cohort), D (Mar)
    df = retention_table(con, activity="purchase")
    assert _cells(df) == {("2024-02-01", 0): 1, ("2024-02-01", 1): 0, ("2024-02-01", 2): 1,
                          ("2024-03-01", 0): 1, ("2024-03-01", 1): 0}


def test_lifecycle_categories(con):
    df = lifecycle_table(con)
    # Jan: new A B C · Feb: new D E, returning A, dormant B C · Mar: new F G, returning D,
    # resurrecting B, dormant A E · Apr: returning G, resurrecting A E, dormant B D F
    assert df.to_dict("list") == {
        "period_date": [dt.date(2024, m, 1) for m in (1, 2, 3, 4)],
        "n_new": [3, 2, 2, 0], "n_returning": [0, 1, 1, 1], "n_resurrecting": [0, 0, 1, 2],
        "n_dormant": [0, -2, -2, -3], "n_active": [3, 3, 4, 3]}


def test_weeks_and_days_are_utc_calendar_periods(con):
    # weeks start on Monday: Sat 2024-03-02 (F) and Sun 2024-03-03 (B) fall in the week of Mon 2024-02-26
    weeks = lifecycle_table(con, period="week")
    assert weeks.period_date.iloc[0] == dt.date(2024, 1, 1)          # A, Fri 2024-01-05
    row = weeks.set_index("period_date").loc[dt.date(2024, 2, 26)]
    assert (row.n_new, row.n_resurrecting, row.n_active) == (1, 1, 2)  # F new, B back
    assert period_date(0, "week") == dt.date(1969, 12, 29)
    days = retention_table(con, period="day")
    # E: first day 2024-02-01, back on 2024-04-30 = 89 days later
    e = days[(days.cohort_date == dt.date(2024, 2, 1))]
    assert e.n_cohort_customers.iloc[0] == 1 and e.set_index("period_offset").n_customers[89] == 1


def test_bad_period_and_mode(con):
    with pytest.raises(FilterError, match="Unknown period 'months'.*Did you mean 'month'"):
        retention_table(con, period="months")
    with pytest.raises(FilterError, match="Unknown mode 'on-or-after'"):
        retention_table(con, mode="on-or-after")


def test_hostile_activity_and_filters(con):
    hostile = "x'; DROP TABLE events; -- ö"
    # an activity no event has is an error naming the real ones (issue #14), no longer an empty table
    with pytest.raises(FilterError, match="Unknown activity"):
        retention_table(con, activity=hostile)
    assert len(lifecycle_table(con, filters={"activity": hostile})) == 0
    # a date filter keeps customers whose first event is in range: the March cohort only
    march = retention_table(con, filters={"start_date": "2024-03-01"})
    assert set(march.cohort_date) == {dt.date(2024, 3, 1)} and march.n_cohort_customers.iloc[0] == 2
    assert con.table("events").count().execute() == 14
