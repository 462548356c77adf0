"""Checks on an export file before a reader touches it, so failures come out in words.

DuckDB happily loads a zero-byte file, a binary file posing as CSV, or the readable head of a
truncated gzip (see stack-notes): these checks refuse such files with a message that says what
is wrong and how to fix it. Text files are also read once, streamed in bounded chunks (a gzip
is inflated at most `_CHUNK` bytes at a time), to enforce the config's `limits:` before DuckDB
reads a byte: the decompressed size, the number of lines, and over-long lines, which become
reject rows instead of failing the whole file.
"""

from __future__ import annotations

import csv
import glob
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import Limits
from ..errors import InputFileError

_MAGIC = {b"PAR1": "parquet", b"PK\x03\x04": "excel", b"\x1f\x8b": "gzip",
          b"<?xml": "xml", b"SQLite format": "sqlite", b"%PDF": "pdf"}
_CHUNK = 1 << 20
_HEAD = 1 << 16
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\x0b\x0c\x1b")
_DELIMITERS = ",;\t|"


@dataclass
class LongLine:
    line: int          # physical line number (1 = first line)
    start: int         # byte offsets of the line's content (newline excluded)
    end: int
    prefix: bytes = b""


@dataclass
class Scan:
    """What one streamed pass over a text file's content found."""

    content_bytes: int = 0
    lines: int = 0
    long_lines: list[LongLine] = field(default_factory=list)
    first_line: bytes = b""
    nul_bytes: int = 0


def source_files(pattern: str) -> tuple[Path, ...]:
    """The files a source's `path:` names, in a stable (sorted) order: one file, every match of a
    glob, or every visible file directly in a folder (a folder of daily exports refreshes by
    adding files to it). A path that does not exist comes back as itself: the caller says so."""
    if glob.has_magic(pattern):
        return tuple(Path(p) for p in sorted(glob.glob(pattern)))
    path = Path(pattern)
    if path.is_dir():
        return tuple(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
    return (path,)


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def check_file(path: Path, fmt: str, source: str, limits: Limits | None = None, *,
               encoding: str = "utf-8", header: bool = True, delimiter: str | None = None,
               max_lines: int | None = None) -> Scan | None:
    """Raise InputFileError when `path` is empty, truncated, not the declared `fmt`, or over a
    limit; for CSV and JSON lines return the `Scan` of its content."""
    limits = limits or Limits()
    where = f"Source '{source}', file '{path}'"
    if path.stat().st_size == 0:
        raise InputFileError(f"{where} is empty (0 bytes). Export it again or remove it from the config.")
    if fmt == "excel":
        _check_zip(path, where, limits)
    head = b"".join(_first(content_chunks(path, where, limits.max_decompressed_bytes, size=_HEAD), 1))
    if not head.strip():
        raise InputFileError(f"{where} holds no data (only whitespace after decompression).")
    found = next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)
    expected = {"parquet": "parquet", "excel": "excel"}.get(fmt)
    if expected and found != expected:
        raise InputFileError(f"{where} is not a {fmt} file (its first bytes do not match). "
                             f"Check the file or set 'format:' to what it really is.")
    if fmt in ("csv", "jsonl", "xes") and found in ("parquet", "excel", "sqlite", "pdf"):
        raise InputFileError(f"{where} looks like a {found} file, not {fmt}. "
                             f"Set 'format: {found}' if that is what it is." if found in ("parquet", "excel")
                             else f"{where} looks like a {found} file, not {fmt} text.")
    if fmt in ("csv", "jsonl") and encoding != "utf-16" and not _utf16(head) and _binary(head):
        raise InputFileError(f"{where} looks binary (control bytes such as NUL all through its first "
                             f"kilobytes), not {fmt} text. Is it compressed or in another format?")
    if fmt not in ("csv", "jsonl") and not is_gzip(path):
        return None  # nothing to stream: the size was checked, the reader checks rows and columns
    scan = scan_lines(path, where, limits, max_lines=max_lines if fmt in ("csv", "jsonl") else None,
                      header=header and fmt == "csv")
    if fmt == "csv" and scan.first_line:
        _check_first_line(scan.first_line, where, limits, encoding, delimiter, header)
    return scan if fmt in ("csv", "jsonl") else None


def _utf16(head: bytes) -> bool:
    return head.startswith((b"\xff\xfe", b"\xfe\xff"))


def _binary(head: bytes) -> bool:
    """Text with a stray NUL is still text (the row is rejected later); binary data is full of
    control bytes."""
    controls = len(head) - len(head.translate(None, _CONTROL))
    return controls > 0.10 * len(head) or (controls >= 16 and controls > 0.01 * len(head))


def _first(chunks, n: int) -> list[bytes]:
    out = []
    for chunk in chunks:
        out.append(chunk)
        if len(out) >= n:
            break
    chunks.close()
    return out


def content_chunks(path: Path, where: str, max_bytes: int, size: int | None = None):
    """The file's content in chunks of at most `size` bytes: a gzip is inflated with bounded
    output per step (a bomb never sits in memory), checked to its very end, and refused once
    it passes `max_bytes`."""
    size = size or _CHUNK
    if not is_gzip(path):
        if path.stat().st_size > max_bytes:
            raise _too_big(where, max_bytes)
        with open(path, "rb") as fh:
            while chunk := fh.read(size):
                yield chunk
        return
    _check_isize(path, where, max_bytes)
    total, decomp, pending, in_member = 0, zlib.decompressobj(16 + zlib.MAX_WBITS), b"", False
    try:
        with open(path, "rb") as fh:
            while True:
                if not pending:
                    pending = fh.read(size)
                    if not pending:
                        break
                in_member = True
                data = decomp.decompress(pending, size)
                if decomp.eof:  # end of a gzip member; another may follow (concatenated gzip)
                    pending, in_member = decomp.unused_data, False
                    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
                else:
                    pending = decomp.unconsumed_tail
                total += len(data)
                if total > max_bytes:
                    raise _too_big(where, max_bytes)
                if data:
                    yield data
    except zlib.error as exc:
        raise InputFileError(f"{where} is a corrupt gzip file ({exc}). Export or copy it again.") from None
    if in_member:
        raise InputFileError(f"{where} is a truncated gzip file (the compressed stream ends early). "
                             f"The download or copy was probably cut off: fetch it again.")


def _check_isize(path: Path, where: str, max_bytes: int) -> None:
    """The gzip trailer holds the last member's size modulo 2**32, a lower bound of the whole:
    a bomb that declares itself is refused without inflating a byte."""
    if path.stat().st_size < 18:  # shorter than any gzip: the decompressor says what is wrong
        return
    with open(path, "rb") as fh:
        fh.seek(-4, 2)
        (isize,) = struct.unpack("<I", fh.read(4))
    if isize > max_bytes:
        raise _too_big(where, max_bytes)


def _too_big(where: str, max_bytes: int) -> InputFileError:
    return InputFileError(f"{where} expands to more than {max_bytes:,} bytes "
                          f"(limits.max_decompressed_bytes). If the export is really this big, raise "
                          f"the limit in the config's `limits:` block; a small gzip that inflates to "
                          f"this much is probably a decompression bomb.")


def _check_zip(path: Path, where: str, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            size = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # the Excel reader says what is wrong with it
    if size > limits.max_decompressed_bytes:
        raise _too_big(where, limits.max_decompressed_bytes)


def scan_lines(path: Path, where: str, limits: Limits, *, max_lines: int | None = None,
               header: bool = False) -> Scan:
    """Count lines and find those longer than limits.max_line_bytes, in one bounded pass
    (numpy finds the newlines of each chunk; no Python loop runs per line)."""
    scan, limit = Scan(), limits.max_line_bytes
    offset = start = 0   # content offset of the current chunk / of the current (open) line
    line, head, first_done = 1, b"", False
    for chunk in content_chunks(path, where, limits.max_decompressed_bytes):
        if not first_done:
            nl = chunk.find(b"\n")
            scan.first_line += chunk[: nl if nl >= 0 else len(chunk)]
            first_done = nl >= 0 or len(scan.first_line) > limit
            scan.first_line = scan.first_line[: limit + 1]
        head += chunk[:300 - len(head)]  # the open line's first bytes (it may start in an earlier chunk)
        ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10) + offset
        scan.nul_bytes += chunk.count(0)
        if len(ends):
            starts = np.concatenate(([start], ends[:-1] + 1))
            for i in np.flatnonzero(ends - starts > limit):
                s = int(starts[i])
                e = int(ends[i])
                prefix = head if i == 0 else chunk[s - offset:s - offset + 300]
                scan.long_lines.append(LongLine(line + int(i), s, e, prefix[: e - s]))
            line += len(ends)
            start = int(ends[-1]) + 1
            head = chunk[start - offset:start - offset + 300]
        offset += len(chunk)
        if max_lines is not None and line - 1 - int(header) > max_lines:
            raise _too_many_lines(where, max_lines, limits)
    if offset > start:  # a last line without a newline
        if offset - start > limit:
            scan.long_lines.append(LongLine(line, start, offset, head))
        line += 1
    scan.content_bytes, scan.lines = offset, line - 1
    if max_lines is not None and scan.lines - int(header) > max_lines:
        raise _too_many_lines(where, max_lines, limits)
    return scan


def _too_many_lines(where: str, max_lines: int, limits: Limits) -> InputFileError:
    return InputFileError(f"{where} has more than {max_lines:,} lines, and a source may read at most "
                          f"{limits.max_rows_per_source:,} rows (limits.max_rows_per_source). If the "
                          f"export is really this big, raise the limit in the config's `limits:` block.")


def _check_first_line(first: bytes, where: str, limits: Limits, encoding: str, delimiter: str | None,
                      header: bool) -> None:
    """Refuse an over-long header, or a first line with more fields than limits.max_columns,
    before DuckDB's sniffer spends minutes on it (10,000 columns: 10 s just to sniff)."""
    if len(first) > limits.max_line_bytes:
        if header:
            raise InputFileError(f"{where}: the header line is longer than {limits.max_line_bytes:,} bytes "
                                 f"(limits.max_line_bytes). Is it really a CSV file with a header?")
        return
    text = first.decode(encoding if encoding in ("latin-1", "cp1252", "utf-16") else "utf-8", errors="replace")
    counts = []
    for d in [delimiter] if delimiter else _DELIMITERS:
        try:
            counts.append(len(next(csv.reader([text], delimiter=d), [])))
        except (csv.Error, TypeError):  # a multi-character delimiter, or a NUL in the line
            counts.append(text.count(d) + 1)
    if max(counts) > limits.max_columns:
        raise InputFileError(f"{where} has {max(counts):,} columns, more than {limits.max_columns:,} "
                             f"(limits.max_columns). Raise the limit in the config's `limits:` block "
                             f"if the export is really this wide.")


def copy_without_lines(path: Path, where: str, limits: Limits, lines: list[LongLine], out: Path,
                       placeholder: bytes) -> None:
    """Stream the content to `out` with each listed line replaced by `placeholder` (line numbers
    stay the same), so the reader never has to hold an over-long line."""
    spans = sorted((ll.start, ll.end) for ll in lines)
    a, k = 0, 0
    with open(out, "wb") as fh:
        for chunk in content_chunks(path, where, limits.max_decompressed_bytes):
            pos, b = a, a + len(chunk)
            while pos < b:
                if k == len(spans):
                    fh.write(chunk[pos - a:])
                    break
                s, e = spans[k]
                if pos < s:
                    stop = min(b, s)
                    fh.write(chunk[pos - a:stop - a])
                    pos = stop
                    continue
                if pos == s:
                    fh.write(placeholder)
                pos = min(b, e)
                if pos >= e:
                    k += 1
            a = b
