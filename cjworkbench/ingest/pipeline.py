"""One ingest run: the sources of a config into a DuckDB file built aside, swapped in only on success.

A full build reads every file into a new file; a refresh (`refresh`: same settings as the
database) copies the database aside, replaces the rows of changed files, adds new files and
updates the derived tables for what changed. Raw rows are staged in the database `staging`: in
memory, or for inputs too big for that a scratch DuckDB file in the spill folder (`staging.duckdb`:
compressed; `stage_on_disk`); each table is dropped once the next step has read it and personal
columns are hashed there; only canonical rows and reject rows are written to the file being built. A failure at any point
removes the half-built file; the previous database is never opened for writing. One ingest
per database runs at a time, a writer holding the database is refused, and a stale WAL is set
aside before the swap (`target`); the key that pseudonymised a database is recorded as a
fingerprint, and a different key is refused unless `new_key=True`.
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import ibis

from ..config import IngestConfig, Limits, Source, load_config
from ..contract import BOOKKEEPING_TABLES, CANONICAL_TABLES, DDL
from ..errors import DatabaseError, RejectedRowsError
from ..model import DERIVED, SCRATCH, build_derived
from ..designs.store import store_designs
from ..identity import build_identity, keep_identity, stage_identity
from .local_time import fill_business_dates
from .bookkeeping import carry_history, record_run
from .refresh import Plan, count_files, dedupe_against_loaded, kill_point, plan_refresh, remove_replaced, \
    touched_customers
from .pseudonym import key_fingerprint, load_key, pseudonymiser
from .readers import ReadOptions, read_file
from .expressions import apply_rules
from .summary import IngestSummary, SourceResult, check_reject_share, source_result
from .target import STAGING, build_path, check_free_disk, copy_aside, disk_full, first_line, hold_target, \
    ingest_lock, out_of_memory, remove_build, remove_debris, spill_dir, swap_in
from .transform import check_columns, export_column_of, export_columns, pseudonymise, typed_table


def run_ingest(config_path: str | Path, db_path: str | Path, *, strict: bool = False, new_key: bool = False,
               full: bool = False, progress=None) -> IngestSummary:
    """Ingest the sources of `config_path` into `db_path` atomically; return the counts.

    An existing database built with the same settings is refreshed: only new and changed files
    are loaded (`refresh`); `full=True`, a changed setting, `new_key` or `strict` (every file's rows
    must pass) rebuild it from every file.

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
            plan = plan_refresh(cfg, db_path, key_fingerprint(key), full=full or new_key or strict)
            say(plan.reason or "refresh: " + "; ".join(plan.notes()))
            return _build_and_swap(cfg, db_path, key, plan, strict=strict, new_key=new_key, say=say, note=note)


def _build_and_swap(cfg: IngestConfig, db_path: Path, key: bytes, plan: Plan, *, strict: bool, new_key: bool,
                    say, note) -> IngestSummary:
    build, scratch = build_path(db_path), spill_dir(db_path)
    remove_build(build)
    shutil.rmtree(scratch, ignore_errors=True)
    started = time.perf_counter()
    files = [f.path for src in cfg.sources for f in plan.to_load(src)]
    check_free_disk(db_path.parent, sum(f.stat().st_size for f in files), cfg.limits.temp_limit,
                    0 if plan.full else db_path.stat().st_size)
    on_disk = stage_on_disk(files, cfg.limits)
    con = None
    try:
        scratch.mkdir(mode=0o700)
        fingerprint = key_fingerprint(key)
        if plan.full:
            con = _staging_connection(build, scratch, key, cfg.limits, create=True, on_disk=on_disk)
            carry_history(con, db_path, fingerprint, new_key, note)
        else:   # a refresh applies the new files to a private copy: readers keep the original meanwhile
            copy_aside(db_path, build)
            kill_point("copied")
            con = _staging_connection(build, scratch, key, cfg.limits, create=False, on_disk=on_disk)
            remove_replaced(con, plan)   # changed files: their old rows, rejects and records go
            kill_point("deleted")
        run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
        opts = ReadOptions(cfg.limits, scratch)
        results = [_ingest_source(con, cfg, src, i, say, opts, plan) if plan.to_load(src) else
                   SourceResult(src.name, src.kind, [], 0, 0, 0, 0) for i, src in enumerate(cfg.sources)]
        fill_business_dates(con, cfg.timezone, "out")   # business dates: the config's zone
        kill_point("loaded")
        build_identity(con, cfg, db_path, run_id, say)   # persons, links and id changes (`identity:` block)
        t0 = time.perf_counter()
        if not plan.full:
            touched_customers(con, plan)
        con.execute("USE out")
        backend = ibis.duckdb.from_connection(con)
        if plan.full:
            build_derived(backend)
        else:   # only the journeys of the customers whose rows changed
            build_derived(backend, backend.table("__cjw_touched"))
            con.execute("DROP TABLE __cjw_touched")
        con.execute("USE staging")
        say(f"derived tables {', '.join(DERIVED)} {'built' if plan.full else 'updated'} in "
            f"{time.perf_counter() - t0:.1f} s")
        kill_point("derived")
        store_designs(con, cfg.designs, schema="out")   # checked against the loaded events: a DesignError swaps nothing
        record_run(con, cfg, results, run_id, fingerprint, plan)
        summary = IngestSummary(str(db_path), run_id, results, time.perf_counter() - started,
                                "full" if plan.full else "refresh", [plan.reason] if plan.full else plan.notes())
        if strict and summary.rows_rejected:
            raise RejectedRowsError("--strict: " + summary.reject_overview() + " Nothing was written; "
                                    "the previous database is untouched.")
        con.execute("CHECKPOINT out")
        con.execute("DETACH out")
        con.close()
        con = None
        kill_point("checkpointed")
        swap_in(build, db_path)
        kill_point("swapped")
        say(f"wrote {db_path} in {summary.seconds:.1f} s")
        return summary
    except BaseException as exc:
        if con is not None:
            con.close()
        remove_build(build)
        if disk_full(exc):
            raise DatabaseError(
                f"The disk holding '{db_path.parent}' is full ({first_line(exc)}). Nothing was changed: the "
                f"previous database is untouched and the half-built one was removed. Free some space (the new "
                f"database needs about as much as the old one, plus room for DuckDB to spill) and run the "
                f"ingest again.") from None
        if isinstance(exc, duckdb.OutOfMemoryException):
            raise DatabaseError(out_of_memory(exc, cfg.limits)) from None
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# staged text takes about its CSV's size in memory, a compressed file (gzip, Parquet) about 5x its own
STAGED_PER_INPUT_BYTE = {".gz": 5.0, ".parquet": 5.0, ".zst": 5.0}


def stage_on_disk(files: list[Path], limits: Limits) -> bool:
    """Stage in a scratch database on disk when the inputs would not stage within
    `limits.stage_in_memory` and half of `limits.memory_limit`: in memory, tables that outgrow the limit spill
    uncompressed (a 100 M-event run's spill passed 45 GB); on disk they are stored compressed, at
    ~10 % more CPU (10 M events: 126 -> 139 CPU s), and the raw values pass through a scratch file
    (in a mode-0700 folder, removed with the run) instead of staying in memory."""
    staged = sum(f.stat().st_size * STAGED_PER_INPUT_BYTE.get(f.suffix.lower(), 1.0) for f in files)
    return staged > min(limits.stage_in_memory, limits.memory_limit / 2)


def _staging_connection(build: Path, scratch: Path, key: bytes, limits: Limits, *,
                        create: bool, on_disk: bool) -> duckdb.DuckDBPyConnection:
    # staging tables live in the database `staging`: a scratch file for big inputs (`stage_on_disk`),
    # else attached in memory; each is dropped once the next step has read it
    con = duckdb.connect(str(scratch / STAGING) if on_disk else ":memory:",
                         config={"preserve_insertion_order": True, "memory_limit": f"{limits.memory_limit}B",
                                 "max_temp_directory_size": f"{limits.temp_limit}B",
                                 "temp_directory": str(scratch)})
    if not on_disk:
        con.execute(f"ATTACH ':memory:' AS {SCRATCH}")
        con.execute(f"USE {SCRATCH}")
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
    for table in CANONICAL_TABLES + BOOKKEEPING_TABLES if create else ():
        con.execute(DDL[table].replace("CREATE TABLE ", "CREATE TABLE out.", 1))
    # file_id is added when the rejects are stored (the readers write the other columns)
    con.execute("CREATE TABLE __rejects AS SELECT * EXCLUDE (file_id) FROM out.rejects LIMIT 0")
    con.execute("CREATE TABLE __history AS SELECT * FROM out.ingest_runs LIMIT 0")
    return con


def _ingest_source(con, cfg: IngestConfig, src: Source, index: int, say, opts: ReadOptions,
                   plan: Plan) -> SourceResult:
    t0 = time.perf_counter()
    staged, per_file = 0, {}
    files = plan.to_load(src)
    src = replace(src, files=tuple(f.path for f in files))   # a refresh reads its new and changed files only
    for first, (fidx, path) in enumerate((f.file_id, f.path) for f in files):
        size = path.stat().st_size / 1e6
        say(f"[{index + 1}/{len(cfg.sources)}] {src.name}: reading {path.name} ({size:,.1f} MB)")
        opts.rows_left = cfg.limits.max_rows_per_source - staged
        read_file(con, src, path, "__file_rows", opts)
        per_file[fidx] = con.execute("SELECT count(*) FROM __file_rows").fetchone()[0]
        staged += per_file[fidx]
        con.execute("ALTER TABLE __file_rows ADD COLUMN __file VARCHAR DEFAULT " + _literal(str(path)))
        con.execute(f"ALTER TABLE __file_rows ADD COLUMN __fidx INTEGER DEFAULT {fidx}")
        if first == 0:   # renamed, not copied: the staged rows are the largest thing an ingest holds
            con.execute("DROP TABLE IF EXISTS __src; ALTER TABLE __file_rows RENAME TO __src")
        else:
            con.execute("CREATE OR REPLACE TABLE __src AS SELECT * FROM __src UNION ALL BY NAME "
                        "SELECT * FROM __file_rows")
            con.execute("DROP TABLE __file_rows")
    stage_identity(con, cfg, src, "__src")   # identity keys: normalised and hashed while the raw values are here
    pseudonymise(con, src, "__src")
    filtered = apply_rules(con, src, "__src", export_columns(con, "__src"))   # where / derive / id: generated
    available = export_columns(con, "__src")
    check_columns(src, available)
    _type_and_validate(con, src, available, cfg.timezone)
    con.execute("DROP TABLE __src")   # the raw text is not read again: its blocks go to the load
    con.execute("CHECKPOINT staging")   # dropped blocks are reused only after a checkpoint
    if not plan.full and src.kind != "customers" and not src.keep_duplicates:
        dedupe_against_loaded(con, src)   # customers: `_reject_repeated_keys` already compares with loaded ids
    loaded = _load(con, src)
    keep_identity(con, cfg, src)   # the loaded rows' key hashes, by customer_id
    result = source_result(con, src, loaded, filtered, time.perf_counter() - t0)
    check_reject_share(result, src, cfg.limits.max_reject_share)   # too many rejects: fail, keep the old file
    say(f"[{index + 1}/{len(cfg.sources)}] {src.name}: {result.rows_read:,} read, {result.rows_loaded:,} loaded, "
        f"{result.rows_rejected:,} rejected, {result.rows_filtered:,} filtered ({result.seconds:.1f} s)")
    count_files(con, src, files, per_file)
    con.execute("DROP TABLE __typed")
    con.execute("CHECKPOINT staging")
    return result


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _type_and_validate(con, src: Source, available: list[str], zone: str) -> None:
    """__typed: canonical columns plus __reason (NULL when the row loads) for every staged row."""
    typed_table(con, src, available, zone)   # one pass: types, business dates, duplicates, checks
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


def _load(con, src: Source) -> int:
    """Append the valid rows to the canonical table (with `seq`), the rest to the rejects."""
    con.execute("""INSERT INTO __rejects SELECT $source, __file, __line, __rcolumn, __reason, __rvalue,
                   NULL FROM __typed WHERE __reason IS NOT NULL ORDER BY __fidx, __line""", {"source": src.name})
    cols = [c for c in _table_columns(con, src.kind) if c not in ("source", "seq", "file_id")]
    select = f"{', '.join(cols)}, $source AS source, __fidx AS file_id"
    if src.kind == "customers":
        con.execute(f"INSERT INTO out.customers BY NAME SELECT {select} FROM __typed WHERE __reason IS NULL "
                    f"ORDER BY __fidx, __line", {"source": src.name})
    else:
        offset = con.execute(f"SELECT coalesce(max(seq), 0) FROM out.{src.kind}").fetchone()[0]
        _load_numbered(con, src, select, offset)
    return con.execute("SELECT count(*) FROM __typed WHERE __reason IS NULL").fetchone()[0]


def _load_numbered(con, src: Source, select: str, offset: int) -> None:
    """Append the loaded rows with `seq` = offset + 1, 2, ... in (file, line) order.

    The staged rows are already in that order (every reader numbers lines in order and every
    later step keeps it), so `seq` is a streaming row number over the table in storage order:
    no sort. A streaming window writes to the database file on one thread, at about twice the CPU
    of a parallel insert (measured), so the numbered rows go to a temporary table first. Should
    the order ever not hold, the rows are sorted as before."""
    ordered = con.execute("""SELECT count(*) FROM (SELECT k < lag(k) OVER () AS back FROM
        (SELECT (__fidx::BIGINT << 40) + __line AS k FROM __typed)) WHERE back""").fetchone()[0] == 0
    if not ordered:
        con.execute(f"""INSERT INTO out.{src.kind} BY NAME SELECT {select},
                        {offset} + row_number() OVER (ORDER BY __fidx, __line) AS seq
                        FROM __typed WHERE __reason IS NULL ORDER BY __fidx, __line""", {"source": src.name})
        return
    con.execute(f"""CREATE OR REPLACE TABLE __loaded AS SELECT {select}, {offset} + row_number() OVER () AS seq
                    FROM __typed WHERE __reason IS NULL""", {"source": src.name})
    con.execute(f"INSERT INTO out.{src.kind} BY NAME SELECT * FROM __loaded")
    con.execute("DROP TABLE __loaded")


def _table_columns(con, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE out.{table})").fetchall()]
