"""Export file -> staging table of text columns plus `__line`, using DuckDB's own readers.

Every reader leaves a table whose columns are the export's columns as VARCHAR, plus `__line`
(the file line, or row for Parquet/Excel, or the XML line of an XES event) and writes the
lines it could not read to the `__rejects` staging table with a reason. Typing and validation
happen later, in one place, for every format alike.
"""

from __future__ import annotations

import codecs
import gzip
import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from ..config import Limits, Source
from ..errors import InputFileError
from .files import Scan, check_file, copy_without_lines, is_gzip, scan_lines
from .read_rejects import (_clear_rejects, _csv_rejects, _number_lines, _reject, _reject_long_lines,  # noqa: F401
                           _reject_nul_rows, quote_ident)
from .target import disk_full
from .xes import read_xes

# what an over-long line is replaced by before DuckDB reads the file: a lone field, so a
# multi-column CSV rejects it and a one-column file loads it; either way it is then dropped
# and reported as `line too long` on its own line number
_PLACEHOLDER = b"cjw-line-too-long"


@dataclass
class ReadOptions:
    """What a reader needs besides the file: the limits, a scratch folder beside the database
    (removed with the run, and as debris after a crash), and the rows the source may still read."""

    limits: Limits = field(default_factory=Limits)
    tmp_dir: Path | None = None
    rows_left: int | None = None


def read_file(con: duckdb.DuckDBPyConnection, src: Source, path: Path, table: str,
              opts: ReadOptions | None = None) -> None:
    """Stage one export file as `table`; unreadable lines go to the `__rejects` staging table."""
    opts = opts or ReadOptions()
    rows_left = opts.limits.max_rows_per_source if opts.rows_left is None else opts.rows_left
    opts = replace(opts, rows_left=rows_left)
    scan = check_file(path, src.format, src.name, opts.limits, encoding=src.encoding, header=src.header,
                      delimiter=src.delimiter, max_lines=rows_left)
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet,
              "excel": _read_excel, "xes": _read_xes}[src.format]
    try:
        reader(con, src, path, table, scan, opts)
    except duckdb.Error as exc:
        if disk_full(exc) or isinstance(exc, duckdb.OutOfMemoryException):
            raise
        raise InputFileError(_explain(exc, src, path)) from None
    _check_size(con, src, path, table, opts.limits, rows_left)


def _check_size(con, src: Source, path: Path, table: str, limits: Limits, rows_left: int) -> None:
    """Every format is held to the same ceilings once staged (Excel and XES can only be counted
    after parsing; their size was checked before)."""
    ncols = len(con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()) - 1
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    _over_limits(src, path, ncols, rows, ReadOptions(limits, None, rows_left))


def _over_limits(src: Source, path: Path, ncols: int, rows: int, opts: ReadOptions) -> None:
    where, limits = f"Source '{src.name}', file '{path}'", opts.limits
    if ncols > limits.max_columns:
        raise InputFileError(f"{where} has {ncols:,} columns, more than {limits.max_columns:,} "
                             f"(limits.max_columns). Raise the limit in the config's `limits:` block "
                             f"if the export is really this wide.")
    if rows > opts.rows_left:
        raise InputFileError(f"{where} brings the source past {limits.max_rows_per_source:,} rows "
                             f"(limits.max_rows_per_source). If the export is really this big, raise "
                             f"the limit in the config's `limits:` block.")


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


def _read_csv(con, src: Source, path: Path, table: str, scan: Scan, opts: ReadOptions) -> None:
    read_path, tmp, long_lines, encoding = _text_to_read(src, path, scan, opts)
    _clear_rejects(con)
    opts_sql = ["all_varchar=true", "store_rejects=true", "header=?", "encoding=?", "compression=?",
                "max_line_size=?"]
    params: list = [str(read_path), src.header, encoding, "gzip" if is_gzip(read_path) else "none",
                    _max_line_size(opts.limits)]
    if src.delimiter:
        opts_sql.append("delim=?")
        params.append(src.delimiter)
    try:
        con.execute(f"CREATE OR REPLACE TABLE __read AS SELECT * FROM read_csv(?, {', '.join(opts_sql)})",
                    params)
        rejected = _csv_rejects(con, src, path, skip=long_lines)
    finally:
        if tmp:
            tmp.cleanup()
    columns = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE __read)").fetchall()]
    if len(columns) == 1 and not src.delimiter and any(d in columns[0] for d in ",;\t|"):
        raise InputFileError(f"Source '{src.name}', file '{path}': the delimiter could not be detected "
                             f"(header read as one column '{columns[0][:60]}'). Set 'delimiter:'.")
    _number_lines(con, table, rejected, first_line=2 if src.header else 1)
    _reject_long_lines(con, src, path, table, long_lines, opts.limits)
    if scan.nul_bytes and encoding != "utf-16":
        _reject_nul_rows(con, src, path, table)


def _max_line_size(limits: Limits) -> int:
    """DuckDB's own ceiling (default 2 MiB) above ours, so only our scan decides what is too long."""
    return max(2 * 1024 * 1024, limits.max_line_bytes + 4096)


def _text_to_read(src: Source, path: Path, scan: Scan, opts: ReadOptions):
    """(path DuckDB reads, temp folder or None, {line: LongLine}, its encoding).

    cp1252 is transcoded (DuckDB reads utf-8/latin-1/utf-16 natively); over-long lines are
    replaced by a placeholder in a copy, so DuckDB never holds one. A utf-16 file with an
    over-long line is transcoded first, so the copy is cut on real line ends."""
    read_path, tmp, encoding = path, None, src.encoding
    if src.encoding == "cp1252" or (src.encoding == "utf-16" and scan.long_lines):
        tmp = tempfile.TemporaryDirectory(prefix="cjw-read-", dir=opts.tmp_dir)
        read_path, encoding = _transcode(path, src.encoding, src.name, Path(tmp.name)), "utf-8"
        scan = scan_lines(read_path, f"Source '{src.name}', file '{path}'", opts.limits)
    if scan.long_lines:
        tmp = tmp or tempfile.TemporaryDirectory(prefix="cjw-read-", dir=opts.tmp_dir)
        out = Path(tmp.name) / "lines.txt"
        copy_without_lines(read_path, f"Source '{src.name}', file '{path}'", opts.limits, scan.long_lines,
                           out, _PLACEHOLDER)
        read_path = out
    return read_path, tmp, {ll.line: ll for ll in scan.long_lines}, encoding


def _whatwg_c1(err: UnicodeDecodeError):
    """Bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) decode to U+0081.. as in browsers."""
    return err.object[err.start:err.end].decode("latin-1"), err.end


codecs.register_error("cjw_whatwg_c1", _whatwg_c1)


def _transcode(path: Path, encoding: str, source: str, folder: Path) -> Path:
    """Stream a file in `encoding` into a UTF-8 copy in `folder` (WHATWG windows-1252 rules)."""
    out = folder / "utf8.csv"
    opener = gzip.open if is_gzip(path) else open
    decoder = codecs.getincrementaldecoder(encoding)(errors="cjw_whatwg_c1" if encoding == "cp1252" else "strict")
    try:
        with opener(path, "rb") as fin, open(out, "w", encoding="utf-8", newline="") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(decoder.decode(chunk))
            fout.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise InputFileError(f"Source '{source}', file '{path}' is not valid {encoding} "
                             f"(byte {exc.object[exc.start:exc.end]!r}). Try encoding: latin-1.") from None
    return out


_IS_OBJECT = "json_valid(j) AND starts_with(ltrim(j), '{')"


def _read_jsonl(con, src: Source, path: Path, table: str, scan: Scan, opts: ReadOptions) -> None:
    """JSON lines: each line read as text, so a broken line is rejected, not the file."""
    read_path, tmp, long_lines, _enc = _text_to_read(src, path, scan, opts)
    _clear_rejects(con)
    try:
        con.execute("""CREATE OR REPLACE TABLE __read AS SELECT j FROM read_csv(?, columns={'j': 'VARCHAR'},
                       delim=?, quote='', escape='', header=false, store_rejects=true, compression=?,
                       max_line_size=?)""",
                    [str(read_path), "\x1f", "gzip" if is_gzip(read_path) else "none", _max_line_size(opts.limits)])
        rejected = _csv_rejects(con, src, path, skip=long_lines)
    finally:
        if tmp:
            tmp.cleanup()
    _number_lines(con, "__lines", rejected, first_line=1)
    _reject_long_lines(con, src, path, "__lines", long_lines, opts.limits)
    bad = con.execute(f"""SELECT __line, j, contains(j, chr(0)) FROM __lines
                         WHERE contains(j, chr(0)) OR NOT coalesce({_IS_OBJECT}, false)""").fetchall()
    for line, raw, nul in bad:
        if nul:
            _reject(con, src, path, line, None, "NUL byte", raw.replace("\x00", "\\0"),
                    "a NUL byte in the line (shown as \\0)")
        else:
            _reject(con, src, path, line, None, "malformed line", raw, "not a JSON object")
    keys = [r[0] for r in con.execute(f"""SELECT k FROM (SELECT unnest(json_keys(j)) AS k,
                                                 generate_subscripts(json_keys(j), 1) AS pos, __line FROM __lines
                                          WHERE {_IS_OBJECT} AND NOT contains(j, chr(0)))
                                          GROUP BY k ORDER BY min([__line, pos]), k""").fetchall()]
    if not keys:
        raise InputFileError(f"Source '{src.name}', file '{path}' holds no JSON objects (one per line expected).")
    if len(keys) > opts.limits.max_columns:
        raise InputFileError(f"Source '{src.name}', file '{path}' has {len(keys):,} distinct keys, more than "
                             f"{opts.limits.max_columns:,} (limits.max_columns). Raise the limit in the "
                             f"config's `limits:` block if the export is really this wide.")
    # keys are matched literally (json_transform), never parsed as JSON paths: '*', '\\', '"', '.',
    # '[0]' or '$' in a key is just part of its name
    cols = ", ".join(f"struct_extract_at(__s, {i + 1}) AS {quote_ident(name)}"
                     for i, name in enumerate(column_names(keys)))
    con.execute(f"""CREATE OR REPLACE TABLE {table} AS SELECT {cols}, __line FROM (
                    SELECT json_transform(j, ?) AS __s, __line FROM __lines
                    WHERE {_IS_OBJECT} AND NOT contains(j, chr(0))) ORDER BY __line""",
                [json.dumps({k: "VARCHAR" for k in keys})])
    con.execute("DROP TABLE __lines")


def column_names(keys: list[str]) -> list[str]:
    """Column names for JSON keys, as DuckDB names CSV headers: an empty key becomes `column<i>`
    and a key equal to an earlier one but for case gets `_1`, `_2`, ..."""
    out, seen = [], set()
    for i, key in enumerate(keys):
        name = key or f"column{i}"
        n, base = 0, name
        while name.lower() in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name.lower())
        out.append(name)
    return out


def _read_parquet(con, src: Source, path: Path, table: str, scan=None, opts=None) -> None:
    if opts is not None:  # the footer tells rows and columns: check them before reading a row
        (rows,) = con.execute("SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(?)", [str(path)]).fetchone()
        ncols = len(con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall())
        _over_limits(src, path, ncols, rows, opts)
    con.execute(f"""CREATE OR REPLACE TABLE {table} AS
                    SELECT COLUMNS(* EXCLUDE (file_row_number))::VARCHAR, file_row_number + 1 AS __line
                    FROM read_parquet(?, file_row_number=true) ORDER BY file_row_number""", [str(path)])


def _read_excel(con, src: Source, path: Path, table: str, scan=None, opts=None) -> None:
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


def _read_xes(con, src: Source, path: Path, table: str, scan=None, opts=None) -> None:
    _stage_arrow(con, table, read_xes(path, src.name))


def _stage_arrow(con, table: str, data: pa.Table) -> None:
    con.register("__arrow", data)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM __arrow ORDER BY __line")
    con.unregister("__arrow")
