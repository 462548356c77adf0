"""Incremental refresh (issue #15): only new and changed files are loaded, derived tables are
redone for the touched journeys only and equal a full rebuild, a kill at any step leaves the last
good database, and a reader in another process never fails and sees the new rows once they commit.

Hand-built exports: a customers file and a folder of daily event files, with journey ids shared
across days and customers, a row repeated across files, and a reject.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import yaml

import cjworkbench
from cjworkbench.db import reopen_if_replaced
from cjworkbench.ingest import run_ingest

from .conftest import write_config

PY = sys.executable
CUSTOMERS = "cid,seg\nC1,gold\nC2,silver\nC3,gold\nC4,bronze\n"
DAY1 = ("cid,jid,ts,act\n"
        "C1,J1,2024-03-01 09:00:00,visit\nC1,J1,2024-03-01 09:05:00,cart\nC2,,2024-03-01 10:00:00,visit\n"
        "C3,J3,2024-03-01 11:00:00,visit\nC3,J3,not a time,cart\n")
DAY2 = ("cid,jid,ts,act\n"
        "C1,J1,2024-03-02 08:00:00,buy\nC2,,2024-03-02 10:30:00,cart\nC4,J4,2024-03-02 12:00:00,visit\n"
        "C2,J1,2024-03-02 09:00:00,help\n"   # a journey shared by two customers (a case, a campaign)
        "C3,J3,2024-03-01 11:00:00,visit\n")   # the last row repeats a day-1 row: a duplicate across files
COMPARE = ("customers", "events", "journeys", "journey_steps", "rejects", "ingest_files")


def _folder(root: Path, days: dict[str, str], *, timezone: str = "UTC") -> Path:
    (root / "events").mkdir(parents=True, exist_ok=True)
    (root / "crm.csv").write_text(CUSTOMERS)
    for name, text in days.items():
        (root / "events" / name).write_text(text)
    return write_config(root, [
        {"name": "crm", "kind": "customers", "path": "crm.csv", "columns": {"customer_id": "cid", "segment": "seg"}},
        {"name": "web", "kind": "events", "path": "events", "format": "csv",
         "columns": {"customer_id": "cid", "journey_id": "jid", "event_ts": "ts", "activity": "act"}}],
        timezone=timezone)


def _tables(db: Path, *, drop: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every compared table as sorted rows, without columns that name a run or a folder."""
    noise = {"run_id", "loaded_ts", "mtime_ns", "file", *drop}
    out = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for t in COMPARE:
            cols = [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall() if r[0] not in noise]
            out[t] = sorted(con.execute(f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM {t}").fetchall(), key=repr)
    return out


def _counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("events", "journey_steps", "journeys", "rejects", "ingest_files", "ingest_runs")}


def _full(tmp_path: Path, days: dict[str, str], name: str) -> Path:
    """The reference: a fresh database built from the same files in one full ingest."""
    cfg = _folder(tmp_path / name, days)
    run_ingest(cfg, tmp_path / name / "db.duckdb", progress=None)
    return tmp_path / name / "db.duckdb"


def test_a_new_file_is_added_and_derived_tables_equal_a_full_rebuild(tmp_path):
    cfg = _folder(tmp_path / "live", {"2024-03-01.csv": DAY1})
    db = tmp_path / "live" / "db.duckdb"
    first = run_ingest(cfg, db)
    assert first.mode == "full" and first.rows_loaded == 4 + 4
    (tmp_path / "live" / "events" / "2024-03-02.csv").write_text(DAY2)
    second = run_ingest(cfg, db)
    assert second.mode == "refresh" and second.source("crm").files == []   # crm was not re-read
    web = second.source("web")
    assert (web.rows_read, web.rows_loaded, web.rows_duplicate) == (5, 4, 1)          # day-1 row seen again
    assert _tables(db) == _tables(_full(tmp_path, {"2024-03-01.csv": DAY1, "2024-03-02.csv": DAY2}, "ref"))
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT variant FROM journeys WHERE journey_key = 'J1'").fetchone()[0] == \
            "visit → cart → buy → help"
        files = con.execute("SELECT path, rows_read, rows_loaded, rows_rejected, rows_duplicate FROM ingest_files "
                            "ORDER BY file_id").fetchall()
        assert files == [("crm.csv", 4, 4, 0, 0), ("events/2024-03-01.csv", 5, 4, 1, 0),
                         ("events/2024-03-02.csv", 5, 4, 1, 1)]
        assert con.execute("SELECT source, mode, files FROM ingest_runs ORDER BY finished_ts, source").fetchall() == \
            [("crm", "full", [str(tmp_path / "live" / "crm.csv")]),
             ("web", "full", [str(tmp_path / "live" / "events" / "2024-03-01.csv")]),
             ("crm", "refresh", []), ("web", "refresh", [str(tmp_path / "live" / "events" / "2024-03-02.csv")])]


def test_a_changed_file_replaces_its_rows_and_an_unchanged_one_is_skipped(tmp_path):
    days = {"2024-03-01.csv": DAY1, "2024-03-02.csv": DAY2}
    cfg = _folder(tmp_path / "live", days)
    db = tmp_path / "live" / "db.duckdb"
    run_ingest(cfg, db)
    day1 = DAY1.replace("C3,J3,not a time,cart\n", "C3,J3,2024-03-01 11:30:00,cart\n")   # the reject fixed
    (tmp_path / "live" / "events" / "2024-03-01.csv").write_text(day1)
    s = run_ingest(cfg, db)
    assert s.mode == "refresh" and s.source("web").files == [str(tmp_path / "live" / "events" / "2024-03-01.csv")]
    assert "web: 0 new, 1 changed, 1 unchanged file(s)" in s.notes[1]
    ref = _full(tmp_path, {"2024-03-01.csv": day1, "2024-03-02.csv": DAY2}, "ref")
    # the replaced rows come after the others in ingest order (seq) and keep or get new journey numbers
    assert _tables(db, drop=("seq", "journey_no", "file_id")) == _tables(ref, drop=("seq", "journey_no", "file_id"))
    assert _counts(db)["events"] == 9 and _counts(db)["rejects"] == 1   # not 14 rows, the old reject gone
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT journey_key) = count(DISTINCT journey_no) FROM journey_steps"
                           ).fetchone()[0]
        before = con.execute("SELECT file_id, run_id FROM ingest_files ORDER BY file_id").fetchall()
    os.utime(tmp_path / "live" / "crm.csv")   # touched, same bytes: hashed again, still unchanged
    again = run_ingest(cfg, db)   # nothing changed: nothing read, the file records stay as they were
    assert again.mode == "refresh" and again.rows_read == 0 and "0 new, 0 changed, 2 unchanged" in again.notes[1]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT file_id, run_id FROM ingest_files ORDER BY file_id").fetchall() == before
        assert con.execute("SELECT mtime_ns FROM ingest_files WHERE path = 'crm.csv'").fetchone()[0] == \
            (tmp_path / "live" / "crm.csv").stat().st_mtime_ns


def test_a_removed_file_keeps_its_rows_and_full_drops_them(tmp_path):
    cfg = _folder(tmp_path / "live", {"2024-03-01.csv": DAY1, "2024-03-02.csv": DAY2})
    db = tmp_path / "live" / "db.duckdb"
    run_ingest(cfg, db)
    (tmp_path / "live" / "events" / "2024-03-02.csv").unlink()
    s = run_ingest(cfg, db)
    assert "1 no longer in the config's folder, their rows kept (events/2024-03-02.csv" in s.notes[1]
    assert _counts(db)["events"] == 8
    shutil.copy(tmp_path / "live" / "events" / "2024-03-01.csv", tmp_path / "live" / "events" / "copy.csv")
    s = run_ingest(cfg, db)   # a new name for bytes already loaded: skipped, not 4 duplicates
    assert "1 skipped (same bytes as a loaded file: events/copy.csv)" in s.notes[1] and _counts(db)["events"] == 8
    (tmp_path / "live" / "events" / "copy.csv").unlink()
    s = run_ingest(cfg, db, full=True)
    assert s.mode == "full" and s.notes == ["full rebuild (--full, --strict or --new-key)"] and _counts(db)["events"] == 4


def test_a_changed_setting_rebuilds_everything_and_says_which(tmp_path):
    cfg = _folder(tmp_path / "live", {"2024-03-01.csv": DAY1})
    db = tmp_path / "live" / "db.duckdb"
    run_ingest(cfg, db)
    cfg = _folder(tmp_path / "live", {}, timezone="Europe/Paris")
    s = run_ingest(cfg, db)
    assert s.mode == "full" and s.notes == ["full rebuild: the time zone changed (UTC -> Europe/Paris)"]
    doc = yaml.safe_load(cfg.read_text())
    doc["sources"][1]["columns"]["channel"] = "act"
    cfg.write_text(yaml.safe_dump(doc))
    s = run_ingest(cfg, db)
    assert s.notes == ["full rebuild: source 'web': setting 'columns' changed"]
    assert _counts(db)["ingest_runs"] == 6   # history carried through both rebuilds
    doc["sources"][1]["path"] = "events/*.csv"   # another pattern is another setting, though it matches the same
    cfg.write_text(yaml.safe_dump(doc))
    assert run_ingest(cfg, db).notes == ["full rebuild: source 'web': setting 'path' changed"]


# --- kills and readers ---------------------------------------------------------------------------

STEPS = ("deleted", "loaded", "derived", "checkpointed", "swapped")   # "copied" is like "deleted"


def _killed_at(step: str, cfg: Path, db: Path) -> None:
    """In a spawned child: the refresh SIGKILLs itself at `step`. (Not forked: a fork of this process,
    whose DuckDB and test threads may hold locks at that instant, deadlocked once under load.)"""
    os.environ["CJW_INGEST_KILL_AT"] = step
    run_ingest(cfg, db)
    os._exit(0)   # not reached: the kill point ends the process


def test_a_refresh_killed_at_any_step_leaves_the_last_good_database(tmp_path):
    base = tmp_path / "base"
    cfg = _folder(base, {"2024-03-01.csv": DAY1, "2024-03-02.csv": DAY2})
    doc = yaml.safe_load(cfg.read_text())
    cfg.write_text(yaml.safe_dump({**doc, "limits": {**doc.get("limits", {}), "stage_in_memory": 0}}))   # on disk
    run_ingest(cfg, base / "db.duckdb")
    good = _counts(base / "db.duckdb")
    procs = {}
    for step in STEPS:   # each kill in its own copy, all running at once
        root = tmp_path / step
        shutil.copytree(base, root)
        (root / "events" / "2024-03-01.csv").write_text(DAY1 + "C2,,2024-03-03 10:00:00,buy\n")   # changed
        (root / "events" / "2024-03-03.csv").write_text("cid,jid,ts,act\nC4,J4,2024-03-03 12:00:00,buy\n")  # new
        procs[step] = multiprocessing.get_context("spawn").Process(
            target=_killed_at, args=(step, root / "cjworkbench.yml", root / "db.duckdb"))
        procs[step].start()
    for step, proc in procs.items():
        proc.join(timeout=120)
        assert proc.exitcode == -signal.SIGKILL, step
        db = tmp_path / step / "db.duckdb"
        after = _counts(db)
        if step == "swapped":   # killed after the rename: the new database is the good one
            assert after["events"] == good["events"] + 2 and after["ingest_runs"] == good["ingest_runs"] + 2
        else:
            assert after == good, step
        # the kill left the run's scratch folder with its staging database: the next run removes it
        assert (tmp_path / step / f".db.duckdb.building-{proc.pid}.tmp" / "staging.duckdb").is_file(), step
        s = run_ingest(tmp_path / step / "cjworkbench.yml", db)   # debris removed, the run succeeds
        assert _counts(db)["events"] == good["events"] + 2, step
        assert s.mode == "refresh" and s.source("web").rows_loaded == (0 if step == "swapped" else 6)
        assert sorted(p.name for p in (tmp_path / step).iterdir() if p.name.startswith(".db.duckdb.building")) == []


READER = """
import sys, time, duckdb
seen = []
end = time.time() + 300   # ends as soon as it has seen the new count
while time.time() < end:
    with duckdb.connect(sys.argv[1], read_only=True) as con:
        n = con.execute("SELECT count(*) FROM events").fetchone()[0]
        con.execute("SELECT count(*) FROM journey_steps JOIN journeys USING (journey_key)").fetchone()
    if not seen or seen[-1] != n:
        seen.append(n)
        print(n, flush=True)
    if len(seen) == 2:
        break
"""


def test_a_reader_keeps_reading_during_a_refresh_and_sees_the_new_rows(tmp_path):
    cfg = _folder(tmp_path / "live", {"2024-03-01.csv": DAY1})
    db = tmp_path / "live" / "db.duckdb"
    run_ingest(cfg, db)
    reader = subprocess.Popen([PY, "-c", READER, str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "4"   # reading before the refresh starts
    (tmp_path / "live" / "events" / "2024-03-02.csv").write_text(DAY2)
    with duckdb.connect(str(db), read_only=True):   # and a reader holding the file open all along
        run_ingest(cfg, db)
    out, err = reader.communicate(timeout=360)
    assert reader.returncode == 0 and err == ""
    assert out.split() == ["8"]   # then the new count, no error in between


def test_a_dashboard_connection_sees_the_refreshed_file_at_its_next_redraw(tmp_path):
    cfg = _folder(tmp_path / "live", {"2024-03-01.csv": DAY1})
    db = tmp_path / "live" / "db.duckdb"
    run_ingest(cfg, db)
    con = cjworkbench.connect(db)
    assert reopen_if_replaced(con) is con and con.table("events").count().execute() == 4
    (tmp_path / "live" / "events" / "2024-03-02.csv").write_text(DAY2)
    run_ingest(cfg, db)   # with this process's own connection open
    assert con.table("events").count().execute() == 4   # an open connection keeps the file it opened
    fresh = reopen_if_replaced(con)
    assert fresh is not con and fresh.table("events").count().execute() == 8
    assert reopen_if_replaced(fresh) is fresh
