"""The ingest's fast paths give exactly what the plain ones give (issue #15, throughput).

* Time zones: naive local times -> UTC and UTC -> business date through a per-hour offset lookup
  (`ingest.local_time.hour_offsets`) instead of ICU on every row; hours with a DST change inside
  fall back to ICU. Checked minute by minute over DST days of zones with hour, half-hour and
  midnight transitions, against ICU row by row and hand-worked instants.
* `journey_steps` rebuilt whole on DuckDB (`full_build.build_journey_steps`) against the Ibis
  definition (`model.with_steps` + segment + journey_no), every column, type and row, in order.
* `seq` from a streaming row number (`ingest.pipeline._load_numbered`), with the sorted fallback.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import ibis
import pytest

from cjworkbench.contract import DDL
from cjworkbench.ingest import run_ingest
from cjworkbench.ingest.local_time import (business_date_lookup_sql, business_date_sql, hour_offsets,
                                           local_to_utc_sql)
from cjworkbench.ingest.pipeline import _load_numbered
from cjworkbench import full_build, model
from cjworkbench.full_build import build_journey_steps
from cjworkbench.model import with_steps

from .conftest import write_config

# (zone, a day with a DST change): hour changes in Europe and the US, a midnight change in Santiago,
# half-hour offsets in Adelaide, a 30-minute DST shift in Lord Howe, no DST in Kolkata
DAYS = [("Europe/Amsterdam", "2025-03-30"), ("Europe/Amsterdam", "2025-10-26"), ("America/New_York", "2025-11-02"),
        ("America/Santiago", "2025-09-07"), ("America/Santiago", "2025-04-06"), ("Australia/Adelaide", "2025-10-05"),
        ("Australia/Lord_Howe", "2025-04-06"), ("Asia/Kolkata", "2025-06-01")]


def _params() -> tuple[callable, dict]:
    params: dict = {}

    def p(value):
        params[f"q{len(params)}"] = value
        return f"$q{len(params) - 1}"
    return p, params


@pytest.mark.parametrize("zone,day", DAYS)
def test_hour_lookup_equals_icu_minute_by_minute(zone, day):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    start = dt.datetime.fromisoformat(day) - dt.timedelta(days=1)
    con.execute("CREATE TABLE t AS SELECT $s::TIMESTAMP + to_minutes(range) + to_microseconds(range % 7 * 999_999) "
                "AS x FROM range(3 * 24 * 60)", {"s": start})
    first = int(start.timestamp() // 3600) - 1
    table = hour_offsets(con, zone, first, first + 3 * 24 + 2)
    if zone.startswith("Australia/"):   # a change inside an hour (in local or in UTC terms): ICU for that hour
        assert None in table.to_utc + table.to_local
    p, params = _params()
    z = p(zone)
    fast_utc = local_to_utc_sql("x", z, table, p)
    fast_date = business_date_lookup_sql("x", z, table, p)
    slow_utc, slow_date = local_to_utc_sql("x", z, None, p), business_date_sql("x", z)
    diff = con.execute(f"""SELECT count(*), count(*) FILTER ({fast_utc} IS DISTINCT FROM {slow_utc}),
                           count(*) FILTER ({fast_date} IS DISTINCT FROM {slow_date}) FROM t""", params).fetchone()
    assert diff == (3 * 24 * 60, 0, 0)


def test_hand_worked_instants_through_the_lookup():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = [("Europe/Amsterdam", "2025-01-15 12:00:00", "2025-01-15 11:00:00"),   # CET, +01:00
            ("Europe/Amsterdam", "2025-07-01 12:00:00", "2025-07-01 10:00:00"),   # CEST, +02:00
            ("Europe/Amsterdam", "2025-03-30 02:30:00", "2025-03-30 01:30:00"),   # does not exist: ICU reads it at +01:00
            ("Europe/Amsterdam", "2025-10-26 02:30:00", "2025-10-26 01:30:00"),   # twice: ICU takes the second (CET)
            ("Asia/Kolkata", "2025-06-01 12:00:00", "2025-06-01 06:30:00"),       # +05:30
            ("Australia/Adelaide", "2025-10-05 02:30:00", "2025-10-04 17:00:00")]  # gap 02:00-03:00 at +09:30
    for zone, local, utc in rows:
        x = dt.datetime.fromisoformat(local)
        h = int(x.replace(tzinfo=dt.timezone.utc).timestamp() // 3600)
        table = hour_offsets(con, zone, h - 30, h + 30)
        p, params = _params()
        got = con.execute(f"SELECT {local_to_utc_sql('$x::TIMESTAMP', p(zone), table, p)}", params | {"x": x}).fetchone()
        assert got == (dt.datetime.fromisoformat(utc),), (zone, local)
    # business dates: 22:30 UTC is the next day in Amsterdam in summer (00:30 CEST), the same day in winter (23:30 CET)
    table = hour_offsets(con, "Europe/Amsterdam", 482_000, 492_000)
    p, params = _params()
    sql = business_date_lookup_sql("$u::TIMESTAMP", p("Europe/Amsterdam"), table, p)
    assert con.execute(f"SELECT {sql}", params | {"u": dt.datetime(2025, 7, 1, 22, 30)}).fetchone() == (dt.date(2025, 7, 2),)
    assert con.execute(f"SELECT {sql}", params | {"u": dt.datetime(2025, 1, 15, 22, 30)}).fetchone() == (dt.date(2025, 1, 15),)


def test_ingest_through_the_lookup_equals_icu_row_by_row(tmp_path):
    """Enough rows (one per 10 s over both 2025 Amsterdam changes) for the ingest to take the lookup;
    the source zone (Amsterdam) differs from the business zone (New York)."""
    lines = ["cust,ts,page"]
    for day in ("2025-03-29", "2025-10-25"):
        start = dt.datetime.fromisoformat(day)
        lines += [f"c{i % 7},{start + dt.timedelta(seconds=10 * i + i % 7):%Y-%m-%d %H:%M:%S},p{i % 3}"
                  for i in range(2 * 24 * 360)]
    lines.append("c1,2025-06-01T12:00:00+02:00,offset")     # an explicit offset takes the other branch
    (tmp_path / "e.csv").write_text("\n".join(lines) + "\n")
    src = {"name": "e", "kind": "events", "path": "e.csv", "timezone": "Europe/Amsterdam",
           "columns": {"customer_id": "cust", "event_ts": "ts", "activity": "page"}}
    run_ingest(write_config(tmp_path, [src], timezone="America/New_York"), tmp_path / "db.duckdb")
    con = duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TEMP TABLE raw AS SELECT * FROM read_csv($f, all_varchar=true)", {"f": str(tmp_path / "e.csv")})
    want = con.execute("""SELECT CASE WHEN page = 'offset' THEN timezone('UTC', ts::TIMESTAMPTZ)
                                 ELSE timezone('UTC', timezone('Europe/Amsterdam', ts::TIMESTAMP)) END AS u FROM raw""").fetchall()
    got = con.execute("SELECT event_ts FROM events ORDER BY seq").fetchall()
    assert len(got) == len(want) == 4 * 24 * 360 + 1 and got == want
    bad = con.execute("""SELECT count(*) FROM events
                         WHERE event_date <> CAST((event_ts AT TIME ZONE 'UTC') AT TIME ZONE 'America/New_York' AS DATE)""")
    assert bad.fetchone() == (0,)
    assert con.execute("SELECT event_ts, event_date FROM events WHERE activity = 'offset'").fetchone() == (
        dt.datetime(2025, 6, 1, 10, 0), dt.date(2025, 6, 1))


# journeys crossing customers and segments, a customer without a customers row, NULL journey ids,
# equal timestamps (seq breaks the tie), a pair repeated in a journey and across a customer's journeys
EVENTS = [("a", "j1", "2025-01-01 10:00", "home"), ("a", "j1", "2025-01-01 10:00", "cart"),
          ("a", "j1", "2025-01-01 10:05", "home"), ("a", "j1", "2025-01-01 10:06", "cart"),
          ("b", "j1", "2025-01-01 09:59", "home"), ("a", None, "2025-01-02 08:00", "home"),
          ("a", None, "2025-01-02 08:01", "cart"), ("c", "j2", "2025-01-03 00:00", "help"),
          ("c", "j3", "2025-01-03 00:00", "help"), ("d", "j4", "2025-01-04 12:00", "home"),
          ("b", "j5", "2025-01-01 09:00", "home"), ("b", "j5", "2025-01-01 09:10", "cart")]


def _events_db(variant: str = "ingest") -> duckdb.DuckDBPyConnection:
    """EVENTS three times over, a week apart, in an in-memory database with customers a, b and c."""
    raw = duckdb.connect()
    raw.execute(DDL["events"])
    raw.execute(DDL["customers"])
    for i, (c, j, ts, act) in enumerate(EVENTS * 3):   # three copies, later seqs: ties everywhere
        day = dt.timedelta(days=7 * (i // len(EVENTS)) - (365 * 80 if variant == "before 1970" else 0))
        seq = i % len(EVENTS) if variant == "repeated seq" else 100 - i
        raw.execute("INSERT INTO events (customer_id, journey_id, event_ts, event_date, activity, source, seq) "
                    "VALUES (?, ?, ?, ?, ?, 'web', ?)", [c, j and f"{j}-{i // len(EVENTS)}",
                                                         dt.datetime.fromisoformat(ts) + day,
                                                         (dt.datetime.fromisoformat(ts) + day).date(), act, seq])
    raw.execute("INSERT INTO customers (customer_id, segment, source) VALUES ('a', 'Gold', 'crm'), ('b', 'Basic', 'crm'), "
                "('c', NULL, 'crm')")
    return raw


# 1: every segment (Basic, Gold, NULL) split into journey-number ranges; 12: Basic in one statement,
# Gold split in two, NULL its own
# the customer flags order by one HUGEINT (microseconds * 2**64 + seq) when seq is unique: times
# before 1970 are negative; a repeated seq (not from an ingest) takes the (event_ts, seq, journey) STRUCT
@pytest.mark.parametrize("chunk_rows,variant", [(None, "ingest"), (1, "ingest"), (12, "ingest"),
                                                (None, "before 1970"), (None, "repeated seq")])
def test_journey_steps_full_build_equals_the_ibis_definition(chunk_rows, variant, monkeypatch):
    if chunk_rows:
        monkeypatch.setattr(full_build, "CHUNK_ROWS", chunk_rows)
    raw = _events_db(variant)
    con = ibis.duckdb.from_connection(raw)
    ev = con.table("events").drop("attributes", "file_id")
    ev = ev.mutate(journey_key=ev.journey_id.fill_null(ev.customer_id))
    steps = with_steps(ev).left_join(con.table("customers").select("customer_id", "segment"), "customer_id")
    steps = steps.drop("customer_id_right")
    keys = ev.select("journey_key").distinct()
    steps = steps.inner_join(keys.mutate(journey_no=ibis.row_number().over(order_by="journey_key")), "journey_key")
    raw.execute(f"CREATE TABLE want AS {con.compile(steps.order_by(['segment', 'journey_key', 'pos']))}")
    build_journey_steps(con, [c for c in ev.columns if c != "journey_key"])
    assert raw.execute("DESCRIBE journey_steps").fetchall() == raw.execute("DESCRIBE want").fetchall()
    got, want = raw.execute("SELECT * FROM journey_steps").fetchall(), raw.execute("SELECT * FROM want").fetchall()
    assert len(got) == 3 * len(EVENTS) and got == want
    if variant != "ingest":
        return
    # hand-worked: j1-0 in time order is b home 09:59, the 10:00 tie by seq (cart 99 before home 100),
    # a home 10:05, a cart 10:06; b's first home -> cart is at 09:00 in j5-0; a's journeys without an id
    # (journey "a") start on 01-02, after j1-0
    j1 = raw.execute("""SELECT customer_id, activity, pos, next_activity, first_in_journey, first_for_customer
                        FROM journey_steps WHERE journey_key = 'j1-0' ORDER BY pos""").fetchall()
    assert j1 == [("b", "home", 1, "cart", True, False), ("a", "cart", 2, "home", True, True),
                  ("a", "home", 3, "home", True, True), ("a", "home", 4, "cart", False, True),
                  ("a", "cart", 5, None, True, True)]


@pytest.mark.parametrize("shuffled", [False, True])
def test_seq_follows_file_and_line_order(shuffled):
    con = duckdb.connect(config={"preserve_insertion_order": True})
    con.execute("ATTACH ':memory:' AS out")
    con.execute(DDL["events"].replace("CREATE TABLE ", "CREATE TABLE out.", 1))
    con.execute("INSERT INTO out.events (customer_id, event_ts, activity, source, seq) VALUES ('x', now(), 'a', 's', 41)")
    con.execute(f"""CREATE TEMP TABLE __typed AS SELECT 'c' || i AS customer_id, TIMESTAMP '2025-01-01' AS event_ts,
                    'a' AS activity, i // 1000 + 1 AS __fidx, i % 1000 + 2 AS __line,
                    CASE WHEN i % 13 = 0 THEN 'duplicate' END AS __reason FROM range(3000) t(i)
                    ORDER BY {'hash(i)' if shuffled else 'i'}""")
    source = type("Source", (), {"kind": "events", "name": "web"})()
    _load_numbered(con, source, "customer_id, event_ts, activity, $source AS source, __fidx AS file_id", 41)
    got = con.execute("SELECT customer_id, seq FROM out.events WHERE source = 'web' ORDER BY seq").fetchall()
    want = [(f"c{i}", 42 + k) for k, i in enumerate(i for i in range(3000) if i % 13)]
    assert got == want


def test_journeys_built_in_parts_equal_the_whole(monkeypatch):
    """Above `CHUNK_ROWS` steps the journeys are built per range of journey numbers (a journey's
    step list cannot spill): the same rows, in the same order, as one statement, including j1-*,
    whose events belong to customers of two segments."""
    tables = []
    for chunk_rows in (None, 5):
        if chunk_rows:
            monkeypatch.setattr(full_build, "CHUNK_ROWS", chunk_rows)
        raw = _events_db()
        model.build_derived(ibis.duckdb.from_connection(raw))
        tables.append(raw.execute("SELECT * FROM journeys").fetchall())
        assert raw.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '__cjw%'").fetchone() == (0,)
    whole, parts = tables
    assert sorted(parts, key=str) == sorted(whole, key=str) and len(whole) == 16   # j1-j5 a copy, and "a" (no id)
    # stored by segment (NULL last), then start; journeys starting at the same moment in either order
    order = [(r[7] is None, r[7] or "", r[2]) for r in parts]
    assert order == sorted(order)
    assert [r for r in whole if r[0] == "j1-0"][0][5] == "home → cart → home → home → cart"
