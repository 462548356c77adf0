"""One ingest run: every source of a config into a new DuckDB file, swapped in only on success.

Raw rows are staged in an in-memory DuckDB (personal columns are hashed there), and only
canonical rows and reject rows are written to the file being built. A failure at any point
removes the half-built file; the previous database is never opened for writing. One ingest
per database runs at a time, a writer holding the database is refused, and a stale WAL is set
aside before the swap (`target`); the key that pseudonymised a database is recorded as a
fingerprint, and a different key is refused unless `new_key=True`.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import ibis

from ..version import __version__
from ..config import IngestConfig, Limits, Source, load_config
from ..contract import BOOKKEEPING_TABLES, CANONICAL_TABLES, DDL
from ..errors import DatabaseError, RejectedRowsError, WorkbenchError
from ..model import DERIVED, build_derived
from ..designs.store import store_designs
from .local_time import fill_business_dates
from .pseudonym import key_fingerprint, load_key, pseudonymiser
from .readers import ReadOptions, read_file
from .expressions import apply_rules
from .summary import IngestSummary, SourceResult, check_reject_share, source_result
from .target import build_path, disk_full, hold_target, ingest_lock, remove_debris, spill_dir
from .transform import Params, check_columns, export_column_of, export_columns, pseudonymise, \
    required_checks, typed_select


def run_ingest(config_path: str | Path, db_path: str | Path, *, strict: bool = False, new_key: bool = False,
               progress=None) -> IngestSummary:
    """Ingest every source of `config_path` into `db_path` atomically; return the counts.

    `progress` is called with one line of text per step (None: silent; notes that something
    was cleaned up or set aside then go to stderr). `new_key=True` accepts a pseudonymisation
    key other than the one the existing database was built with (every pseudonym changes).
    """
    say = progress or (lambda _msg: None)
    note = (lambda msg: progress("note: " + msg)) if progress else (
        lambda msg: print("note: " + msg, file=sys.stderr, flush=True))
    cfg = load_config(config_path)
    key = load_key()
    db_path = Path(db_path).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with ingest_lock(db_path, wait=cfg.limits.lock_wait_seconds, note=note):
        remove_debris(db_path, note)
        with hold_target(db_path, note):
            return _build_and_swap(cfg, db_path, key, strict=strict, new_key=new_key, say=say, note=note)


def _build_and_swap(cfg: IngestConfig, db_path: Path, key: bytes, *, strict: bool, new_key: bool,
                    say, note) -> IngestSummary:
    build, scratch = build_path(db_path), spill_dir(db_path)
    _remove(build)
    shutil.rmtree(scratch, ignore_errors=True)
    started = time.perf_counter()
    con = None
    try:
        scratch.mkdir(mode=0o700)
        con = _staging_connection(build, scratch, key, cfg.limits)
        fingerprint = key_fingerprint(key)
        _carry_history(con, db_path, fingerprint, new_key, note)
        run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
        opts = ReadOptions(cfg.limits, scratch)
        results = [_ingest_source(con, cfg, src, i, say, opts) for i, src in enumerate(cfg.sources)]
        fill_business_dates(con, cfg.timezone, "out")   # business dates: the config's zone
        t0 = time.perf_counter()
        con.execute("USE out")
        build_derived(ibis.duckdb.from_connection(con))
        con.execute("USE memory")
        say(f"derived tables {', '.join(DERIVED)} built in {time.perf_counter() - t0:.1f} s")
        store_designs(con, cfg.designs, schema="out")   # checked against the loaded events: a DesignError swaps nothing
        _bookkeeping(con, cfg, results, run_id, fingerprint)
        summary = IngestSummary(str(db_path), run_id, results, time.perf_counter() - started)
        if strict and summary.rows_rejected:
            raise RejectedRowsError("--strict: " + summary.reject_overview() + " Nothing was written; "
                                    "the previous database is untouched.")
        con.execute("CHECKPOINT out")
        con.execute("DETACH out")
        con.close()
        con = None
        _swap(build, db_path)
        say(f"wrote {db_path} in {summary.seconds:.1f} s")
        return summary
    except BaseException as exc:
        if con is not None:
            con.close()
        _remove(build)
        if disk_full(exc):
            raise DatabaseError(
                f"The disk holding '{db_path.parent}' is full ({_first_line(exc)}). Nothing was changed: the "
                f"previous database is untouched and the half-built one was removed. Free some space (the new "
                f"database needs about as much as the old one, plus room for DuckDB to spill) and run the "
                f"ingest again.") from None
        if isinstance(exc, duckdb.OutOfMemoryException):
            raise DatabaseError(_out_of_memory(exc, cfg.limits)) from None
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _swap(build: Path, db_path: Path) -> None:
    """The checkpointed file, private to its owner, replaces the target in one rename."""
    wal = Path(str(build) + ".wal")
    if wal.exists() and wal.stat().st_size:
        raise WorkbenchError(f"Internal error: the new database kept a write-ahead log ({wal}) after its "
                             f"checkpoint; it was not swapped in.")
    wal.unlink(missing_ok=True)
    os.chmod(build, 0o600)
    fd = os.open(build, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(build, db_path)
    fd = os.open(db_path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _out_of_memory(exc: BaseException, limits: Limits) -> str:
    text = _first_line(exc)
    if "max_temp_directory_size" in text or "temp" in text.lower():
        return (f"DuckDB ran out of room for temporary files (limits.temp_limit = {limits.temp_limit:,} bytes, "
                f"limits.memory_limit = {limits.memory_limit:,} bytes): {text}. Raise them in the config's "
                f"`limits:` block if the disk has room. Nothing was changed.")
    return (f"DuckDB ran out of memory while staging (limits.memory_limit = {limits.memory_limit:,} bytes): "
            f"{text}. Raise limits.memory_limit in the config's `limits:` block if the machine has the "
            f"memory. Nothing was changed.")


def _remove(path: Path) -> None:
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)


def _staging_connection(build: Path, scratch: Path, key: bytes, limits: Limits) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"preserve_insertion_order": True, "memory_limit": f"{limits.memory_limit}B",
                                 "max_temp_directory_size": f"{limits.temp_limit}B",
                                 "temp_directory": str(scratch)})
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    con.create_function("cjw_pseudonym", pseudonymiser(key), ["VARCHAR"], "VARCHAR",
                        null_handling="special", side_effects=False)
    try:
        con.execute(f"ATTACH {_literal(str(build))} AS out")
    except duckdb.Error as exc:
        con.close()
        if disk_full(exc):
            raise
        raise DatabaseError(f"Cannot create '{build}': {exc}. Is the folder writable?") from None
    for table in CANONICAL_TABLES + BOOKKEEPING_TABLES:
        con.execute(DDL[table].replace("CREATE TABLE ", "CREATE TABLE out.", 1))
    con.execute("CREATE TEMP TABLE __rejects AS SELECT * FROM out.rejects LIMIT 0")
    con.execute("CREATE TEMP TABLE __history AS SELECT * FROM out.ingest_runs LIMIT 0")
    return con


def _carry_history(con, db_path: Path, fingerprint: str, new_key: bool, note) -> None:
    """Earlier runs of the database being replaced go to `__history` (read-only, best effort);
    a key other than the one recorded there is refused unless `new_key`."""
    if not db_path.exists():
        return
    try:
        con.execute(f"ATTACH {_literal(str(db_path))} AS prev (READ_ONLY)")
    except duckdb.Error as exc:
        note(f"earlier ingest history not carried over ({_first_line(exc)})")
        return
    try:
        have = {r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE prev.ingest_runs)").fetchall()}
        cols = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE __history)").fetchall() if r[0] in have]
        con.execute(f"INSERT INTO __history BY NAME SELECT {', '.join(_q(c) for c in cols)} FROM prev.ingest_runs")
        recorded = con.execute("SELECT key_fingerprint FROM __history ORDER BY finished_ts DESC NULLS LAST, "
                               "run_id DESC LIMIT 1").fetchone()
    except duckdb.Error as exc:
        note(f"earlier ingest history not carried over ({_first_line(exc)})")
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


def _ingest_source(con, cfg: IngestConfig, src: Source, index: int, say, opts: ReadOptions) -> SourceResult:
    t0 = time.perf_counter()
    staged = 0
    for fidx, path in enumerate(src.files):
        size = path.stat().st_size / 1e6
        say(f"[{index + 1}/{len(cfg.sources)}] {src.name}: reading {path.name} ({size:,.1f} MB)")
        opts.rows_left = cfg.limits.max_rows_per_source - staged
        read_file(con, src, path, "__file_rows", opts)
        staged += con.execute("SELECT count(*) FROM __file_rows").fetchone()[0]
        con.execute("ALTER TABLE __file_rows ADD COLUMN __file VARCHAR DEFAULT " + _literal(str(path)))
        con.execute(f"ALTER TABLE __file_rows ADD COLUMN __fidx INTEGER DEFAULT {fidx}")
        if fidx == 0:
            con.execute("CREATE OR REPLACE TEMP TABLE __src AS SELECT * FROM __file_rows")
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE __src AS SELECT * FROM __src UNION ALL BY NAME "
                        "SELECT * FROM __file_rows")
        con.execute("DROP TABLE __file_rows")
    pseudonymise(con, src, "__src")
    filtered = apply_rules(con, src, "__src", export_columns(con, "__src"))   # where / derive / id: generated
    available = export_columns(con, "__src")
    check_columns(src, available)
    _type_and_validate(con, src, available)
    loaded = _load(con, src)
    result = source_result(con, src, loaded, filtered, time.perf_counter() - t0)
    check_reject_share(result, src, cfg.limits.max_reject_share)   # too many rejects: fail, keep the old file
    say(f"[{index + 1}/{len(cfg.sources)}] {src.name}: {result.rows_read:,} read, {result.rows_loaded:,} loaded, "
        f"{result.rows_rejected:,} rejected, {result.rows_filtered:,} filtered ({result.seconds:.1f} s)")
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


def _bookkeeping(con, cfg: IngestConfig, results: list[SourceResult], run_id: str, fingerprint: str) -> None:
    con.execute("INSERT INTO out.rejects SELECT * FROM __rejects ORDER BY source, file, line")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for r in results:
        con.execute("INSERT INTO out.ingest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, r.name, r.kind, r.files, cfg.sha256, now, now, r.rows_read, r.rows_loaded,
                     r.rows_rejected, r.rows_duplicate, "ok", __version__, fingerprint, r.rows_filtered])
        if r.rows_loaded + r.rows_rejected + r.rows_filtered != r.rows_read:
            raise WorkbenchError(f"Internal error: counts of source '{r.name}' do not reconcile ({r.rows_loaded} + "
                                 f"{r.rows_rejected} + {r.rows_filtered} != {r.rows_read}).")
    con.execute("INSERT INTO out.ingest_runs SELECT * FROM __history WHERE run_id <> ? ORDER BY finished_ts, run_id",
                [run_id])
