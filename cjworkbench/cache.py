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

Shared between dashboard kernels: `cjw serve` gives every kernel a private folder (`SHARED_ENV`).
A `result` remembered on a DuckDB connection under a text key is also kept there as a file named
by the key and the database file's identity (path, size, modification time, inode: a refresh
that swaps the file in starts afresh), so the 2nd-20th viewer of a dashboard reads the first
viewer's aggregates instead of running the query again. `object` memos on such a connection (the
small facts a page looks up first: the roles inventory, an instrument list, the data's last date)
are shared the same way when their value pickles. A file lock per key makes viewers who arrive
together wait for one query instead of each running it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")
SIZES = {"expression": 256, "sql": 256, "result": 16, "object": 8}
SHARED_ENV = "CJW_SHARED_CACHE"   # a folder only the serving user can write: results shared by its kernels
SHARED_FILES = 2000               # past this many files in the folder, the oldest half goes
PRIVATE = {("cache.database_identity",)}   # `object` memos never shared: what names the shared files


def remember(holder, kind: str, key, build: Callable[[], T], *, size: int | None = None) -> T:
    """`build()` for `key`, built once per `holder` (a backend, a view, one run, or a module's
    holder object) and `kind`; the oldest entries go past `size` (default `SIZES[kind]`)."""
    memos = holder.__dict__.setdefault("_cjw_memos", {})
    memo: OrderedDict = memos.setdefault(kind, OrderedDict())
    if key in memo:
        memo.move_to_end(key)
        return memo[key]
    if kind == "result":
        value = shared(holder, key, build)
    elif kind == "object" and key not in PRIVATE:   # small facts about the data (an inventory, a set of values)
        value = shared(holder, ("object", key), build)
    else:
        value = build()
    memo[key] = value
    while len(memo) > (size or SIZES.get(kind, 64)):
        memo.popitem(last=False)
    return value


def shared(con, key, build: Callable[[], T]) -> T:
    """`build()` through the folder in `SHARED_ENV` when `con` is a DuckDB file connection and `key`
    is text (or a tuple of texts and numbers), else `build()`; see the module's docstring."""
    folder = os.environ.get(SHARED_ENV)
    if not folder or getattr(con, "name", "") != "duckdb" or not _plain(key):
        return build()
    identity = _database_identity(con)
    if identity is None:   # an in-memory database: nothing another process could share
        return build()
    import fcntl

    name = hashlib.sha256(repr((identity, key)).encode()).hexdigest()[:32]
    path = Path(folder) / f"{name}.pkl"
    with open(Path(folder) / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # the first viewer runs the query; the others wait for its file
        try:
            if path.is_file():
                with open(path, "rb") as f:
                    return pickle.load(f)
            value = build()
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            try:
                with open(tmp, "wb") as f:
                    pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError):   # not data: this process keeps it alone
                tmp.unlink(missing_ok=True)
                return value
            os.replace(tmp, path)
            _trim(Path(folder))
            return value
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _plain(key) -> bool:
    """A key whose repr is the same in every process: text, numbers, and tuples of them."""
    if isinstance(key, tuple):
        return all(_plain(k) for k in key)
    return isinstance(key, (str, int, float, bool)) or key is None


def _database_identity(con):
    """(path, size, mtime, inode) of the database file behind `con`, or None (in memory)."""
    def read():
        row = con.con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
        if not row or not row[0]:
            return None
        st = os.stat(row[0])
        return (os.path.realpath(row[0]), st.st_size, st.st_mtime_ns, st.st_ino)
    return remember(con, "object", ("cache.database_identity",), read)


def _trim(folder: Path) -> None:
    """Keep the folder bounded: past `SHARED_FILES` results, remove the oldest half."""
    files = list(folder.glob("*.pkl"))
    if len(files) > SHARED_FILES:
        for f in sorted(files, key=lambda p: p.stat().st_mtime)[: len(files) // 2]:
            f.unlink(missing_ok=True)


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
