"""Segment cubes: a journey analysis computed once for every segment, so that a dashboard's
segment filter reads a few rows instead of the stored journeys.

Why: at 100 M events a segment-filtered variants / transitions / funnel call scans 25 M stored
steps (2-10 s on two cores) every time a viewer picks a segment. Computed once per connection
grouped by segment, each later pick is a row filter (milliseconds). The first segment filter pays
for every segment at once (cost moved to the first call, as the KPI cube does).

Exact, not approximate: used only when the filtered scope reads the stored tables (`Scope.stored`:
whole journeys of one customer, no event-level or date filter) and its only filter is one segment,
so the segment's rows of the by-segment result are the filtered result, medians included. On a
read-only DuckDB file only: there the data cannot change under the connection (a refresh swaps
the file and `db.reopen_if_replaced` gives a new connection, with empty memos).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import duckdb
import pandas as pd

from ...cache import remember
from ...scope import Filters, scope

__all__ = ["cube_segment", "segment_rows"]


def cube_segment(con, filters, loops: str = "keep", unit: str = "journey") -> str | None:
    """The segment whose cube answers `filters`: set when the only filter is one segment, the
    scope reads the stored tables and `con` is a read-only DuckDB file; else None."""
    origin = getattr(con, "_cjw_origin", None)
    if origin is None or not origin[2] or getattr(con, "name", "") != "duckdb":
        return None
    sc = scope(con, filters, unit=unit)
    seg = sc.filters.segment
    if isinstance(seg, (list, tuple, set, frozenset)):
        seg = next(iter(seg)) if len(seg) == 1 else None
    if not isinstance(seg, str) or replace(sc.filters, segment=None) != Filters():
        return None
    return seg if sc.stored(loops) else None


def segment_rows(con, key: tuple, segment: str, build: Callable[[], pd.DataFrame],
                 column: str = "segment") -> pd.DataFrame | None:
    """Rows of `segment` (column `column` dropped) of the by-segment table `build()` gives, built
    once per connection and `key` (a "result" memo: shared between a server's kernels); None when
    the build ran out of memory (it reads every segment: at 100 M events a 1 GB kernel cannot,
    while the filtered query can), so the caller runs the filtered query as before."""
    def attempt() -> pd.DataFrame | None:
        try:
            return build()
        except duckdb.OutOfMemoryException:
            return None   # remembered: not tried again on this connection

    cube = remember(con, "result", ("segment cube", *key), attempt)
    if cube is None:
        return None
    rows = cube[cube[column] == segment]
    return rows.drop(columns=column).reset_index(drop=True)
