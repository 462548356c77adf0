"""Read-time rejects: the lines a reader could not take (malformed, over-long, with a NUL byte),
written to the `__rejects` staging table with their line and reason, and the line numbers of the
rows that were read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Limits, Source
from .files import LongLine

_READER_REASONS = {"MISSING COLUMNS": "malformed line", "TOO MANY COLUMNS": "malformed line",
                   "UNQUOTED VALUE": "malformed line", "LINE SIZE OVER MAXIMUM": "malformed line",
                   "INVALID ENCODING": "invalid encoding", "CAST": "malformed line"}


def _reject_long_lines(con, src: Source, path: Path, table: str, long_lines: dict[int, LongLine],
                       limits: Limits) -> None:
    if not long_lines:
        return
    con.execute(f"DELETE FROM {table} WHERE __line IN (SELECT unnest(?))", [sorted(long_lines)])
    for line, ll in sorted(long_lines.items()):
        prefix = ll.prefix.decode("utf-8" if src.encoding in ("utf-8", "cp1252", "utf-16") else src.encoding,
                                  errors="replace")
        _reject(con, src, path, line, None, "line too long", prefix[:60] + "...",
                f"{ll.end - ll.start:,} bytes; limits.max_line_bytes is {limits.max_line_bytes:,}")


def _reject_nul_rows(con, src: Source, path: Path, table: str) -> None:
    """A stray NUL byte inside a value rejects its row (not the file): reason `NUL byte`."""
    cols = [c for c in (r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall())
            if c != "__line"]
    if not cols:
        return
    which = " ".join(f"WHEN contains({quote_ident(c)}, chr(0)) THEN ?" for c in cols)
    value = " ".join(f"WHEN contains({quote_ident(c)}, chr(0)) THEN {quote_ident(c)}" for c in cols)
    rows = con.execute(f"""SELECT __line, CASE {which} END, CASE {value} END FROM {table}
                           WHERE CASE {which} END IS NOT NULL ORDER BY __line""", cols + cols).fetchall()
    for line, column, raw in rows:
        _reject(con, src, path, line, column, "NUL byte", raw.replace("\x00", "\\0"),
                "a NUL byte inside a value (shown as \\0)")
    if rows:
        con.execute(f"DELETE FROM {table} WHERE __line IN (SELECT unnest(?))", [[r[0] for r in rows]])


def _clear_rejects(con) -> None:
    """DuckDB appends to its reject tables across reads of one connection: start each read empty."""
    con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")


def _csv_rejects(con, src: Source, path: Path, skip=()) -> list[int]:
    """Copy DuckDB's reject_errors for the last read into `__rejects`, one row per bad line
    (lines in `skip` are placeholders reported elsewhere; they still count for numbering)."""
    rows = con.execute("""SELECT line, any_value(column_name), string_agg(DISTINCT error_type, ', '),
                                 any_value(error_message), any_value(csv_line)
                          FROM reject_errors GROUP BY line ORDER BY line""").fetchall()
    for line, column, etype, message, raw in rows:
        if line in skip:
            continue
        reason = _READER_REASONS.get(etype.split(",")[0].strip(), "malformed line")
        _reject(con, src, path, line, column if reason != "malformed line" else None, reason,
                raw, f"{etype}: {message}")
    return [r[0] for r in rows]


def _reject(con, src: Source, path: Path, line, column, reason, value, detail) -> None:
    if src.personal and value is not None:  # never copy raw personal data into a table
        value, detail = None, f"{detail} (raw line withheld: source has personal columns)"
    value = None if value is None else str(value).strip("\n")[:300]
    con.execute("INSERT INTO __rejects VALUES (?, ?, ?, ?, ?, ?, ?)",
                [src.name, str(path), line, column, reason, value, detail])


def _number_lines(con, table: str, rejected: list[int], first_line: int) -> None:
    """Add `__line`: the k-th good row sits on the k-th line that is neither header nor rejected.

    Exact unless the file has blank lines or quoted values spanning lines before the row.
    """
    if not rejected:   # the column is added and filled in place: a copy of every row cost ~6x more CPU
        con.execute(f"DROP TABLE IF EXISTS {table}; ALTER TABLE __read ADD COLUMN __line BIGINT")
        con.execute(f"UPDATE __read SET __line = rowid + {first_line}")
        con.execute(f"ALTER TABLE __read RENAME TO {table}")
        return
    gaps = pd.DataFrame({"r": sorted(set(rejected))})
    gaps["n"] = range(1, len(gaps) + 1)
    gaps["g"] = gaps["r"] - gaps["n"] + 1 - first_line
    gaps = gaps.groupby("g", as_index=False)["n"].max()
    con.register("__gaps_df", gaps)
    con.execute(f"""CREATE OR REPLACE TABLE {table} AS
        SELECT r.* EXCLUDE (__k), r.__k + {first_line} + coalesce(g.n, 0) AS __line
        FROM (SELECT *, rowid AS __k FROM __read) r ASOF LEFT JOIN __gaps_df g ON r.__k >= g.g
        ORDER BY r.__k""")
    con.unregister("__gaps_df")
    con.execute("DROP TABLE __read")


def quote_ident(name: str) -> str:
    """An SQL identifier for a column name taken from a file (never from free user text)."""
    return '"' + str(name).replace('"', '""') + '"'
