"""XES event logs (IEEE 1849) -> one text row per event, like the CSV export of the same log.

Trace attributes become `case:<key>` columns (pm4py's convention, so a config works for the
CSV and the XES export of one log alike); `__line` is the XML line of the `<event>` element.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
from lxml import etree

from ..errors import InputFileError
from .files import is_gzip

_VALUE_TAGS = {"string", "date", "int", "float", "boolean", "id"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_xes(path: Path, source: str) -> pa.Table:
    """All events of the log, in file order, as an Arrow table of strings plus `__line`."""
    rows: list[dict[str, str]] = []
    trace_attrs: dict[str, str] = {}
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as fh:
            for action, elem in etree.iterparse(fh, events=("start", "end")):
                tag = _local(elem.tag)
                if action == "start":
                    if tag == "trace":
                        trace_attrs = {}
                    continue
                parent = elem.getparent()
                ptag = _local(parent.tag) if parent is not None else ""
                if tag in _VALUE_TAGS and ptag == "trace":
                    trace_attrs["case:" + elem.get("key", "")] = elem.get("value")
                elif tag == "event":
                    row = {_child_key(c): c.get("value") for c in elem if _local(c.tag) in _VALUE_TAGS}
                    row.update(trace_attrs)
                    row["__line"] = elem.sourceline
                    rows.append(row)
                    elem.clear(keep_tail=True)
    except etree.XMLSyntaxError as exc:
        raise InputFileError(f"Source '{source}', file '{path}' is not valid XES/XML: {exc}.") from None
    except (OSError, EOFError) as exc:
        raise InputFileError(f"Source '{source}', file '{path}' could not be read: {exc}.") from None
    if not rows:
        raise InputFileError(f"Source '{source}', file '{path}' holds no <event> elements.")
    keys = list(dict.fromkeys(k for r in rows for k in r if k != "__line"))
    columns = {k: pa.array([r.get(k) for r in rows], pa.string()) for k in keys}
    columns["__line"] = pa.array([r["__line"] for r in rows], pa.int64())
    return pa.table(columns)


def _child_key(elem) -> str:
    return elem.get("key", "")
