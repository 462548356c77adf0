"""What an ingest records beside the data: its run (`ingest_runs`, with the settings a refresh
compares), the files it loaded (`ingest_files`), its rejects with their file_id, and the history
of the runs before it (carried into a rebuilt database; a refresh's copy already has it).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from ..config import IngestConfig
from ..errors import DatabaseError, WorkbenchError
from ..version import __version__
from .refresh import Plan
from .summary import SourceResult
from .target import first_line


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def carry_history(con, db_path: Path, fingerprint: str, new_key: bool, note) -> None:
    """Earlier runs of the database being replaced go to `__history` (read-only, best effort);
    a key other than the one recorded there is refused unless `new_key`."""
    if not db_path.exists():
        return
    try:
        con.execute(f"ATTACH {_literal(str(db_path))} AS prev (READ_ONLY)")
    except duckdb.Error as exc:
        note(f"earlier ingest history not carried over ({first_line(exc)})")
        return
    try:
        have = {r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE prev.ingest_runs)").fetchall()}
        cols = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE __history)").fetchall() if r[0] in have]
        con.execute(f"INSERT INTO __history BY NAME SELECT {', '.join(_q(c) for c in cols)} FROM prev.ingest_runs")
        recorded = con.execute("SELECT key_fingerprint FROM __history ORDER BY finished_ts DESC NULLS LAST, "
                               "run_id DESC LIMIT 1").fetchone()
    except duckdb.Error as exc:
        note(f"earlier ingest history not carried over ({first_line(exc)})")
        recorded = None
    finally:
        con.execute("DETACH prev")
    if recorded is not None and recorded[0] is None:
        note(f"the last run recorded in '{db_path.name}' has no key fingerprint (an older version built it): "
             f"the pseudonymisation key cannot be checked this time; from now on it is")
    recorded = recorded[0] if recorded else None
    if recorded and recorded != fingerprint:
        if not new_key:
            raise DatabaseError(
                f"The pseudonymisation key is not the one '{db_path.name}' was built with (key fingerprint "
                f"{fingerprint}, recorded {recorded}): every pseudonymised id would change, and joins with "
                f"earlier results would silently break. Use the original key ($CJW_PSEUDONYM_KEY or its key "
                f"file), or pass --new-key to rebuild the whole database under the new key.")
        note(f"new pseudonymisation key (fingerprint {fingerprint}, was {recorded}): every pseudonymised id changes")


def record_run(con, cfg: IngestConfig, results: list[SourceResult], run_id: str, fingerprint: str,
                 plan: Plan) -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    loaded = [f for f in plan.files if f.file_id is not None]
    for f in plan.files:
        if f.restat:
            con.execute("UPDATE out.ingest_files SET mtime_ns = ? WHERE file_id = ?", [f.mtime_ns, f.old_id])
    con.execute("CREATE TABLE __file_ids (source VARCHAR, file VARCHAR, file_id BIGINT)")
    if loaded:
        con.executemany("INSERT INTO out.ingest_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [[f.file_id, f.source, f.kind, f.rel, f.blake2b, f.size, f.mtime_ns, f.counts["rows_read"],
                          f.counts["rows_loaded"], f.counts["rows_rejected"], f.counts["rows_duplicate"],
                          f.counts["rows_filtered"], run_id, now] for f in loaded])
        con.executemany("INSERT INTO __file_ids VALUES (?, ?, ?)", [[f.source, str(f.path), f.file_id] for f in loaded])
    con.execute("INSERT INTO out.rejects SELECT r.*, f.file_id FROM __rejects r LEFT JOIN __file_ids f "
                "USING (source, file) ORDER BY r.source, r.file, r.line")
    mode = "full" if plan.full else "refresh"
    for r in results:
        con.execute("INSERT INTO out.ingest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, r.name, r.kind, r.files, cfg.sha256, now, now, r.rows_read, r.rows_loaded,
                     r.rows_rejected, r.rows_duplicate, "ok", __version__, fingerprint, r.rows_filtered,
                     mode, json.dumps(plan.settings, sort_keys=True)])
        if r.rows_loaded + r.rows_rejected + r.rows_filtered != r.rows_read:
            raise WorkbenchError(f"Internal error: counts of source '{r.name}' do not reconcile ({r.rows_loaded} + "
                                 f"{r.rows_rejected} + {r.rows_filtered} != {r.rows_read}).")
    con.execute("INSERT INTO out.ingest_runs SELECT * FROM __history WHERE run_id <> ? ORDER BY finished_ts, run_id",
                [run_id])
