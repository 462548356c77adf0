"""Business time: periods and date filters cut on the business date (the config's `timezone:`),
stored timestamps stay UTC, date-only values keep their date. A hand-built fixture around the
2026 DST changes (Europe: 29 March 01:00 UTC, 25 October 01:00 UTC; US: 8 March, 1 November)
and month boundaries, in Europe/Amsterdam and America/Los_Angeles."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import duckdb
import pytest

from cjworkbench import connect
from cjworkbench.analysis.changes.changes import changes_table
from cjworkbench.analysis.journeys.retention import retention_table
from cjworkbench.analysis.measures.kpis import kpi_table
from cjworkbench.analysis.voc.scores import scores_table
from cjworkbench.contract import DDL
from cjworkbench.errors import DatabaseError
from cjworkbench.ingest import run_ingest
from cjworkbench.ingest.local_time import apply_business_time, business_zone
from cjworkbench.scope import scope

from .conftest import write_config

# offsets make these instants exact whatever the source's zone; comments: Amsterdam / Los Angeles
EVENTS = """customer,ts,activity
c1,2026-02-28T23:30:00Z,visit
c1,2026-03-31T22:30:00Z,visit
c2,2026-03-29T00:59:00Z,visit
c2,2026-03-29T01:00:00Z,visit
c3,2026-03-28T23:00:00Z,visit
c4,2026-03-29T22:30:00Z,visit
c4,2026-03-31T21:59:00Z,visit
c6,2026-03-01,visit
c7,2026-10-24T22:30:00Z,visit
c7,2026-10-25T22:30:00Z,visit
c7,2026-10-25T23:00:00Z,visit
"""
# c1: AMS 03-01 00:30, 04-01 00:30 · LA 02-28 15:30, 03-31 15:30
# c2: AMS 03-29 01:59 (CET), 03-29 03:00 (CEST) · LA 03-28 17:59, 18:00
# c3: AMS 03-29 00:00 (a Sunday) · LA 03-28 16:00 · c4: AMS Mon 03-30 00:30, 03-31 23:59 · LA 03-29, 03-31
# c6: date-only in the config's zone · c7: AMS 10-25 00:30 (CEST), 10-25 23:30 (CET), Mon 10-26 00:00
TOKYO = "customer,day,activity\nc5,2026-04-01,visit\n"   # date-only in Tokyo: 03-31 15:00 UTC
FEEDBACK = """customer,ts,score
c1,2026-02-28T23:30:00Z,10
c1,2026-03-31T22:30:00Z,0
c2,2026-03-15T12:00:00Z,9
c4,2026-03-31,3
"""
DATES = {   # business date of every event in file order (events source, then the Tokyo one)
    "Europe/Amsterdam": ["03-01", "04-01", "03-29", "03-29", "03-29", "03-30", "03-31", "03-01",
                         "10-25", "10-25", "10-26", "04-01"],
    "America/Los_Angeles": ["02-28", "03-31", "03-28", "03-28", "03-28", "03-29", "03-31", "03-01",
                            "10-24", "10-25", "10-25", "04-01"],
    "UTC": ["02-28", "03-31", "03-29", "03-29", "03-28", "03-29", "03-31", "03-01",
            "10-24", "10-25", "10-25", "04-01"],
}


def _build(folder, zone: str):
    folder.mkdir(exist_ok=True)
    (folder / "events.csv").write_text(EVENTS)
    (folder / "tokyo.csv").write_text(TOKYO)
    (folder / "feedback.csv").write_text(FEEDBACK)
    cols = {"customer_id": "customer", "event_ts": "ts", "activity": "activity"}
    cfg = write_config(folder, [
        {"name": "web", "kind": "events", "path": "events.csv", "columns": cols},
        {"name": "shop", "kind": "events", "path": "tokyo.csv", "timezone": "Asia/Tokyo",
         "columns": {**cols, "event_ts": "day"}},
        {"name": "nps", "kind": "feedback", "path": "feedback.csv", "instrument": "nps",
         "columns": {"customer_id": "customer", "feedback_ts": "ts", "score": "score"}}], timezone=zone)
    run_ingest(cfg, folder / "db.duckdb")
    return folder / "db.duckdb"


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    root = tmp_path_factory.mktemp("business_time")
    return {zone: _build(root / zone.replace("/", "_"), zone) for zone in DATES}


def _event_dates(path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [f"{d:%m-%d}" for (d,) in con.execute("SELECT event_date FROM events ORDER BY seq").fetchall()]


@pytest.mark.parametrize("zone", list(DATES))
def test_business_dates_by_hand_and_by_zoneinfo(dbs, zone):
    assert _event_dates(dbs[zone]) == DATES[zone]
    with duckdb.connect(str(dbs[zone]), read_only=True) as con:
        rows = con.execute("SELECT customer_id, event_ts, event_date FROM events ORDER BY seq").fetchall()
        assert business_zone(con) == zone
    date_only = {"c5": dt.date(2026, 4, 1), "c6": dt.date(2026, 3, 1)}
    for customer, ts, date in rows:   # independently: Python's zoneinfo on the stored UTC instant
        local = ts.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(zone)).date()
        assert date == date_only.get(customer, local)


def test_date_only_values_keep_their_date_and_timestamps_stay_utc(dbs):
    with duckdb.connect(str(dbs["Europe/Amsterdam"]), read_only=True) as con:
        got = {c: (ts, d) for c, ts, d in con.execute(
            "SELECT customer_id, event_ts, event_date FROM events WHERE customer_id IN ('c5', 'c6')").fetchall()}
        fb = con.execute("SELECT feedback_ts, feedback_date FROM feedback WHERE customer_id = 'c4'").fetchone()
    # local midnight of the source's zone, stored in UTC; the business date is the value's own date
    assert got["c6"] == (dt.datetime(2026, 2, 28, 23), dt.date(2026, 3, 1))
    assert got["c5"] == (dt.datetime(2026, 3, 31, 15), dt.date(2026, 4, 1))   # Tokyo midnight
    assert fb == (dt.datetime(2026, 3, 30, 22), dt.date(2026, 3, 31))


def _cells(df):
    return {(str(r.cohort_date), r.period_offset): r.n_customers for r in df.itertuples() if r.n_customers}


def test_retention_months_and_weeks_in_amsterdam(dbs):
    con = connect(dbs["Europe/Amsterdam"])
    # cohorts: March c1 c2 c3 c4 c6 (c1 and c6 are 28 Feb in UTC), April c5, October c7; c1 back in April
    months = retention_table(con, period="month")
    assert _cells(months) == {("2026-03-01", 0): 5, ("2026-03-01", 1): 1, ("2026-04-01", 0): 1,
                              ("2026-10-01", 0): 1}
    assert months.attrs["definition"]["time_zone"] == "Europe/Amsterdam"
    # weeks from Monday: c1 c6 on Sun 1 Mar (week of 23 Feb), c1 back on Wed 1 Apr (5 weeks on);
    # c2 c3 on Sun 29 Mar (c3: 28 Mar in UTC); c4 from Mon 30 Mar (Sun 29 Mar in UTC), c5 Wed 1 Apr;
    # c7 on Sun 25 Oct (the 22:30 UTC event on 24 Oct) and again on Mon 26 Oct (23:00 UTC on 25 Oct)
    assert _cells(retention_table(con, period="week")) == {
        ("2026-02-23", 0): 2, ("2026-02-23", 5): 1, ("2026-03-23", 0): 2, ("2026-03-30", 0): 2,
        ("2026-10-19", 0): 1, ("2026-10-19", 1): 1}


def test_retention_months_in_los_angeles(dbs):
    con = connect(dbs["America/Los_Angeles"])
    # c1 starts on 28 Feb (LA) and returns on 31 Mar; March: c2 c3 c4 c6; April: c5; October: c7
    assert _cells(retention_table(con, period="month")) == {
        ("2026-02-01", 0): 1, ("2026-02-01", 1): 1, ("2026-03-01", 0): 4, ("2026-04-01", 0): 1,
        ("2026-10-01", 0): 1}


@pytest.mark.parametrize("zone, march, first_day, day_29", [
    ("Europe/Amsterdam", {"c1", "c2", "c3", "c4", "c6"}, {"c1", "c6"}, {"c2", "c3"}),
    ("America/Los_Angeles", {"c2", "c3", "c4", "c6"}, {"c6"}, {"c4"}),
    ("UTC", {"c2", "c3", "c4", "c6"}, {"c6"}, {"c2", "c4"}),
])
def test_date_filter_includes_both_ends(dbs, zone, march, first_day, day_29):
    """Customers whose first event's business date is in the range (unit customer)."""
    con = connect(dbs[zone])

    def who(start, end):
        return set(scope(con, {"start_date": start, "end_date": end}, unit="customer").events().customer_id.execute())

    assert who("2026-03-01", "2026-03-31") == march
    assert who("2026-03-01", "2026-03-01") == first_day   # Amsterdam: 00:30 local on 1 March is 28 Feb in UTC
    assert who("2026-03-29", "2026-03-29") == day_29        # the day the clocks go forward in Europe


@pytest.mark.parametrize("zone, feb, march, april, last_day", [
    ("Europe/Amsterdam", [], [10, 9, 3], [0], [3]),   # 28 Feb 23:30 UTC is 1 March; 31 Mar 22:30 UTC is 1 April
    ("America/Los_Angeles", [10], [0, 9, 3], [], [0, 3]),
    ("UTC", [10], [0, 9, 3], [], [0, 3]),
])
def test_score_months_and_answer_dates(dbs, zone, feb, march, april, last_day):
    con = connect(dbs[zone])
    df = scores_table(con, instrument="nps", period="month", min_n=1, k_min=1)
    got = {str(p)[:7]: int(k) for p, k in zip(df["period"], df["n_answers"])}
    assert got == {m: len(v) for m, v in (("2026-02", feb), ("2026-03", march), ("2026-04", april)) if v}
    days = scores_table(con, instrument="nps", period="day", min_n=1, k_min=1)
    n_days = {str(p)[:10]: int(k) for p, k in zip(days["period"], days["n_answers"])}
    assert n_days == {"Europe/Amsterdam": {"2026-03-01": 1, "2026-03-15": 1, "2026-03-31": 1, "2026-04-01": 1}}.get(
        zone, {"2026-02-28": 1, "2026-03-15": 1, "2026-03-31": 2})

    def scores(start, end):
        return sorted(scope(con, {"start_date": start, "end_date": end}).feedback().score.execute().tolist())

    assert scores("2026-03-01", "2026-03-31") == sorted(float(s) for s in march)
    assert scores("2026-03-31", "2026-03-31") == sorted(float(s) for s in last_day)   # incl. the date-only answer


@pytest.mark.parametrize("zone, expected", [
    # Amsterdam: March 10, 9, 3 (2 promoters, 1 detractor), April 0 · UTC: February 10, March 0, 9, 3
    ("Europe/Amsterdam", {"2026-03": (3, 100 / 3), "2026-04": (1, -100.0)}),
    ("UTC", {"2026-02": (1, 100.0), "2026-03": (3, -100 / 3)}),
])
def test_kpi_trend_by_month(dbs, zone, expected):
    df = kpi_table(connect(dbs[zone]), kpis=["nps"], period="month")
    df = df[df["n_units"] > 0]
    got = {str(r.period)[:7]: (int(r.n_units), r.estimate) for r in df.itertuples()}
    assert got == {k: (n, pytest.approx(e)) for k, (n, e) in expected.items()}


def test_changes_month_and_default_day(dbs):
    """April against March in Amsterdam: 31 Mar 22:30 UTC (score 0) is April's one answer; March
    holds 10, 9 and the date-only 3 (NPS 33.3). The default as_of is the last business date."""
    ams, utc = connect(dbs["Europe/Amsterdam"]), connect(dbs["UTC"])
    row = changes_table(ams, period="month", as_of="2026-04-30", areas=("score",), min_n=1).iloc[0]
    assert (row["item"], row["n_current"], row["n_previous"]) == ("nps", 1, 3)
    assert (row["current"], row["previous"]) == (-100.0, pytest.approx(100 / 3))
    assert changes_table(utc, period="month", as_of="2026-04-30", areas=("score",), min_n=1).empty   # no April answer
    days = {z: changes_table(c, period="day", areas=("score",), min_n=1).attrs["definition"]["as_of"]
            for z, c in (("ams", ams), ("utc", utc))}
    assert days == {"ams": "2026-10-26", "utc": "2026-10-25"}   # 25 Oct 23:00 UTC is 26 Oct 00:00 CET


def test_apply_business_time_moves_exactly_the_expected_events(dbs, tmp_path):
    fresh = _build(tmp_path / "utc", "UTC")
    with duckdb.connect(str(fresh)) as con:
        changed = apply_business_time(con, "Europe/Amsterdam")
        assert business_zone(con) == "Europe/Amsterdam"
        starts = con.execute("SELECT count(*) FROM journeys WHERE start_date <> CAST((start_ts AT TIME ZONE 'UTC') "
                             "AT TIME ZONE 'Europe/Amsterdam' AS DATE)").fetchone()[0]
    # c1 23:30 + 22:30, c3 23:00, c4 22:30, c7 22:30 + 23:00 UTC move a day on; the date-only values
    # (c6 at UTC midnight, c5 from Tokyo) keep theirs; answers: c1's two late ones
    assert changed == {"customers": 0, "events": 6, "feedback": 2}
    assert _event_dates(fresh) == DATES["Europe/Amsterdam"]
    assert starts == 1   # c5's journey starts on its date-only 1 April (15:00 UTC = 17:00 on 31 March)
    with duckdb.connect(str(fresh)) as con:
        assert apply_business_time(con, "Europe/Amsterdam") == {"customers": 0, "events": 0, "feedback": 0}
        # back to UTC: a value at exactly midnight of the previous zone reads as date-only and keeps
        # its date (the documented limit of `apply_business_time`): c3's 23:00 UTC on 28 March and
        # c7's 23:00 UTC on 25 October are 00:00 in Amsterdam; a re-ingest gives their UTC dates
        assert apply_business_time(con, "UTC") == {"customers": 0, "events": 4, "feedback": 2}
    kept = {4: "03-29", 10: "10-26"}
    assert _event_dates(fresh) == [kept.get(i, d) for i, d in enumerate(DATES["UTC"])]


def test_a_database_without_business_dates_is_named_as_old(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        for table in ("customers", "events", "feedback"):
            con.execute(DDL[table].replace(", event_date DATE", "").replace(", feedback_date DATE", "")
                        .replace(", first_seen_date DATE", ""))
    with pytest.raises(DatabaseError, match=r"older cjworkbench.*event_date.*Re-run `cjw ingest"):
        connect(path)
