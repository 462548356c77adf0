"""Byte-for-byte reproducible text files: verbatim lines (optionally gzip), latin-1 CSV.

Same seed, same bytes: the gzip header carries no time stamp and no file name.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv

CHUNK = 1 << 24


def sql_list(values) -> str:
    """A DuckDB list literal of constant strings (from this package, never from users)."""
    return "[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]"


def write_lines(con, select_sql: str, path: Path, *, compress: bool = False) -> None:
    """Write the single VARCHAR column `line` of an ordered SELECT, verbatim, one per line.

    DuckDB renders the lines in parallel; with no quote character and a delimiter that never
    occurs, it writes them as they are, which lets an export carry deliberately broken lines.
    """
    target = path.with_name(path.name + ".tmp") if compress else path
    quoted = str(target).replace("'", "''")
    con.execute(f"COPY ({select_sql}) TO '{quoted}' "
                "(FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x1f')")
    if compress:
        with open(target, "rb") as src, open(path, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=3) as gz:
            while block := src.read(CHUNK):
                gz.write(block)
        target.unlink()


def write_latin1_csv(table: pa.Table, path: Path, delimiter: str) -> None:
    """A CSV as a European CRM exports it: latin-1, every text value quoted."""
    buf = io.BytesIO()
    pcsv.write_csv(table, buf, pcsv.WriteOptions(delimiter=delimiter, quoting_style="needed"))
    path.write_bytes(buf.getvalue().decode("utf-8").encode("latin-1"))
