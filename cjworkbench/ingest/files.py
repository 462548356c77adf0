"""Checks on an export file before a reader touches it, so failures come out in words.

DuckDB happily loads a zero-byte file, a binary file posing as CSV, or the readable head of a
truncated gzip (see stack-notes): these checks refuse such files with a message that says what
is wrong and how to fix it.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from ..errors import InputFileError

_MAGIC = {b"PAR1": "parquet", b"PK\x03\x04": "excel", b"\x1f\x8b": "gzip",
          b"<?xml": "xml", b"SQLite format": "sqlite", b"%PDF": "pdf"}
_CHUNK = 1 << 20


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def check_file(path: Path, fmt: str, source: str) -> None:
    """Raise InputFileError when `path` is empty, truncated or not the declared `fmt`."""
    where = f"Source '{source}', file '{path}'"
    if path.stat().st_size == 0:
        raise InputFileError(f"{where} is empty (0 bytes). Export it again or remove it from the config.")
    head = _head(path, where)
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
    if fmt in ("csv", "jsonl") and b"\x00" in head and not _utf16(head):
        raise InputFileError(f"{where} looks binary (NUL bytes in its first kilobytes), not {fmt} text. "
                             f"Is it compressed or in another format?")


def _utf16(head: bytes) -> bool:
    return head.startswith((b"\xff\xfe", b"\xfe\xff"))


def _head(path: Path, where: str) -> bytes:
    """The first 64 KB of the file's content, decompressed; checks a gzip to its very end."""
    if not is_gzip(path):
        with open(path, "rb") as fh:
            return fh.read(1 << 16)
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head = b""
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                data = decomp.decompress(chunk)
                while decomp.unused_data:  # concatenated gzip members
                    rest = decomp.unused_data
                    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data += decomp.decompress(rest)
                if len(head) < 1 << 16:
                    head += data[: (1 << 16) - len(head)]
    except zlib.error as exc:
        raise InputFileError(f"{where} is a corrupt gzip file ({exc}). Export or copy it again.") from None
    if not decomp.eof:
        raise InputFileError(f"{where} is a truncated gzip file (the compressed stream ends early). "
                             f"The download or copy was probably cut off: fetch it again.")
    return head
