"""The query layer's entry point: an Ibis backend over tables that follow the data contract.

Analyses take the returned backend and read `con.table("events")` etc., so the same code runs
on the embedded DuckDB file (default, read-only so many dashboard kernels can share it) or on
any Ibis backend, such as PySpark, whose tables follow the contract.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import ibis
from ibis.backends import BaseBackend

from .backends import is_spark, spark_backend
from .config import parse_size
from .contract import BOOKKEEPING_TABLES, BUSINESS_DATES, CANONICAL_TABLES
from .errors import DatabaseError

DEFAULT_DB = "demo/cjworkbench.duckdb"
MEMORY_ENV, TEMP_ENV = "CJW_MEMORY_LIMIT", "CJW_TEMP_LIMIT"   # e.g. "6GB": one analysis connection's ceilings


def connect(target: str | os.PathLike | BaseBackend | None = None, *, read_only: bool = True) -> BaseBackend:
    """An Ibis backend on `target`: a DuckDB file path (default $CJW_DB or the demo), a `spark:` value
    (a Parquet export or a Spark database, `cjworkbench.backends`) or a backend."""
    if isinstance(target, BaseBackend):
        _check_contract(target, str(target.name))
        return target
    target = target or os.environ.get("CJW_DB", DEFAULT_DB)
    if is_spark(target):   # `spark:<parquet folder or database>`: cjworkbench/backends.py
        backend = spark_backend(os.fspath(target))
        _check_contract(backend, os.fspath(target).partition("?")[0])
        return backend
    path = Path(target)
    if not path.is_file():
        raise DatabaseError(f"Database '{path}' does not exist. Build it with "
                            f"`cjw ingest --config CONFIG --db {path}` (or `make demo`).")
    identity = file_identity(path)   # taken first: a swap in between only costs one extra re-open
    try:
        con = ibis.duckdb.connect(str(path), read_only=read_only)
    except Exception as exc:  # duckdb.IOException on a lock held by a writer
        msg = str(exc).splitlines()[0]
        hint = (" Another process holds it open for writing; dashboards must open it read-only."
                if "lock" in msg.lower() else "")
        raise DatabaseError(f"Cannot open database '{path}': {msg}.{hint}") from None
    _check_contract(con, str(path))
    con.raw_sql("SET enable_progress_bar = false")
    memory, temp = resource_limits()
    spill = str(Path(tempfile.gettempdir()) / f"cjworkbench-spill-{os.getpid()}").replace("'", "''")
    con.raw_sql(f"SET memory_limit = '{memory}B'; SET max_temp_directory_size = '{temp}B'; "
                f"SET temp_directory = '{spill}'")
    con._cjw_origin = (path, identity, read_only)   # what `reopen_if_replaced` compares
    return con


def file_identity(path: Path) -> tuple[int, int, int, int]:
    """(device, inode, mtime, size): an ingest swaps a new file in by rename, so this changes."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def reopen_if_replaced(con: BaseBackend) -> BaseBackend:
    """`con`, or -- when an ingest has swapped a new file in at its path since `connect` opened it --
    `con` closed and a new connection on the new file. An open DuckDB connection keeps reading the
    file it opened (and, while it is open, so does a new one in the same process), so a dashboard
    calls this before each redraw to see refreshed data without restarting its kernel."""
    origin = getattr(con, "_cjw_origin", None)
    if origin is None:
        return con
    path, identity, read_only = origin
    try:
        if file_identity(path) == identity:
            return con
    except OSError:   # the file is gone for a moment (or for good): keep what we have
        return con
    con.disconnect()
    return connect(path, read_only=read_only)


def resource_limits() -> tuple[int, int]:
    """(memory, spill) bytes one DuckDB analysis connection may use before it spills / fails:
    $CJW_MEMORY_LIMIT (default a quarter of RAM, so several dashboard kernels fit; DuckDB's own
    default is 80 % for each) and $CJW_TEMP_LIMIT (default 20 GB of spill files in a folder of
    this process under the system temp folder, removed when the connection closes)."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    out = []
    for env, default in ((MEMORY_ENV, ram // 4), (TEMP_ENV, 20 * 10**9)):
        raw = os.environ.get(env, "").strip()
        value = parse_size(raw) if raw else default
        if value is None or value < 64 * 10**6:
            raise DatabaseError(f"${env} must be a size such as 6GB or 500MB (at least 64MB), got {raw!r}.")
        out.append(value)
    return out[0], out[1]


def _check_contract(con: BaseBackend, name: str) -> None:
    tables = set(con.list_tables())
    missing = [t for t in CANONICAL_TABLES if t not in tables]
    if missing:
        raise DatabaseError(f"'{name}' does not follow the data contract: table(s) "
                            f"{', '.join(missing)} missing (has: {', '.join(sorted(tables)) or 'none'}).")
    _check_business_dates(con, name, tables)


# the columns periods and date filters read; a database built before they existed lacks them
_DATE_COLUMNS = {"events": [BUSINESS_DATES["event_ts"]], "feedback": [BUSINESS_DATES["feedback_ts"]],
                 "customers": [BUSINESS_DATES["first_seen_ts"]], "journey_steps": ["journey_start_date"],
                 "journeys": ["start_date"]}


def _check_business_dates(con: BaseBackend, name: str, tables: set[str]) -> None:
    """A database without the business-date columns was built by an older cjworkbench: say so (a
    read-only connection cannot add them, and filling them needs the ingest config's time zone)."""
    for table, cols in _DATE_COLUMNS.items():
        lacking = [c for c in cols if table in tables and c not in con.table(table).columns]
        if lacking:
            raise DatabaseError(f"'{name}' was built by an older cjworkbench: table {table} has no {lacking[0]} "
                                f"column (the business date that periods and date filters read). Re-run "
                                f"`cjw ingest --config CONFIG --db {name}` to rebuild it.")


def describe(con: BaseBackend) -> dict:
    """Tables with row counts and time ranges, loaded sources and rejects: what `cjw info` prints."""
    tables = set(con.list_tables())
    out: dict = {"tables": {}}
    for name in CANONICAL_TABLES + BOOKKEEPING_TABLES:
        if name in tables:
            out["tables"][name] = int(con.table(name).count().execute())
    ranges = {}
    for table, col in (("events", "event_ts"), ("feedback", "feedback_ts")):
        t = con.table(table)
        lo, hi = t.aggregate(lo=t[col].min(), hi=t[col].max()).execute().iloc[0]
        ranges[table] = [None if lo is None or lo != lo else str(lo), None if hi is None or hi != hi else str(hi)]
    out["time_ranges"] = ranges
    sources = []
    for table in CANONICAL_TABLES:
        t = con.table(table)
        agg = t.group_by("source").aggregate(rows=t.count()).order_by("source").execute()
        sources += [{"table": table, "source": s, "rows": int(n)} for s, n in zip(agg["source"], agg["rows"])]
    out["sources"] = sources
    if "rejects" in tables:
        r = con.table("rejects")
        agg = r.group_by(["source", "reason"]).aggregate(rows=r.count()).order_by(["source", "reason"]).execute()
        out["rejects"] = [{"source": s, "reason": why, "rows": int(n)}
                          for s, why, n in zip(agg["source"], agg["reason"], agg["rows"])]
    if "ingest_runs" in tables:
        runs = con.table("ingest_runs")
        last = runs.aggregate(run=runs.run_id.max()).execute().iloc[0, 0]
        out["last_run"] = last
    return out
