"""Export file -> staging table of text columns plus `__line`, using DuckDB's own readers.

Every reader leaves a table whose columns are the export's columns as VARCHAR, plus `__line`
(the file line, or row for Parquet/Excel, or the XML line of an XES event) and writes the
lines it could not read to the `__rejects` staging table with a reason. Typing and validation
happen later, in one place, for every format alike.
"""

from __future__ import annotations

import codecs
import gzip
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from ..config import Source
from ..errors import InputFileError
from .files import check_file, is_gzip
from .xes import read_xes

_READER_REASONS = {"MISSING COLUMNS": "malformed line", "TOO MANY COLUMNS": "malformed line",
                   "UNQUOTED VALUE": "malformed line", "LINE SIZE OVER MAXIMUM": "malformed line",
                   "INVALID ENCODING": "invalid encoding", "CAST": "malformed line"}


def read_file(con: duckdb.DuckDBPyConnection, src: Source, path: Path, table: str) -> None:
    """Stage one export file as `table`; unreadable lines go to the `__rejects` staging table."""
    check_file(path, src.format, src.name)
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet,
              "excel": _read_excel, "xes": _read_xes}[src.format]
    try:
        reader(con, src, path, table)
    except duckdb.Error as exc:
        raise InputFileError(_explain(exc, src, path)) from None


def _explain(exc: Exception, src: Source, path: Path) -> str:
    msg = str(exc).split("\n")[0]
    where = f"Source '{src.name}', file '{path}'"
    if "GZIP" in msg.upper():
        return f"{where} is a truncated or corrupt gzip file ({msg}). Fetch it again."
    if "sniff" in msg.lower() or "dialect" in msg.lower():
        return (f"{where} could not be read as {src.format}: DuckDB found no consistent layout ({msg}). "
                f"Is it really a delimited text file? Set 'delimiter:' and 'encoding:' if it is.")
    if "unicode" in msg.lower() or "encoding" in msg.lower():
        return f"{where} is not valid {src.encoding}: {msg}. Set 'encoding:' (latin-1, cp1252, utf-16)."
    return f"{where} could not be read as {src.format}: {msg}"


def _read_csv(con, src: Source, path: Path, table: str) -> None:
    read_path, tmp = path, None
    if src.encoding == "cp1252":  # DuckDB reads utf-8/latin-1/utf-16 natively; cp1252 is transcoded
        tmp, read_path = _transcode(path, "cp1252", src.name)
    _clear_rejects(con)
    opts = ["all_varchar=true", "store_rejects=true", "header=?", "encoding=?", "compression=?"]
    params: list = [str(read_path), src.header,
                    "utf-8" if src.encoding == "cp1252" else src.encoding,
                    "gzip" if is_gzip(read_path) else "none"]
    if src.delimiter:
        opts.append("delim=?")
        params.append(src.delimiter)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE __read AS SELECT * FROM read_csv(?, {', '.join(opts)})", params)
        rejected = _csv_rejects(con, src, path)
    finally:
        if tmp:
            tmp.cleanup()
    columns = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE __read)").fetchall()]
    if len(columns) == 1 and not src.delimiter and any(d in columns[0] for d in ",;\t|"):
        raise InputFileError(f"Source '{src.name}', file '{path}': the delimiter could not be detected "
                             f"(header read as one column '{columns[0][:60]}'). Set 'delimiter:'.")
    _number_lines(con, table, rejected, first_line=2 if src.header else 1)


def _whatwg_c1(err: UnicodeDecodeError):
    """Bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) decode to U+0081.. as in browsers."""
    return err.object[err.start:err.end].decode("latin-1"), err.end


codecs.register_error("cjw_whatwg_c1", _whatwg_c1)


def _transcode(path: Path, encoding: str, source: str):
    """Stream a file in `encoding` into a temporary UTF-8 copy (WHATWG windows-1252 rules)."""
    tmp = tempfile.TemporaryDirectory(prefix="cjw-transcode-")
    out = Path(tmp.name) / "utf8.csv"
    opener = gzip.open if is_gzip(path) else open
    decoder = codecs.getincrementaldecoder(encoding)(errors="cjw_whatwg_c1")
    try:
        with opener(path, "rb") as fin, open(out, "w", encoding="utf-8", newline="") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(decoder.decode(chunk))
            fout.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        tmp.cleanup()
        raise InputFileError(f"Source '{source}', file '{path}' is not valid {encoding} "
                             f"(byte {exc.object[exc.start:exc.end]!r}). Try encoding: latin-1.") from None
    return tmp, out


def _clear_rejects(con) -> None:
    """DuckDB appends to its reject tables across reads of one connection: start each read empty."""
    con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")


def _csv_rejects(con, src: Source, path: Path) -> list[int]:
    """Copy DuckDB's reject_errors for the last read into `__rejects`, one row per bad line."""
    rows = con.execute("""SELECT line, any_value(column_name), string_agg(DISTINCT error_type, ', '),
                                 any_value(error_message), any_value(csv_line)
                          FROM reject_errors GROUP BY line ORDER BY line""").fetchall()
    for line, column, etype, message, raw in rows:
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
    if not rejected:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS "
                    f"SELECT *, rowid + {first_line} AS __line FROM __read")
    else:
        gaps = pd.DataFrame({"r": sorted(set(rejected))})
        gaps["n"] = range(1, len(gaps) + 1)
        gaps["g"] = gaps["r"] - gaps["n"] + 1 - first_line
        gaps = gaps.groupby("g", as_index=False)["n"].max()
        con.register("__gaps_df", gaps)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT r.* EXCLUDE (__k), r.__k + {first_line} + coalesce(g.n, 0) AS __line
            FROM (SELECT *, rowid AS __k FROM __read) r ASOF LEFT JOIN __gaps_df g ON r.__k >= g.g
            ORDER BY r.__k""")
        con.unregister("__gaps_df")
    con.execute("DROP TABLE __read")


_IS_OBJECT = "json_valid(j) AND starts_with(ltrim(j), '{')"


def _read_jsonl(con, src: Source, path: Path, table: str) -> None:
    """JSON lines: each line read as text, so a broken line is rejected, not the file."""
    _clear_rejects(con)
    con.execute("""CREATE OR REPLACE TEMP TABLE __read AS SELECT j FROM read_csv(?, columns={'j': 'VARCHAR'},
                   delim=?, quote='', escape='', header=false, store_rejects=true, compression=?)""",
                [str(path), "\x1f", "gzip" if is_gzip(path) else "none"])
    rejected = _csv_rejects(con, src, path)
    _number_lines(con, "__lines", rejected, first_line=1)
    bad = con.execute(f"""SELECT __line, j FROM __lines
                         WHERE NOT coalesce({_IS_OBJECT}, false)""").fetchall()
    for line, raw in bad:
        _reject(con, src, path, line, None, "malformed line", raw, "not a JSON object")
    keys = [r[0] for r in con.execute(f"""SELECT k FROM (SELECT unnest(json_keys(j)) AS k, __line FROM __lines
                                          WHERE {_IS_OBJECT})
                                          GROUP BY k ORDER BY min(__line), k""").fetchall()]
    if not keys:
        raise InputFileError(f"Source '{src.name}', file '{path}' holds no JSON objects (one per line expected).")
    cols = ", ".join(f"json_extract_string(j, ?) AS {quote_ident(k)}" for k in keys)
    paths = ['$."' + k.replace('"', '\\"') + '"' for k in keys]
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS SELECT {cols}, __line FROM __lines
                    WHERE {_IS_OBJECT} ORDER BY __line""", paths)
    con.execute("DROP TABLE __lines")


def _read_parquet(con, src: Source, path: Path, table: str) -> None:
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS
                    SELECT COLUMNS(* EXCLUDE (file_row_number))::VARCHAR, file_row_number + 1 AS __line
                    FROM read_parquet(?, file_row_number=true) ORDER BY file_row_number""", [str(path)])


def _read_excel(con, src: Source, path: Path, table: str) -> None:
    """Excel through openpyxl (DuckDB's excel extension needs a download): row 1 is the header."""
    try:
        frame = pd.read_excel(path, sheet_name=src.sheet or 0, dtype=str, engine="openpyxl",
                              keep_default_na=False, na_values=[""])
    except ValueError as exc:
        raise InputFileError(f"Source '{src.name}', file '{path}': {exc}. Set 'sheet:' to an existing sheet.") from None
    except Exception as exc:  # openpyxl raises many types for corrupt workbooks
        raise InputFileError(f"Source '{src.name}', file '{path}' is not a readable Excel workbook ({exc}).") from None
    frame.columns = [str(c) for c in frame.columns]
    frame["__line"] = range(2, len(frame) + 2)
    _stage_arrow(con, table, pa.Table.from_pandas(frame, preserve_index=False))


def _read_xes(con, src: Source, path: Path, table: str) -> None:
    _stage_arrow(con, table, read_xes(path, src.name))


def _stage_arrow(con, table: str, data: pa.Table) -> None:
    con.register("__arrow", data)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM __arrow ORDER BY __line")
    con.unregister("__arrow")


def quote_ident(name: str) -> str:
    """An SQL identifier for a column name taken from a file (never from free user text)."""
    return '"' + str(name).replace('"', '""') + '"'
