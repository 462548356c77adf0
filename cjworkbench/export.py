"""Canonical tables -> partitioned Parquet, the hand-over format for a Spark cluster."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from .contract import BOOKKEEPING_TABLES, CANONICAL_TABLES, DESIGN_TABLES
from .model import DERIVED
from .sessions import RULE_TABLE, SESSIONS
from .errors import DatabaseError

_PARTITIONS = {"events": "event_month", "feedback": "feedback_month"}


def export_parquet(db_path: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Write each table (the designs, the derived ones and the stored web sessions too, when present) to
    `out_dir/<table>/`; events and feedback by month."""
    db_path, out_dir = Path(db_path), Path(out_dir)
    if not db_path.is_file():
        raise DatabaseError(f"Database '{db_path}' does not exist.")
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    with duckdb.connect(str(db_path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        # so Spark reads what DuckDB reads; persons: identity="person" (pseudonymised ids only)
        stored = DESIGN_TABLES + tuple(DERIVED) + (SESSIONS, RULE_TABLE, "persons")
        extra = tuple(t for t in stored if t in present)
        for table in CANONICAL_TABLES + BOOKKEEPING_TABLES + extra:
            target = out_dir / table
            shutil.rmtree(target, ignore_errors=True)
            part = _PARTITIONS.get(table)
            counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            if part and counts[table]:
                ts = table.rstrip("s").replace("event", "event_ts").replace("feedback", "feedback_ts")
                con.execute(f"COPY (SELECT *, strftime({ts}, '%Y-%m') AS {part} FROM {table}) TO ? "
                            f"(FORMAT parquet, PARTITION_BY ({part}))", [str(target)])
            else:
                target.mkdir(parents=True)
                # an empty table still gets one file, so readers (Spark) can infer its schema
                con.execute(f"COPY {table} TO ? (FORMAT parquet)", [str(target / "part-0.parquet")])
    return counts
