"""Bounded memory: every analysis connection gets a memory limit and a bounded, private spill folder."""

from __future__ import annotations

import os

import duckdb
import pytest

import cjworkbench
from cjworkbench.contract import BOOKKEEPING_TABLES, CANONICAL_TABLES, DDL
from cjworkbench.db import MEMORY_ENV, TEMP_ENV
from cjworkbench.errors import DatabaseError


@pytest.fixture
def empty_db(tmp_path):
    path = tmp_path / "empty.duckdb"
    with duckdb.connect(str(path)) as con:
        for table in CANONICAL_TABLES + BOOKKEEPING_TABLES:
            con.execute(DDL[table])
    return path


def _setting(con, name: str):
    return con.raw_sql(f"SELECT value FROM duckdb_settings() WHERE name = '{name}'").fetchone()[0]


def test_configured_limits_reach_the_connection(empty_db, monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "300MB")
    monkeypatch.setenv(TEMP_ENV, "1GiB")
    con = cjworkbench.connect(empty_db)
    # DuckDB shows sizes in its own units: 300 MB = 286.1 MiB, 1 GiB = 1.0 GiB
    assert _setting(con, "memory_limit") == "286.1 MiB"
    assert _setting(con, "max_temp_directory_size") == "1.0 GiB"
    assert _setting(con, "temp_directory").endswith(f"cjworkbench-spill-{os.getpid()}")


def test_default_memory_limit_is_a_quarter_of_ram(empty_db, monkeypatch):
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    monkeypatch.delenv(TEMP_ENV, raising=False)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    con = cjworkbench.connect(empty_db)
    limit = con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
    value, unit = limit.split()
    got = float(value) * {"MiB": 2**20, "GiB": 2**30}[unit]
    assert abs(got - ram / 4) <= 0.1 * 2**30   # shown to 0.1 GiB
    assert _setting(con, "max_temp_directory_size") == "18.6 GiB"   # 20 GB


@pytest.mark.parametrize("value", ["lots", "10MB", "-1GB"])
def test_a_bad_limit_is_refused_with_the_variable_named(empty_db, monkeypatch, value):
    monkeypatch.setenv(MEMORY_ENV, value)
    with pytest.raises(DatabaseError, match=rf"\$CJW_MEMORY_LIMIT must be a size such as 6GB .*got '{value}'"):
        cjworkbench.connect(empty_db)
