"""Ingest on small hand-checked exports: values, time zones, rejects with lines, atomic swaps."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json

import duckdb
import pandas as pd
import pytest

from cjworkbench.errors import RejectedRowsError, WorkbenchError
from cjworkbench.ingest import run_ingest

from .conftest import write_config

EVENTS = """cust;session;when;page;dev;amount;note
C1;s1;2024-07-01 12:00:00;/home;M;;hello
C1;s1;2024-07-01 12:00:00;/cart;M;12,5;
C2;s2;2024-01-15T08:00:00+01:00;/home;D;3,25;x
C2;s2;2024-01-15T08:00:00+01:00;/home;D;3,25;x
C3;s3;not a date;/home;D;;
;s4;2024-01-01 00:00:00;/home;D;;
C4;s5;2024-03-31 02:30:00;/home;Q;abc;
C5;s6;2024-02-01T10:00:00Z;/checkout;T;7;
"""


def _events_source(**over):
    src = {"name": "web", "kind": "events", "path": "events.csv", "delimiter": ";",
           "timezone": "Europe/Amsterdam", "decimal": ",",
           "columns": {"customer_id": "cust", "journey_id": "session", "event_ts": "when",
                       "activity": "page", "amount": "amount"},
           "constants": {"channel": "web"},
           "maps": {"device": {"from": "dev", "values": {"M": "mobile", "D": "desktop"}, "default": "keep"}}}
    src.update(over)
    return src


@pytest.fixture
def events_db(tmp_path):
    (tmp_path / "events.csv").write_text(EVENTS)
    cfg = write_config(tmp_path, [_events_source()])
    summary = run_ingest(cfg, tmp_path / "db.duckdb")
    con = duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True)
    yield summary, con
    con.close()


def test_counts_reconcile_and_reasons_name_lines(events_db):
    summary, con = events_db
    s = summary.source("web")
    assert (s.rows_read, s.rows_loaded, s.rows_rejected, s.rows_duplicate) == (8, 4, 4, 1)
    rejects = con.execute('SELECT line, "column", reason, value FROM rejects ORDER BY line').fetchall()
    assert rejects == [
        (5, None, "duplicate", None),
        (6, "when", "unparseable timestamp", "not a date"),
        (7, "cust", "missing customer_id", None),
        (8, "amount", "not a number", "abc"),
    ]
    assert s.examples["unparseable timestamp"][0]["value"] == "not a date"


def test_timestamps_become_utc_never_relabelled(events_db):
    _, con = events_db
    rows = dict(con.execute("SELECT journey_id, event_ts FROM events WHERE activity = '/home' "
                            "OR activity = '/checkout'").fetchall())
    assert rows["s1"] == dt.datetime(2024, 7, 1, 10, 0)    # naive, Amsterdam summer time (+02:00)
    assert rows["s2"] == dt.datetime(2024, 1, 15, 7, 0)    # offset +01:00 converted
    assert rows["s6"] == dt.datetime(2024, 2, 1, 10, 0)    # Z kept as UTC


def test_maps_constants_attributes_and_seq(events_db):
    _, con = events_db
    df = con.execute("SELECT customer_id, activity, device, channel, amount, seq, attributes "
                     "FROM events ORDER BY seq").df()
    assert df["seq"].tolist() == [1, 2, 3, 4]
    assert df["activity"].tolist() == ["/home", "/cart", "/home", "/checkout"]   # file order
    assert df["device"].tolist() == ["mobile", "mobile", "desktop", "T"]          # 'keep' keeps raw codes
    assert set(df["channel"]) == {"web"}
    assert df["amount"].tolist()[1:] == [12.5, 3.25, 7.0]
    assert pd.isna(df["amount"][0])
    assert dict(df["attributes"][0]) == {"note": "hello"}
    assert dict(df["attributes"][1]) == {}                 # empty values are left out


def test_keep_duplicates_loads_both(tmp_path):
    (tmp_path / "events.csv").write_text(EVENTS)
    summary = run_ingest(write_config(tmp_path, [_events_source(duplicates="keep")]), tmp_path / "db.duckdb")
    assert summary.source("web").rows_loaded == 5 and summary.source("web").rows_duplicate == 0


def test_reject_lines_stay_right_after_malformed_lines(tmp_path):
    (tmp_path / "e.csv").write_text("c,t,a\n1,2024-01-01,x\n2,2024-01-01\n3,2024-01-01,y,extra\n"
                                    "4,bad,z\n5,2024-01-02,w\n")
    src = {"name": "e", "kind": "events", "path": "e.csv",
           "columns": {"customer_id": "c", "event_ts": "t", "activity": "a"}}
    summary = run_ingest(write_config(tmp_path, [src]), tmp_path / "db.duckdb")
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        rej = con.execute("SELECT line, reason FROM rejects ORDER BY line").fetchall()
        assert rej == [(3, "malformed line"), (4, "malformed line"), (5, "unparseable timestamp")]
        assert con.execute("SELECT customer_id FROM events ORDER BY seq").fetchall() == [("1",), ("5",)]
    assert summary.rows_read == 5


def test_personal_columns_never_reach_the_file(tmp_path):
    (tmp_path / "crm.csv").write_text("id,email,segment,city\nC1,ann@example.org,Premium,Utrecht\n"
                                      "C2,bob@example.org,Value,Delft\nC1,ann@example.org,Value,Delft\n")
    src = {"name": "crm", "kind": "customers", "path": "crm.csv", "personal": ["email", "id"],
           "columns": {"customer_id": "id", "segment": "segment"}}
    summary = run_ingest(write_config(tmp_path, [src]), tmp_path / "db.duckdb")
    assert summary.source("crm").reasons == {"duplicate customer_id": 1}
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT customer_id, segment, attributes FROM customers ORDER BY segment").fetchall()
    assert [r[1] for r in rows] == ["Premium", "Value"]
    assert all(r[0].startswith("p_") and len(r[0]) == 22 for r in rows)
    assert rows[0][2]["email"].startswith("p_") and rows[0][2]["city"] == "Utrecht"
    blob = (tmp_path / "db.duckdb").read_bytes()
    assert b"ann@example.org" not in blob and b"bob@example.org" not in blob


def test_pseudonyms_are_keyed(tmp_path, monkeypatch):
    (tmp_path / "crm.csv").write_text("id\nC1\n")
    src = {"name": "crm", "kind": "customers", "path": "crm.csv", "personal": ["id"],
           "columns": {"customer_id": "id"}}
    cfg = write_config(tmp_path, [src])
    ids = []
    for key in ("key-one-0123456789abcdef", "key-one-0123456789abcdef", "key-two-0123456789abcdef"):
        monkeypatch.setenv("CJW_PSEUDONYM_KEY", key)
        run_ingest(cfg, tmp_path / "db.duckdb", new_key=key.startswith("key-two"))  # a new key must be asked for
        with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
            ids.append(con.execute("SELECT customer_id FROM customers").fetchone()[0])
    assert ids[0] == ids[1] != ids[2]


def test_feedback_scale_direction_and_out_of_range(tmp_path):
    (tmp_path / "ces.csv").write_text("case,cust,at,effort,verbatim\nK1,C1,2024-05-01 10:00,2,easy\n"
                                      "K2,C2,2024-05-01 11:00,9,what\nK3,C3,2024-05-01 12:00,,no score\n")
    src = {"name": "ces", "kind": "feedback", "path": "ces.csv", "instrument": "ces", "scale": [1, 7],
           "direction": "lower_is_better",
           "columns": {"journey_id": "case", "customer_id": "cust", "feedback_ts": "at", "score": "effort",
                       "text": "verbatim"}}
    summary = run_ingest(write_config(tmp_path, [src]), tmp_path / "db.duckdb")
    assert summary.source("ces").reasons == {"missing score": 1, "score outside scale": 1}
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        row = con.execute("SELECT instrument, score, scale_min, scale_max, direction, text, journey_id "
                          "FROM feedback").fetchall()
    assert row == [("ces", 2.0, 1.0, 7.0, "lower_is_better", "easy", "K1")]


def _canonical(path):
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ("customers", "events", "feedback", "rejects")}


def test_idempotent_and_history_kept(events_db, tmp_path):
    summary, con = events_db
    con.close()
    before = _canonical(tmp_path / "db.duckdb")
    run_ingest(tmp_path / "cjworkbench.yml", tmp_path / "db.duckdb")
    assert _canonical(tmp_path / "db.duckdb") == before
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as c:
        assert c.execute("SELECT count(DISTINCT run_id) FROM ingest_runs").fetchone()[0] == 2


def test_failed_ingest_leaves_previous_database_untouched(events_db, tmp_path):
    _, con = events_db
    con.close()
    db = tmp_path / "db.duckdb"
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    (tmp_path / "broken.csv.gz").write_bytes(gzip.compress(EVENTS.encode() * 50)[:200])
    bad = write_config(tmp_path, [_events_source(), _events_source(name="more", path="broken.csv.gz")])
    with pytest.raises(WorkbenchError, match="truncated gzip"):
        run_ingest(bad, db)
    with pytest.raises(RejectedRowsError, match="4 rows rejected"):
        run_ingest(write_config(tmp_path, [_events_source()]), db, strict=True)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert not [p for p in tmp_path.iterdir() if "building" in p.name]


def test_glob_of_files_keeps_file_order_and_names_files(tmp_path):
    (tmp_path / "part-1.csv").write_text("c,t,a\n1,2024-01-01,x\n")
    (tmp_path / "part-2.csv").write_text("c,t,a,extra\n2,2024-01-01,y,e\n2,2024-01-01,y,e\n")
    src = {"name": "e", "kind": "events", "path": "part-*.csv",
           "columns": {"customer_id": "c", "event_ts": "t", "activity": "a"}}
    summary = run_ingest(write_config(tmp_path, [src]), tmp_path / "db.duckdb")
    assert summary.source("e").rows_loaded == 2 and summary.source("e").files[1].endswith("part-2.csv")
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        assert con.execute("SELECT file, line FROM rejects").fetchall() == [(str(tmp_path / "part-2.csv"), 3)]


def test_json_summary_is_machine_readable(events_db):
    summary, _ = events_db
    doc = json.loads(json.dumps(summary.to_dict()))
    assert doc["sources"][0]["rows_read"] == doc["sources"][0]["rows_loaded"] + doc["sources"][0]["rows_rejected"]


def test_reader_rejects_stay_with_their_source(tmp_path):
    """DuckDB keeps reject tables per connection: a second source must not inherit the first's."""
    (tmp_path / "a.csv").write_text("c,t,a\n1,2024-01-01,x\n2,2024-01-01\n")
    (tmp_path / "b.csv").write_text("c,t,a\n3,2024-01-01,y\n")
    (tmp_path / "c.jsonl").write_text('{"c": "4", "t": "2024-01-01", "a": "z"}\n')
    cols = {"customer_id": "c", "event_ts": "t", "activity": "a"}
    summary = run_ingest(write_config(tmp_path, [
        {"name": "a", "kind": "events", "path": "a.csv", "columns": cols},
        {"name": "b", "kind": "events", "path": "b.csv", "columns": cols},
        {"name": "c", "kind": "events", "path": "c.jsonl", "columns": cols}]), tmp_path / "db.duckdb")
    assert [(s.rows_read, s.rows_rejected) for s in summary.sources] == [(2, 1), (1, 0), (1, 0)]
