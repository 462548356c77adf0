"""Golden SQL: the queries the core analyses compile to, kept as readable snapshots so that a
change in a plan shows in review (as ibis does with its snapshot tests).

Each case runs one analysis on the demo fixture, records every SQL statement Ibis compiles for
it (DuckDB dialect), pretty-prints them with sqlglot and compares with `tests/golden/sql/<case>.sql`.
After a deliberate change, rewrite the snapshots and review the diff:

    CJW_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden_sql.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot

import cjworkbench

GOLDEN = Path(__file__).parent / "golden" / "sql"
FILTERS = {"segment": "Premium", "channel": "app", "start_date": "2026-01-01", "end_date": "2026-06-30"}


def _cases(designed: Path) -> dict:
    return {
        "variants": lambda con: cjworkbench.variants_table(con, filters=FILTERS, top=10),
        "variants_stored": lambda con: cjworkbench.variants_table(con, filters={"segment": "Premium"}, top=10),
        "transitions": lambda con: cjworkbench.transitions_table(con, filters=FILTERS),
        "funnel": lambda con: cjworkbench.funnel_table(
            con, steps=["view_product", "view_cart", "checkout_start", "checkout_confirmed"], window="7d", filters=FILTERS),
        "conformance": lambda con: cjworkbench.conformance_table(
            con, design=designed / "onboarding.yml", filters={"segment": "Premium"}),
        "scores": lambda con: cjworkbench.scores_table(con, instrument="nps", period="month",
                                                       filters={"segment": "Premium", "start_date": "2026-01-01"}),
    }


def _pretty(statements: list[str]) -> str:
    out = []
    for i, sql in enumerate(statements, 1):
        out.append(f"-- statement {i}\n" + sqlglot.transpile(sql, read="duckdb", write="duckdb", pretty=True)[0] + ";")
    return "\n\n".join(out) + "\n"


@pytest.fixture(scope="module")
def recorded(demo_db):
    """Every case's compiled SQL, recorded on a fresh connection (no memo hits across cases)."""
    db, _ = demo_db
    out = {}
    for name, run in _cases(db.parent / "designed").items():
        con = cjworkbench.connect(db)
        seen: list[str] = []
        compile_ = con.compile

        def spy(expr, *args, _seen=seen, **kwargs):
            sql = compile_(expr, *args, **kwargs)
            _seen.append(sql)
            return sql

        con.compile = spy   # test-only: observe what the analysis compiles
        run(con)
        out[name] = _pretty(seen)
    return out


@pytest.mark.parametrize("case", ["variants", "variants_stored", "transitions", "funnel", "conformance", "scores"])
def test_compiled_sql_matches_its_snapshot(recorded, case):
    path = GOLDEN / f"{case}.sql"
    got = recorded[case]
    if os.environ.get("CJW_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.is_file(), f"no snapshot {path}: run with CJW_UPDATE_GOLDEN=1 and review it"
    want = path.read_text(encoding="utf-8")
    assert got == want, (f"{case}: the compiled SQL changed. If deliberate, rewrite the snapshot with "
                         f"CJW_UPDATE_GOLDEN=1 and review the diff of {path.name}.")


def test_snapshots_read_the_canonical_tables_only(recorded):
    """Analyses read canonical (and derived) tables, never raw export columns or other files."""
    import re

    for case, sql in recorded.items():
        tables = {t for t in re.findall(r'FROM "(\w+)"', sql) if not re.fullmatch(r"t\d+", t)}
        assert tables <= {"events", "feedback", "customers", "journey_steps", "journeys"}, (case, tables)
        assert "read_csv" not in sql and "read_parquet" not in sql, case
