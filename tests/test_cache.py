"""The one cache (`cjworkbench.cache`): memos are bounded and per holder, and the explicit
`execute` gives exactly what Ibis' own `execute` gives while compiling each expression once."""

from __future__ import annotations

from types import SimpleNamespace

import ibis
import pandas as pd
import pandas.testing as pdt

from cjworkbench.cache import compiled, execute, remember


def test_remember_builds_once_per_holder_and_key_and_forgets_the_oldest():
    built = []
    a, b = SimpleNamespace(), SimpleNamespace()
    for holder, key in ((a, 1), (a, 1), (b, 1), (a, 2), (a, 3), (a, 1)):
        remember(holder, "result", key, lambda k=key: built.append(k) or k * 10, size=2)
    # a: 1 built, hit; b: 1 built; a: 2, 3 built (1 evicted at size 2), then 1 built again
    assert built == [1, 1, 2, 3, 1]
    assert list(a.__dict__["_cjw_memos"]["result"]) == [3, 1]


def test_execute_equals_ibis_execute_and_compiles_once():
    con = ibis.duckdb.connect()
    con.raw_sql("CREATE TABLE t AS SELECT * FROM (VALUES ('a', 1.5, TIMESTAMP '2026-01-01'), "
                "('b', 2.0, TIMESTAMP '2026-01-02'), ('a', NULL, NULL), (NULL, 4.0, TIMESTAMP '2026-01-03')) v(g, x, ts)")
    t = con.table("t")
    exprs = [t.group_by("g").aggregate(n=t.count(), mean=t.x.mean(), last=t.ts.max()).order_by("g"),
             t.filter(t.x > 1).select("g", "x", "ts").order_by("x"),
             t.x.sum()]
    for expr in exprs:
        got, want = execute(con, expr), expr.execute()
        if isinstance(want, pd.DataFrame):
            pdt.assert_frame_equal(got, want)
        else:
            assert got == want
    calls = []
    compile_ = con.compile
    con.compile = lambda e, *a, **k: calls.append(1) or compile_(e, *a, **k)
    rebuilt = t.filter(t.x > 1).select("g", "x", "ts").order_by("x")   # equal structure, new object
    assert compiled(con, rebuilt) == compiled(con, exprs[1])
    assert calls == []   # both hits: the SQL was compiled during the first execute
