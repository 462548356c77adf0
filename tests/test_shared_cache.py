"""Results shared between dashboard kernels (`cjworkbench.cache.shared`, ADR 0004): a result
remembered on a DuckDB file connection is read back by another process instead of being
computed again, viewers arriving together run the query once, and a refreshed database file
starts afresh."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import ibis
import pandas as pd
import pytest

from cjworkbench.cache import SHARED_ENV, remember

# a separate process (another kernel): remembers ("n", 1) on a read-only connection, logs each build
CHILD = textwrap.dedent("""
    import os, pathlib, sys, time, ibis
    from cjworkbench.cache import remember
    db, log, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    con = ibis.duckdb.connect(db, read_only=True)
    ready = pathlib.Path(log).with_suffix(".ready")
    with open(ready, "a") as f:   # start together, whatever each import took
        f.write("x")
    while len(ready.read_text()) < n:
        time.sleep(0.01)
    def build():
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(1.0)   # a slow query: the other viewers arrive while it runs
        return con.sql("SELECT sum(x) AS s FROM t").execute()
    print(int(remember(con, "result", ("n", 1), build)["s"][0]))
""")


@pytest.fixture()
def db(tmp_path, monkeypatch):
    path = tmp_path / "db.duckdb"
    con = ibis.duckdb.connect(str(path))
    con.raw_sql("CREATE TABLE t AS SELECT * FROM range(1, 11) r(x)")   # sum 55
    con.disconnect()
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv(SHARED_ENV, str(shared))
    return path, shared


def test_viewers_arriving_together_run_the_query_once(db, tmp_path):
    path, shared = db
    log = tmp_path / "builds.log"
    env = {**os.environ, SHARED_ENV: str(shared)}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(log), "3"], stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert outputs == ["55"] * 3
    assert len(log.read_text().split()) == 1   # one process built it, the others waited and read its file
    assert len(list(shared.glob("*.pkl"))) == 1


def test_a_second_connection_reads_the_first_ones_result_and_a_new_file_starts_afresh(db):
    path, shared = db
    built = []

    def build(con):
        built.append(1)
        return con.sql("SELECT sum(x) AS s FROM t").execute()

    first = ibis.duckdb.connect(str(path), read_only=True)
    a = remember(first, "result", ("sum",), lambda: build(first))
    second = ibis.duckdb.connect(str(path), read_only=True)   # its own in-process memo is empty
    b = remember(second, "result", ("sum",), lambda: build(second))
    pd.testing.assert_frame_equal(a, b)
    assert built == [1] and int(b["s"][0]) == 55
    first.disconnect(), second.disconnect()

    new = path.with_name("new.duckdb")   # a refresh: a new file swapped in (stack notes, pitfall 7)
    con = ibis.duckdb.connect(str(new))
    con.raw_sql("CREATE TABLE t AS SELECT * FROM range(1, 5) r(x)")   # sum 10
    con.disconnect()
    os.replace(new, path)
    third = ibis.duckdb.connect(str(path), read_only=True)
    assert int(remember(third, "result", ("sum",), lambda: build(third))["s"][0]) == 10
    assert built == [1, 1]


def test_only_text_keys_on_database_files_are_shared(db):
    path, shared = db
    memory = ibis.duckdb.connect()   # in memory: nothing another process could share
    remember(memory, "result", ("k",), lambda: 1)
    con = ibis.duckdb.connect(str(path), read_only=True)
    remember(con, "result", (object(),), lambda: 2)   # a key whose repr differs between processes
    remember(con, "sql", ("k",), lambda: "select 1")   # only results are shared
    remember(SimpleNamespace(), "result", ("k",), lambda: 3)   # not a connection
    assert list(shared.glob("*.pkl")) == []
    remember(con, "result", ("k", 1, None), lambda: 4)
    assert len(list(shared.glob("*.pkl"))) == 1


def test_facts_about_the_data_are_shared_and_what_does_not_pickle_stays_in_its_process(db):
    path, shared = db
    built = []

    def inventory(con):
        built.append(1)
        return set(con.sql("SELECT x FROM t WHERE x > 8").execute()["x"])

    first = ibis.duckdb.connect(str(path), read_only=True)   # a preheated kernel's rehearsal (serving.rehearse)
    assert remember(first, "object", ("inventory",), lambda: inventory(first)) == {9, 10}
    second = ibis.duckdb.connect(str(path), read_only=True)   # the viewer's own connection, later
    assert remember(second, "object", ("inventory",), lambda: inventory(second)) == {9, 10}
    assert built == [1] and len(list(shared.glob("*.pkl"))) == 1
    assert remember(second, "result", ("inventory",), lambda: 7) == 7   # an object and a result never collide

    scorer = remember(first, "object", ("scorer",), lambda: (lambda text: len(text)))   # code, not data
    assert scorer("abc") == 3 and len(list(shared.glob("*.pkl"))) == 2 and not list(shared.glob("*.tmp"))
    identity = remember(second, "object", ("cache.database_identity",), lambda: None)   # names the files itself
    assert identity is not None and identity[0] == os.path.realpath(path)
