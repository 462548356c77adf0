"""The one cache: small least-recently-used memos kept on an Ibis backend, and the explicit
`execute` that uses them.

A dashboard repeats the same queries (a widget goes back to a value it had; a report page asks
for this period and its baseline). Three kinds of thing are worth keeping, all in one place:
- `expression`: the Ibis expression an analysis built for its full definition (building a funnel's
  expression costs tens of milliseconds);
- `sql`: the SQL an expression compiles to (40-100 ms for a funnel, often more than DuckDB takes
  to run it); expressions are immutable and compare by structure, values included, so a hit is
  exactly the SQL a fresh compile would give;
- `result`: a small aggregated table a view already computed for the same filters and options
  (a chart-only change, or a widget going back to a value), or a window's table that one
  what-changed run compares with several baselines;
- `object`: something costly to build once per process, such as a sentiment scorer and its lexicon.
Memos live on the object they serve (`holder`): on the backend they go with the connection (a new connection after an
ingest starts empty) and never outlive the data they were computed on. Results are kept only
where a caller asks (`remember(con, "result", key, build)`); `execute` always runs the query.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, TypeVar

T = TypeVar("T")
SIZES = {"expression": 256, "sql": 256, "result": 16, "object": 8}


def remember(holder, kind: str, key, build: Callable[[], T], *, size: int | None = None) -> T:
    """`build()` for `key`, built once per `holder` (a backend, a view, one run, or a module's
    holder object) and `kind`; the oldest entries go past `size` (default `SIZES[kind]`)."""
    memos = holder.__dict__.setdefault("_cjw_memos", {})
    memo: OrderedDict = memos.setdefault(kind, OrderedDict())
    if key in memo:
        memo.move_to_end(key)
        return memo[key]
    value = memo[key] = build()
    while len(memo) > (size or SIZES.get(kind, 64)):
        memo.popitem(last=False)
    return value


def compiled(con, expr) -> str:
    """The SQL of `expr` on `con`, compiled once per expression."""
    table = expr.as_table()
    return remember(con, "sql", table.op(), lambda: con.compile(table))


def execute(con, expr):
    """Run `expr` on `con` with its SQL from the memo (DuckDB); other backends run it as usual.

    The same result as `expr.execute()`: DuckDB runs the remembered SQL and Ibis converts the
    Arrow result to pandas with the expression's schema, as its own `execute` does."""
    if getattr(con, "name", "") != "duckdb":
        return expr.execute()
    import pandas as pd
    import pyarrow.types as pat
    from ibis.backends.duckdb.converter import DuckDBPandasData

    table = con.con.sql(compiled(con, expr)).to_arrow_table()
    df = pd.DataFrame({name: (col.to_pylist() if pat.is_nested(col.type) or pat.is_dictionary(col.type)
                              or col.null_count else col.to_pandas())
                       for name, col in zip(table.column_names, table.columns)})
    df = DuckDBPandasData.convert_table(df, expr.as_table().schema())
    return expr.__pandas_result__(df)
