"""Every supported format gives the same canonical rows for the same content."""

from __future__ import annotations

import gzip

import duckdb
import pandas as pd
import pytest

from cjworkbench.ingest import run_ingest

from .conftest import write_config

ROWS = pd.DataFrame({
    "cust": ["C1", "C2", "C3"],
    "ts": ["2024-03-01T09:00:00+00:00", "2024-03-01T10:30:00+01:00", "2024-03-02 08:00:00"],
    "act": ["open", "close", "café"],
    "extra": ["a", None, "c"],
})
COLUMNS = {"customer_id": "cust", "event_ts": "ts", "activity": "act"}
EXPECTED = [("C1", "2024-03-01 09:00:00", "open"), ("C2", "2024-03-01 09:30:00", "close"),
            ("C3", "2024-03-02 08:00:00", "café")]


def _ingest(folder, path, **over):
    src = {"name": "e", "kind": "events", "path": path, "columns": COLUMNS, **over}
    summary = run_ingest(write_config(folder, [src]), folder / "db.duckdb")
    with duckdb.connect(str(folder / "db.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT customer_id, strftime(event_ts, '%Y-%m-%d %H:%M:%S'), activity "
                           "FROM events ORDER BY seq").fetchall()
        attrs = con.execute("SELECT attributes FROM events ORDER BY seq").fetchall()
    return summary, rows, attrs


def _xes(folder):
    events = "".join(
        f'<trace><string key="concept:name" value="{c}"/><event><string key="concept:name" value="{a}"/>'
        f'<date key="time:timestamp" value="{t}"/><string key="extra" value="{e}"/></event></trace>\n'
        for c, t, a, e in ROWS.fillna("").itertuples(index=False))
    (folder / "log.xes").write_text(f'<?xml version="1.0" encoding="utf-8"?>\n<log xes.version="1.0">\n{events}</log>\n')


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "latin1", "cp1252", "utf16", "tsv", "parquet", "jsonl",
                                 "excel", "xes"])
def test_same_rows_from_every_format(tmp_path, fmt):
    over = {}
    if fmt in ("csv", "csv.gz", "latin1", "cp1252", "utf16", "tsv"):
        sep = "\t" if fmt == "tsv" else ","
        text = ROWS.to_csv(index=False, sep=sep)
        enc = {"latin1": "latin-1", "cp1252": "cp1252", "utf16": "utf-16"}.get(fmt, "utf-8")
        name = "e.csv.gz" if fmt == "csv.gz" else ("e.tsv" if fmt == "tsv" else "e.csv")
        data = text.encode(enc)
        (tmp_path / name).write_bytes(gzip.compress(data) if fmt == "csv.gz" else data)
        if enc != "utf-8":
            over["encoding"] = enc
        if fmt == "tsv":
            over["delimiter"] = "\t"
        path = name
    elif fmt == "parquet":
        ROWS.to_parquet(tmp_path / "e.parquet")
        path = "e.parquet"
    elif fmt == "jsonl":
        ROWS.to_json(tmp_path / "e.jsonl", orient="records", lines=True, force_ascii=False)
        path = "e.jsonl"
    elif fmt == "excel":
        ROWS.to_excel(tmp_path / "e.xlsx", index=False)
        path = "e.xlsx"
    else:
        _xes(tmp_path)
        path = "log.xes"
        over["columns"] = {"customer_id": "case:concept:name", "event_ts": "time:timestamp",
                           "activity": "concept:name"}
    summary, rows, attrs = _ingest(tmp_path, path, **over)
    assert rows == EXPECTED
    assert summary.source("e").rows_read == 3
    assert [dict(a[0]).get("extra") for a in attrs] == ["a", None, "c"]


def test_jsonl_bad_line_is_rejected_not_the_file(tmp_path):
    (tmp_path / "e.jsonl").write_text('{"cust": "C1", "ts": "2024-01-01", "act": "a"}\n{"cust": "C2", "ts": \n'
                                      '[1, 2]\n{"cust": "C3", "ts": "2024-01-02", "act": "b", "n": {"x": 1}}\n')
    summary, rows, attrs = _ingest(tmp_path, "e.jsonl")
    s = summary.source("e")
    assert (s.rows_read, s.rows_loaded, s.reasons) == (4, 2, {"malformed line": 2})
    assert [r[0] for r in rows] == ["C1", "C3"]
    assert dict(attrs[1][0]) == {"n": '{"x":1}'}
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        assert [r[0] for r in con.execute("SELECT line FROM rejects ORDER BY line").fetchall()] == [2, 3]


def test_xes_lines_point_at_event_elements(tmp_path):
    _xes(tmp_path)
    (tmp_path / "log.xes").write_text((tmp_path / "log.xes").read_text().replace("2024-03-02 08:00:00", "soon"))
    cols = {"customer_id": "case:concept:name", "event_ts": "time:timestamp", "activity": "concept:name"}
    summary, rows, _ = _ingest(tmp_path, "log.xes", columns=cols)
    assert summary.source("e").reasons == {"unparseable timestamp": 1}
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        assert con.execute("SELECT line, value FROM rejects").fetchall() == [(5, "soon")]
