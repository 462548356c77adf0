"""The scorecard's statistics from KPI rows pre-aggregated per customer class and business date,
so another as_of, a segment, persona or customer-attribute filter aggregates tens of thousands of
rows instead of every customer's ~12 M unit rows (issue #19: the whole scorecard warm in ≤ 1 s).

Classes: customers grouped by the values a customer-level filter tests: segment, the persona of
the rules in use (the database's `designs: personas`, or the filter's own rules) and the attribute
keys a filter names (`classes`; a new key's classes and cube are built on its first filter). Units
of ids without a customers row form class -1, which only an unfiltered scope keeps (as
`Scope._customer_ids`). A filter keeps whole classes: once per filter the scope's own customer
selection is counted per class, and a class it splits (never, by construction) sends the call back
to the unit rows. Event-level, has_activity and identity filters always take the unit rows.

The cube (`cube`), per (kpi, class, date): n_units (Σw), sum_y, sum_y2 and n_first, the customers
whose first counted (w = 1) unit of the KPI in its calendar `period` falls on that date. Every
scorecard window and trend period starts at a period start (`periods.period_window`), so Σ n_first
over its dates is exactly its distinct counted customers. Medians: per (kpi, class, date, y) the
number of units and the value's bucket `b`; the median (interpolated as DuckDB's QUANTILE_CONT)
and the order statistics at the interval's ranks are read by cumulative counts, first over the
buckets, then over the values of the one bucket holding each rank. So every statistic equals the
one `estimates.window_stats` / `period_stats` compute on the unit rows (tests/test_measures_cube.py).
Each call registers its dates -> groups and kept classes as Arrow tables (`_inputs`), so the
statistics SQL is compiled once per cube and no value of a call becomes SQL text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from ...cache import execute, remember
from ...errors import WorkbenchError
from ...periods import as_date, period_start, period_window
from ..stats import _z
from . import estimates as est
from .catalogue import CATALOGUE
from .kpis import everyone_rows
from .units import Context, whole_customers

KEYS = ["kpi", "class_id", "date"]
BUCKETS = 256                  # value buckets of a median KPI: a rank is found in one, then read inside it
GROUPS, KEPT = "cjw_kpi_groups", "cjw_kpi_kept"   # each call's dates -> groups and class ids, registered
_LOCK = threading.Lock()


def _name(prefix: str, *parts) -> str:
    return f"cjw_kpi_{prefix}_{hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]}"


def _create(con, table: str, expr: ir.Table) -> str:
    con.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{table}" AS {con.compile(expr)}')
    return table


def signature(con, filters) -> tuple[tuple[str, ...], object]:
    """(the attribute keys a filter names, the personas rules a class must tell apart or None). Without
    a persona filter, the database's personas design is used, so segment and persona widgets share a cube."""
    from ...designs.personas import load_personas
    from ...designs.store import design, has_design
    keys = tuple(sorted(str(k) for k in filters.attributes))
    if filters.persona:
        return keys, filters.personas or design(con, "personas")
    if not has_design(con, "personas"):
        return keys, None
    rules = design(con, "personas")
    try:
        load_personas(rules)
    except WorkbenchError:   # rules the ingest kept but that do not load: segment-only classes
        return keys, None
    return keys, rules


def classes(con, keys: tuple[str, ...], personas) -> str | None:
    """The temporary table (customer_id, class_id) of the classes of `signature`, built once per
    connection; None when a customer id repeats in `customers` (a class would not be one customer's)."""
    def build():
        cust = con.table("customers")
        got = execute(con, cust.aggregate(n=cust.count(), ids=cust.customer_id.nunique()))
        if int(got["n"].iloc[0]) != int(got["ids"].iloc[0]):
            return None
        labels = {"segment": cust.segment, **{f"a{i}": cust.attributes[k] for i, k in enumerate(keys)}}
        t = cust.select("customer_id", **labels)
        if personas is not None:
            from ...designs.personas import persona_of
            try:
                p = persona_of(con, personas)
            except WorkbenchError:   # broken rules: a persona filter reports them on the unit-row path
                return None
            t = t.join(p, "customer_id").select(t, p.persona)
        order = [c for c in t.columns if c != "customer_id"]
        t = t.select("customer_id", class_id=ibis.dense_rank().over(order_by=order).cast("int32"))
        return _create(con, _name("classes", keys, personas), t)
    return remember(con, "table", ("measures.classes", json.dumps([keys, personas], sort_keys=True, default=str)),
                    build)


def cube(con, rows: str, cmap: str, period: str, medians: list[str]) -> tuple[str, str | None]:
    """(the cube, the median counts or None) of the unit rows table `rows` by the classes `cmap`,
    with n_first for `period`; temporary tables built once per connection. The median counts carry
    `b`, the value's bucket: its rank among the KPI's distinct values cut into BUCKETS equal runs."""
    def build():
        r, cm = con.table(rows), con.table(cmap)
        j = r.left_join(cm, "customer_id").select(r.kpi, r.date, r.customer_id, r.y, r.w,
                                                  class_id=cm.class_id.fill_null(-1))
        a = j.group_by(KEYS).aggregate(n_units=j.w.sum().cast("int64"), sum_y=j.y.sum(), sum_y2=(j.y * j.y).sum())
        c = j.filter(j.w == 1)
        f = c.group_by(["kpi", "class_id", "customer_id", period_start(c.date, period).name("p")]).aggregate(
            date=c.date.min())
        f = f.group_by(KEYS).aggregate(n_first=f.count())
        t = a.left_join(f, KEYS).select(a, n_first=f.n_first.fill_null(0).cast("int64")).order_by(["date"])
        name = _create(con, _name("cube", rows, cmap, period), t)
        if not medians:
            return name, None
        m = j.filter(j.kpi.isin(medians) & j.y.notnull())
        m = m.group_by([*KEYS, "y"]).aggregate(c=m.count())
        m = m.mutate(rank=ibis.dense_rank().over(group_by="kpi", order_by="y"))
        m = m.mutate(b=(m["rank"] * BUCKETS // (m["rank"].max().over(group_by="kpi") + 1)).cast("int32"))
        m = m.drop("rank").order_by(["kpi", "b"])
        return name, _create(con, _name("medians", rows, cmap, medians), m)
    return remember(con, "table", ("measures.cube", rows, cmap, period, tuple(medians)), build)


def kept_classes(con, scope, cmap: str):
    """The class ids the scope's customer-level filters keep (every class and -1 without such a
    filter), or False when a class is split by the filter."""
    cm = con.table(cmap)
    ids = scope._customer_ids()
    if ids is None:
        every = remember(con, "object", ("measures.class_ids", cmap),
                         lambda: sorted(int(c) for c in execute(con, cm.select("class_id").distinct())["class_id"]))
        return [-1, *every]
    sizes = cm.group_by("class_id").aggregate(size=cm.count())
    hit = cm.semi_join(ids, "customer_id")
    hit = hit.group_by("class_id").aggregate(k=hit.count())
    got = execute(con, hit.join(sizes, "class_id").select("class_id", "k", "size"))
    if (got["k"] != got["size"]).any():
        return False
    return sorted(int(c) for c in got["class_id"])


def _inputs(con, kept: list[int], windows: dict, period: str, start, end) -> None:
    """Register this call's inputs on the connection: the kept class ids, and each date with the
    groups it belongs to (each named window {name: (start, end)}, and its period's first day as text
    for the periods from start to end, as `estimates.window_stats` / `period_stats` tag them)."""
    rows = [(d, n) for n, (s, e) in windows.items() for d in _days(s, e)]
    rows += [(d, str(period_window(period, d).start)) for d in _days(start, end)]
    con.con.register(GROUPS, pa.table({"date": pa.array([d for d, _ in rows], pa.date32()),
                                       "grp": pa.array([g for _, g in rows], pa.string())}))
    con.con.register(KEPT, pa.table({"class_id": pa.array(kept, pa.int32())}))


def _days(start, end) -> list[dt.date]:
    start, end = as_date(start, "start_date"), as_date(end, "end_date")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _statistics(con, cube_table: str, median_table: str | None, level: float) -> ir.Table:
    """`estimates.STATS` per (kpi, group) over the registered dates and classes (`_inputs`): one
    expression per cube and level, so its SQL is compiled once and each call only runs it."""
    groups, kept = con.table(GROUPS), con.table(KEPT)

    def tagged(t):
        t = t.semi_join(kept, "class_id")
        return t.join(groups, "date")
    g = tagged(con.table(cube_table))
    by = ["kpi", "grp"]
    s = g.group_by(by).aggregate(n_units=g.n_units.sum().cast("int64"), n_customers=g.n_first.sum().cast("int64"),
                                 sum_y=g.sum_y.sum(), sum_y2=g.sum_y2.sum())
    if median_table is None:
        s = s.mutate(median=ibis.null("float64"), med_low=ibis.null("float64"), med_high=ibis.null("float64"))
        return s.select("kpi", group=s.grp, *est.STATS[2:])
    m = tagged(con.table(median_table))
    # 1. per bucket: the cumulative count, and the bucket holding each rank with the rank inside it
    h = m.group_by([*by, "b"]).aggregate(c=m.c.sum().cast("int64"))
    h = h.mutate(cum=h.c.sum().over(ibis.window(group_by=by, order_by="b", rows=(None, 0))).cast("int64"),
                 cnt=h.c.sum().over(ibis.window(group_by=by)).cast("int64"))
    z = _z(level)
    ranks = {"med_low": ibis.greatest(((h.cnt - z * h.cnt.sqrt()) / 2).floor(), 1),   # as `estimates._reduce`
             "med_high": ibis.least((1 + (h.cnt + z * h.cnt.sqrt()) / 2).ceil(), h.cnt),
             "v1": ((h.cnt - 1) / 2).floor() + 1, "v2": ((h.cnt - 1) / 2).ceil() + 1}   # QUANTILE_CONT(0.5)'s ranks
    where = ibis.union(*[h.filter(h.cum >= r).group_by(by).aggregate(
        which=ibis.literal(k), b=h.b.min(), r=r.min() - (h.cum - h.c).min()) for k, r in ranks.items()])
    # 2. inside that bucket: the value at the rank, read by the cumulative count of its values
    f = m.join(where, [*by, "b"])
    f = f.group_by([*by, "which", "y"]).aggregate(c=f.c.sum().cast("int64"), r=f.r.max())
    f = f.mutate(cum=f.c.sum().over(ibis.window(group_by=[*by, "which"], order_by="y", rows=(None, 0))))
    v = f.filter(f.cum >= f.r).group_by([*by, "which"]).aggregate(y=f.y.min())
    med = v.group_by(by).aggregate(**{k: v.y.max(where=v.which == k) for k in ranks})
    med = med.mutate(median=med.v1 + (med.v2 - med.v1) * 0.5)
    out = s.left_join(med, by).select(s, med.median, med.med_low, med.med_high)
    return out.select("kpi", group=out.grp, *est.STATS[2:])


def cube_stats(con, cube_table: str, median_table: str | None, kept: list[int], windows: dict, period: str, start,
               end, level: float):
    """`estimates.STATS` per (kpi, group) for the windows and the periods start..end, from the cube (a
    DataFrame, as `estimates.fetch` returns)."""
    with _LOCK:   # the registered inputs are the connection's: one call at a time
        _inputs(con, kept, windows, period, start, end)
        expr = remember(con, "expression", ("measures.cube_stats", cube_table, median_table, level),
                        lambda: _statistics(con, cube_table, median_table, level))
        return est.fetch(con, [expr])


def scorecard_stats(ctx: Context, names: list[str], windows: dict, period: str, start, end, level: float):
    """(a function returning the statistics or None when no KPI is available, {kpi: why it is
    unavailable}) from the cube, or None when the
    scope is not whole customers on DuckDB (event-level, has_activity or identity filters) or a
    filter splits a class: the caller then aggregates the unit rows."""
    if not whole_customers(ctx):
        return None
    con = ctx.con
    rows, missing = everyone_rows(ctx, names)
    if rows is None:
        return None, missing
    cmap = classes(con, *signature(con, ctx.scope.filters))
    if cmap is None:
        return None
    kept = remember(con, "expression", ("measures.kept", cmap, repr(ctx.scope.filters)),   # not per as_of
                    lambda: kept_classes(con, ctx.scope, cmap))
    if kept is False:
        return None
    medians = [n for n in names if n not in missing and CATALOGUE[n].kind == "median"]
    cube_table, median_table = cube(con, rows, cmap, period, medians)
    return (lambda: cube_stats(con, cube_table, median_table, kept, windows, period, start, end, level)), missing
