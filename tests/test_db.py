"""connect(), describe(), Parquet export, and hostile values through every config entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import ibis
import pytest

import cjworkbench
from cjworkbench.cli import main
from cjworkbench.db import describe
from cjworkbench.errors import DatabaseError
from cjworkbench.designs import store
from cjworkbench.export import export_parquet
from cjworkbench.ingest import run_ingest

from .conftest import write_config

HOSTILE = ["O'Brien", "'; DROP TABLE events; --", "Zoë ✓ 🚀", 'quote " double', "back\\slash"]


@pytest.fixture
def db(tmp_path):
    folder = tmp_path / "it's a folder"      # an apostrophe in the path itself
    folder.mkdir()
    lines = ["cust,ts,act,chan,score"] + [
        f"C{i % 7},2024-0{1 + i % 3}-1{i % 9} 10:00,{['open', 'close'][i % 2]},{'TEL' if i % 3 else 'X'},{i % 11}"
        for i in range(60)]
    (folder / "e.csv").write_text("\n".join(lines) + "\n")
    sources = [
        {"name": "e", "kind": "events", "path": "e.csv",
         "columns": {"customer_id": "cust", "event_ts": "ts", "activity": "act"},
         "constants": {"department": HOSTILE[1], "touchpoint": HOSTILE[0]},
         "maps": {"channel": {"from": "chan", "values": {"TEL": HOSTILE[2], "X": HOSTILE[3]}}}},
        {"name": "nps", "kind": "feedback", "path": "e.csv", "instrument": "nps",
         "columns": {"customer_id": "cust", "feedback_ts": "ts", "score": "score"},
         "constants": {"text": HOSTILE[4]}},
    ]
    path = folder / "db.duckdb"
    run_ingest(write_config(folder, sources), path)
    return path


def test_hostile_values_are_stored_verbatim(db):
    con = cjworkbench.connect(db)
    ev = con.table("events").execute()
    assert set(ev["department"]) == {HOSTILE[1]} and set(ev["touchpoint"]) == {HOSTILE[0]}
    assert set(ev["channel"]) == {HOSTILE[2], HOSTILE[3]}
    assert len(ev) == 60
    assert set(con.table("feedback").execute()["text"]) == {HOSTILE[4]}


def test_connect_reads_with_ibis(db):
    con = cjworkbench.connect(db)
    ev = con.table("events")
    counts = ev.group_by("activity").aggregate(n=ev.count()).order_by("activity").execute()
    assert counts.to_dict("list") == {"activity": ["close", "open"], "n": [30, 30]}
    assert "SELECT" in ibis.to_sql(ev.filter(ev.channel == HOSTILE[1]))


def test_connect_errors_are_actionable(tmp_path):
    with pytest.raises(DatabaseError, match="does not exist. Build it with `cjw ingest"):
        cjworkbench.connect(tmp_path / "none.duckdb")
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    with pytest.raises(DatabaseError, match="does not follow the data contract: table\\(s\\) customers, events, feedback"):
        cjworkbench.connect(other)


def test_readers_share_the_file_across_processes(db):
    code = ("import cjworkbench, sys; c = cjworkbench.connect(sys.argv[1]); "
            "print(c.table('events').count().execute())")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    with duckdb.connect(str(db), read_only=True):
        outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outs == ["60", "60", "60"]


def test_describe_and_cli_info(db, capsys):
    info = describe(cjworkbench.connect(db))
    assert info["tables"] == {"customers": 0, "events": 60, "feedback": 60, "ingest_runs": 2, "rejects": 0,
                              "ingest_files": 2}
    assert info["time_ranges"]["events"] == ["2024-01-10 10:00:00", "2024-03-18 10:00:00"]
    assert {(s["source"], s["rows"]) for s in info["sources"]} == {("e", 60), ("nps", 60)}
    assert main(["info", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tables"]["events"] == 60


def test_parquet_export_feeds_any_ibis_backend(db, tmp_path):
    out = tmp_path / "parquet"
    counts = export_parquet(db, out)
    assert counts["events"] == 60 and counts["feedback"] == 60
    assert sorted(p.name for p in (out / "events").iterdir()) == [
        "event_month=2024-01", "event_month=2024-02", "event_month=2024-03"]
    backend = ibis.duckdb.connect()
    for table in ("customers", "events", "feedback"):
        backend.read_parquet(str(out / table / "**" / "*.parquet"), table_name=table)
    con = cjworkbench.connect(backend)
    theirs = con.table("events").order_by("seq").execute()
    ours = cjworkbench.connect(db).table("events").order_by("seq").execute()
    backend.read_parquet(str(out / "designs" / "*.parquet"), table_name="designs")   # designs travel with the data
    assert counts["designs"] >= 1
    here = cjworkbench.connect(db)
    assert (store.business_timezone(con), store.languages(con)) == (store.business_timezone(here), store.languages(here))
    assert theirs["activity"].tolist() == ours["activity"].tolist()
    assert theirs["event_ts"].tolist() == ours["event_ts"].tolist()
