"""A corpus of broken exports: each gives a clear error or loads with every line accounted for.

Each case runs through the real command line (`cjw ingest`) on top of a good database, and
checks three things: the message (or the reject reasons), no traceback, and that a failed run
left the previous database byte-for-byte untouched.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os

import pytest

from cjworkbench.cli import main

from .conftest import write_config

GOOD = "cust,ts,act,amount\nC1,2024-01-01 10:00,open,1\nC2,2024-01-02 11:00,close,2\n"
COLS = {"customer_id": "cust", "event_ts": "ts", "activity": "act", "amount": "amount"}


def _src(path, **over):
    return {"name": "x", "kind": "events", "path": path, "columns": COLS, **over}


def _xlsx_bytes():
    import io

    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"cust": ["C1"], "ts": ["2024-01-01"], "act": ["a"], "amount": [1]}).to_excel(buf, index=False)
    return buf.getvalue()


# name -> (file name, file bytes, source overrides, expected: ("error", text) | ("load", reasons, loaded))
CASES = {
    "missing file": ("other.csv", GOOD.encode(), {"path": "nope.csv"}, ("error", "does not exist")),
    "empty file": ("e.csv", b"", {}, ("error", "is empty (0 bytes)")),
    "whitespace only": ("e.csv", b"\n\n  \n", {}, ("error", "holds no data")),
    "header only": ("e.csv", b"cust,ts,act,amount\n", {}, ("load", {}, 0)),
    "unknown extension": ("e.dat", GOOD.encode(), {}, ("error", "cannot tell the format of 'e.dat'")),
    "binary garbage": ("e.csv", bytes(range(256)) * 40, {}, ("error", "looks binary")),
    "parquet posing as csv": ("e.csv", b"PAR1" + bytes(100), {}, ("error", "Set 'format: parquet'")),
    "truncated gzip": ("e.csv.gz", gzip.compress((GOOD + "".join(f"C{i},2024-01-01 10:00,a,{i * 7919 % 1000}\n"
                                                            for i in range(3000))).encode())[:4000],
                       {}, ("error", "truncated gzip")),
    "corrupt gzip": ("e.csv.gz", b"\x1f\x8b\x08\x00" + bytes(60), {}, ("error", "gzip")),
    "mapped column absent": ("e.csv", GOOD.replace("act", "activity_name").encode(), {},
                             ("error", "column 'act' (mapped to activity) is not in e.csv. Did you mean "
                                       "'activity_name'? Available columns: cust, ts, activity_name, amount.")),
    "bad encoding": ("e.csv", (GOOD + "C3,2024-01-03 10:00,caf\xe9,3\n").encode("latin-1"), {},
                     ("load", {"invalid encoding": 1}, 2)),
    "ragged lines": ("e.csv", (GOOD + "C3,2024-01-03\nC4,2024-01-04 10:00,a,1,extra,more\n").encode(), {},
                     ("load", {"malformed line": 2}, 2)),
    "unparseable timestamps": ("e.csv", (GOOD + "C3,31/02/2026 25:61,a,1\nC4,yesterday,a,1\n").encode(), {},
                               ("load", {"unparseable timestamp": 2}, 2)),
    "empty ids": ("e.csv", (GOOD + ",2024-01-03 10:00,a,1\n  ,2024-01-03 10:00,a,1\n").encode(), {},
                  ("load", {"missing customer_id": 2}, 2)),
    "text in a number": ("e.csv", (GOOD + "C3,2024-01-03 10:00,a,12 EUR\n").encode(), {},
                         ("load", {"not a number": 1}, 2)),
    "duplicate lines": ("e.csv", (GOOD + "C2,2024-01-02 11:00,close,2\n" * 3).encode(), {},
                        ("load", {"duplicate": 3}, 2)),
    "broken json line": ("e.jsonl", b'{"cust":"C1","ts":"2024-01-01","act":"a","amount":1}\n{"cust": \n', {},
                         ("load", {"malformed line": 1}, 1)),
    "csv declared parquet": ("e.parquet", GOOD.encode(), {}, ("error", "is not a parquet file")),
    "corrupt excel": ("e.xlsx", b"PK\x03\x04" + bytes(200), {}, ("error", "is not a readable Excel workbook")),
    "unknown excel sheet": ("e.xlsx", _xlsx_bytes(), {"sheet": "Orders"}, ("error", "Set 'sheet:'")),
    "truncated xes": ("e.xes", b'<?xml version="1.0"?><log><trace><event><string key="a" value="b"/>', {},
                      ("error", "is not valid XES/XML")),
    "wrong delimiter guess": ("e.csv", GOOD.replace(",", "|").encode(), {"delimiter": ";"},
                              ("error", "Available columns: cust|ts|act|amount")),
    "semicolons sniffed": ("e.csv", GOOD.replace(",", ";").encode(), {}, ("load", {}, 2)),
    "bom and crlf": ("e.csv", b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode(), {}, ("load", {}, 2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_export(tmp_path, capsys, case):
    name, data, over, expected = CASES[case]
    (tmp_path / "good.csv").write_text(GOOD)
    db = tmp_path / "db.duckdb"
    assert main(["ingest", "--quiet", "--config", str(write_config(tmp_path, [_src("good.csv")])),
                 "--db", str(db)]) == 0
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    capsys.readouterr()

    (tmp_path / name).write_bytes(data)
    cfg = write_config(tmp_path, [_src(over.pop("path", name), **over)])
    code = main(["ingest", "--quiet", "--json", "--config", str(cfg), "--db", str(db)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    if expected[0] == "error":
        assert code == 2, err
        assert err.startswith("error: ") and expected[1] in err, err
        assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
        assert not [p for p in os.listdir(tmp_path) if "building" in p]
    else:
        assert code == 0, err
        summary = json.loads(out)["sources"][0]
        _, reasons, loaded = expected
        assert summary["reasons"] == reasons
        assert summary["rows_loaded"] == loaded
        assert summary["rows_read"] == summary["rows_loaded"] + summary["rows_rejected"]


def test_corpus_is_large_enough():
    assert len(CASES) >= 15


def test_strict_makes_rejects_fatal(tmp_path, capsys):
    (tmp_path / "e.csv").write_text(GOOD + "C3,never,a,1\n")
    cfg = write_config(tmp_path, [_src("e.csv")])
    assert main(["ingest", "--quiet", "--strict", "--config", str(cfg), "--db", str(tmp_path / "db.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "--strict: 1 rows rejected (x: 1 unparseable timestamp)" in err
    assert not (tmp_path / "db.duckdb").exists()
