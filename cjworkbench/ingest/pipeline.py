"""One ingest run: every source of a config into a new DuckDB file, swapped in only on success.

Raw rows are staged in an in-memory DuckDB (personal columns are hashed there), and only
canonical rows and reject rows are written to the file being built. A failure at any point
removes the half-built file; the previous database is never opened for writing.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import ibis

from ..version import __version__
from ..config import IngestConfig, Source, load_config
from ..contract import BOOKKEEPING_TABLES, CANONICAL_TABLES, DDL
from ..errors import DatabaseError, RejectedRowsError, WorkbenchError
from ..model import DERIVED, build_derived
from .pseudonym import load_key, pseudonymiser
from .readers import read_file
from .summary import IngestSummary, SourceResult
from .transform import Params, check_columns, export_column_of, export_columns, pseudonymise, \
    required_checks, typed_select


def run_ingest(config_path: str | Path, db_path: str | Path, *, strict: bool = False,
               progress=None) -> IngestSummary:
    """Ingest every source of `config_path` into `db_path` atomically; return the counts.

    `progress` is called with one line of text per step (None: silent).
    """
    say = progress or (lambda _msg: None)
    cfg = load_config(config_path)
    db_path = Path(db_path).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    build = db_path.with_name(f".{db_path.name}.building-{os.getpid()}")
    _remove(build)
    started = time.perf_counter()
    con = _staging_connection(build)
    try:
        run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
        results = [_ingest_source(con, cfg, src, i, say) for i, src in enumerate(cfg.sources)]
        t0 = time.perf_counter()
        con.execute("USE out")
        build_derived(ibis.duckdb.from_connection(con))
        con.execute("USE memory")
        say(f"derived tables {', '.join(DERIVED)} built in {time.perf_counter() - t0:.1f} s")
        _bookkeeping(con, cfg, results, run_id, db_path)
        summary = IngestSummary(str(db_path), run_id, results, time.perf_counter() - started)
        if strict and summary.rows_rejected:
            raise RejectedRowsError("--strict: " + summary.reject_overview() + " Nothing was written; "
                                    "the previous database is untouched.")
        con.execute("CHECKPOINT out")
        con.execute("DETACH out")
        con.close()
        os.replace(build, db_path)
        say(f"wrote {db_path} in {summary.seconds:.1f} s")
        return summary
    except BaseException:
        con.close()
        _remove(build)
        raise


def _remove(path: Path) -> None:
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)


def _staging_connection(build: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"preserve_insertion_order": True})
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET max_temp_directory_size = '20GB'")
    con.create_function("cjw_pseudonym", pseudonymiser(load_key()), ["VARCHAR"], "VARCHAR",
                        null_handling="special", side_effects=False)
    try:
        con.execute(f"ATTACH {_literal(str(build))} AS out")
    except duckdb.Error as exc:
        con.close()
        raise DatabaseError(f"Cannot create '{build}': {exc}. Is the folder writable?") from None
    for table in CANONICAL_TABLES + BOOKKEEPING_TABLES:
        con.execute(DDL[table].replace("CREATE TABLE ", "CREATE TABLE out.", 1))
    con.execute("CREATE TEMP TABLE __rejects AS SELECT * FROM out.rejects LIMIT 0")
    return con


def _ingest_source(con, cfg: IngestConfig, src: Source, index: int, say) -> SourceResult:
    t0 = time.perf_counter()
    for fidx, path in enumerate(src.files):
        size = path.stat().st_size / 1e6
        say(f"[{index + 1}/{len(cfg.sources)}] {src.name}: reading {path.name} ({size:,.1f} MB)")
        read_file(con, src, path, "__file_rows")
        con.execute("ALTER TABLE __file_rows ADD COLUMN __file VARCHAR DEFAULT " + _literal(str(path)))
        con.execute(f"ALTER TABLE __file_rows ADD COLUMN __fidx INTEGER DEFAULT {fidx}")
        if fidx == 0:
            con.execute("CREATE OR REPLACE TEMP TABLE __src AS SELECT * FROM __file_rows")
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE __src AS SELECT * FROM __src UNION ALL BY NAME "
                        "SELECT * FROM __file_rows")
        con.execute("DROP TABLE __file_rows")
    available = export_columns(con, "__src")
    check_columns(src, available)
    pseudonymise(con, src, "__src")
    _type_and_validate(con, src, available)
    loaded = _load(con, src)
    result = _result(con, src, loaded, time.perf_counter() - t0)
    say(f"[{index + 1}/{len(cfg.sources)}] {src.name}: {result.rows_read:,} read, {result.rows_loaded:,} loaded, "
        f"{result.rows_rejected:,} rejected ({result.seconds:.1f} s)")
    con.execute("DROP TABLE __src; DROP TABLE __typed")
    return result


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _type_and_validate(con, src: Source, available: list[str]) -> None:
    """__typed: canonical columns plus __reason (NULL when the row loads) for every staged row."""
    p = Params()
    items, checks = typed_select(src, available, p)
    dup = "false" if src.keep_duplicates else (
        f"row_number() OVER (PARTITION BY {', '.join(_q(c) for c in available)} ORDER BY __fidx, __line) > 1")
    con.execute(f"CREATE OR REPLACE TEMP TABLE __typed AS SELECT {', '.join(items)}, {dup} AS __dup, "
                f"__fidx, __file, __line FROM __src", p)
    checks = checks + required_checks(src)
    p = Params()
    reason = " ".join(f"WHEN {bad} THEN {p(r)}" for r, _f, bad, _v in checks)
    column = " ".join(f"WHEN {bad} THEN {p(export_column_of(src, f))}" for _r, f, bad, _v in checks)
    value = " ".join(f"WHEN {bad} THEN {v}" for _r, _f, bad, v in checks)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE __typed AS SELECT *,
        CASE WHEN __dup THEN 'duplicate' {reason} END AS __reason,
        CASE WHEN __dup THEN NULL {column} END AS __rcolumn,
        CASE WHEN __dup THEN NULL {value} END::VARCHAR AS __rvalue FROM __typed""", p)
    if src.kind == "customers":
        _reject_repeated_keys(con, src)


def _reject_repeated_keys(con, src: Source) -> None:
    """One row per customer_id: a later row, or an id an earlier source loaded, is rejected."""
    con.execute("""UPDATE __typed SET __reason = 'duplicate customer_id', __rcolumn = $col,
                   __rvalue = customer_id WHERE __reason IS NULL AND (
                     rowid IN (SELECT r FROM (SELECT rowid AS r, row_number() OVER (
                               PARTITION BY customer_id ORDER BY __fidx, __line) AS k
                               FROM __typed WHERE __reason IS NULL) WHERE k > 1)
                     OR customer_id IN (SELECT customer_id FROM out.customers))""",
                {"col": export_column_of(src, "customer_id")})


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _load(con, src: Source) -> int:
    """Append the valid rows to the canonical table (with `seq`), the rest to the rejects."""
    con.execute("""INSERT INTO __rejects SELECT $source, __file, __line, __rcolumn, __reason, __rvalue,
                   NULL FROM __typed WHERE __reason IS NOT NULL ORDER BY __fidx, __line""", {"source": src.name})
    cols = [c for c in _table_columns(con, src.kind) if c not in ("source", "seq")]
    seq = ""
    if src.kind != "customers":
        offset = con.execute(f"SELECT coalesce(max(seq), 0) FROM out.{src.kind}").fetchone()[0]
        seq = f", {offset} + row_number() OVER (ORDER BY __fidx, __line) AS seq"
    con.execute(f"""INSERT INTO out.{src.kind} BY NAME SELECT {', '.join(cols)}, $source AS source{seq}
                    FROM __typed WHERE __reason IS NULL ORDER BY __fidx, __line""", {"source": src.name})
    return con.execute("SELECT count(*) FROM __typed WHERE __reason IS NULL").fetchone()[0]


def _table_columns(con, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE out.{table})").fetchall()]


def _result(con, src: Source, loaded: int, seconds: float) -> SourceResult:
    reasons = dict(con.execute("SELECT reason, count(*) FROM __rejects WHERE source = ? GROUP BY reason "
                               "ORDER BY count(*) DESC, reason", [src.name]).fetchall())
    examples = {}
    for reason in reasons:
        rows = con.execute("SELECT file, line, \"column\", value FROM __rejects WHERE source = ? AND reason = ? "
                           "ORDER BY file, line LIMIT 3", [src.name, reason]).fetchall()
        examples[reason] = [{"file": Path(f).name, "line": ln, "column": c, "value": v} for f, ln, c, v in rows]
    rejected = sum(reasons.values())
    return SourceResult(src.name, src.kind, [str(f) for f in src.files], loaded + rejected, loaded, rejected,
                        reasons.get("duplicate", 0), reasons, examples, seconds)


def _bookkeeping(con, cfg: IngestConfig, results: list[SourceResult], run_id: str, db_path: Path) -> None:
    con.execute("INSERT INTO out.rejects SELECT * FROM __rejects ORDER BY source, file, line")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for r in results:
        con.execute("INSERT INTO out.ingest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, r.name, r.kind, r.files, cfg.sha256, now, now, r.rows_read, r.rows_loaded,
                     r.rows_rejected, r.rows_duplicate, "ok", __version__])
        if r.rows_loaded + r.rows_rejected != r.rows_read:
            raise WorkbenchError(f"Internal error: counts of source '{r.name}' do not reconcile "
                                 f"({r.rows_loaded} + {r.rows_rejected} != {r.rows_read}).")
    if db_path.exists():  # keep the history of earlier runs, read-only and best effort
        try:
            con.execute(f"ATTACH {_literal(str(db_path))} AS prev (READ_ONLY)")
            con.execute("INSERT INTO out.ingest_runs SELECT * FROM prev.ingest_runs WHERE run_id <> ?", [run_id])
            con.execute("DETACH prev")
        except duckdb.Error as exc:
            print(f"note: earlier ingest history not carried over ({str(exc).splitlines()[0]})", file=sys.stderr)
