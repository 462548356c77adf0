"""From the KPIs' unit rows to estimates, intervals and changes.

All KPIs' rows are stacked into one table (`kpi`, `date`, `customer_id`, `y`, `w`; `date` is the
unit's business date); groups (a date window, or a calendar period) are cut in the engine and reduced to sufficient statistics in ONE
query: per (kpi, group) the units, customers, Σy, Σy² and, for median KPIs, the exact median and
the order statistics that bound its interval. Intervals and tests are computed from those in
Python (`catalogue` module docstring: one rule per kind).
"""

from __future__ import annotations

import datetime as dt
import math

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...cache import execute
from ...periods import period_start, period_window
from ...scope import in_date_range
from ..stats import NAN, _dist, _z, newcombe_interval, two_proportion_p_value, wilson_interval
from ..voc.score_stats import mean_interval, moments, welch_summary

STATS = ["kpi", "group", "n_units", "n_customers", "sum_y", "sum_y2", "median", "med_low", "med_high"]


def stacked(parts: dict[str, ir.Table]) -> ir.Table:
    """One table of every KPI's unit rows, tagged with the KPI name."""
    tagged = [t.select(kpi=ibis.literal(name), date=t.date.cast("date"), customer_id=t.customer_id.cast("string"),
                       y=t.y.cast("float64"), w=t.w.cast("int64")) for name, t in parts.items()]
    return ibis.union(*tagged) if len(tagged) > 1 else tagged[0]


def _reduce(t: ir.Table, medians: list[str], level: float, customers=None) -> ir.Table:
    """`customers`: None counts the distinct customers of every row; else (kpi names, group names):
    only those KPIs' rows or those groups' rows (a distinct count is the costliest aggregate here)."""
    n = t.w.sum()
    counted = t.w == 1
    if customers is not None:
        kpis, groups = customers
        counted &= t.kpi.isin(list(kpis) or [""]) | t.group.isin(list(groups) or [""])
    g = t.group_by(["kpi", "group"]).aggregate(
        n_units=n, n_customers=t.customer_id.nunique(where=counted), sum_y=t.y.sum(), sum_y2=(t.y * t.y).sum())
    if not medians:
        return g.mutate(median=ibis.null("float64"), med_low=ibis.null("float64"), med_high=ibis.null("float64"))
    m = t.filter(t.kpi.isin(medians))
    z = _z(level)
    by = ["kpi", "group"]
    m = m.mutate(i=ibis.row_number().over(ibis.window(group_by=by, order_by="y")) + 1,
                 cnt=m.y.count().over(ibis.window(group_by=by)))
    lo = ibis.greatest(((m.cnt - z * m.cnt.sqrt()) / 2).floor(), 1)
    hi = ibis.least((1 + (m.cnt + z * m.cnt.sqrt()) / 2).ceil(), m.cnt)
    med = m.group_by(by).aggregate(median=m.y.median(), med_low=m.y.max(where=m.i == lo),
                                   med_high=m.y.max(where=m.i == hi))
    return g.left_join(med, by).select(g, med.median, med.med_low, med.med_high)


def window_stats(t: ir.Table, windows: dict[str, tuple], medians: list[str], level: float,
                 customers=None) -> ir.Table:
    """Sufficient statistics per KPI and named date window {name: (start, end)} (inclusive business dates)."""
    parts = [t.filter(in_date_range(t.date, *se)).mutate(group=ibis.literal(name)) for name, se in windows.items()]
    return _reduce(ibis.union(*parts) if len(parts) > 1 else parts[0], medians, level, customers)


def period_stats(t: ir.Table, period: str, start, end, medians: list[str], level: float,
                 customers=None) -> ir.Table:
    """Sufficient statistics per KPI and calendar period (group = the period's first day, as text)."""
    t = t.filter(in_date_range(t.date, start, end))
    t = t.mutate(group=period_start(t.date, period).cast("string"))
    return _reduce(t, medians, level, customers)


def by_stats(t: ir.Table, grouping, start, end, medians: list[str], level: float) -> ir.Table:
    """Sufficient statistics per KPI and the counted customer's group (`grouping`: rows -> rows with
    a text `group` column, e.g. `segments.breakdowns.with_group`)."""
    t = grouping(t.filter(in_date_range(t.date, start, end)))
    return _reduce(t.select("kpi", "date", "customer_id", "y", "w", group=t.group.cast("string")), medians, level)


def fetch(con, exprs: list[ir.Table]) -> pd.DataFrame:
    """Run the statistics queries as one query."""
    expr = ibis.union(*exprs) if len(exprs) > 1 else exprs[0]
    df = execute(con, expr.select(*STATS))
    for c in ("n_units", "n_customers"):
        df[c] = df[c].fillna(0).astype("int64")
    return df


def period_label(group: str, period: str) -> str:
    return period_window(period, dt.date.fromisoformat(str(group)[:10])).label


# --- estimates -------------------------------------------------------------------------------------

def poisson_interval(count: float, exposure: float, level: float) -> tuple[float, float, float]:
    """count / exposure with the exact (Garwood) Poisson interval on the count."""
    if not exposure:
        return NAN, NAN, NAN
    a = 1 - level
    chi2 = _dist().chi2
    low = 0.0 if count == 0 else chi2.ppf(a / 2, 2 * count) / 2
    high = chi2.ppf(1 - a / 2, 2 * count + 2) / 2
    return count / exposure, low / exposure, high / exposure


def estimate(kind: str, s, level: float) -> tuple[float, float, float]:
    """(estimate, low, high) of a KPI from one row of sufficient statistics."""
    n = int(s["n_units"])
    if kind == "share":
        return tuple(wilson_interval(int(round(s["sum_y"])), n, level=level)) if n else (NAN, NAN, NAN)
    if kind == "mean":
        if not n:
            return NAN, NAN, NAN
        m, v = moments(n, s["sum_y"], s["sum_y2"])
        return tuple(mean_interval(n, m, v, level=level))
    if kind == "median":
        return (s["median"], s["med_low"], s["med_high"]) if n else (NAN, NAN, NAN)
    exposure = n if kind == "per_unit" else int(s["n_customers"])
    return poisson_interval(float(s["sum_y"]), exposure, level)


def point(kind: str, s) -> float:
    """The estimate alone (no interval): for trends."""
    n = int(s["n_units"])
    if kind == "median":
        return float(s["median"]) if n else NAN
    exposure = int(s["n_customers"]) if kind == "per_customer" else n
    return float(s["sum_y"]) / exposure if exposure else NAN


def _exposure(kind, s) -> float:
    return float(s["n_units"] if kind != "per_customer" else s["n_customers"])


def change(kind: str, cur, base, level: float) -> tuple[float, float, float, float]:
    """(change, low, high, p_value) of current minus baseline."""
    n1, n2 = int(cur["n_units"]), int(base["n_units"])
    if not n1 or not n2:
        return NAN, NAN, NAN, NAN
    if kind == "share":
        x1, x2 = int(round(cur["sum_y"])), int(round(base["sum_y"]))
        return (*newcombe_interval(x1, n1, x2, n2, level=level), two_proportion_p_value(x1, n1, x2, n2))
    if kind == "mean":
        est, p = welch_summary((n1, *moments(n1, cur["sum_y"], cur["sum_y2"])),
                               (n2, *moments(n2, base["sum_y"], base["sum_y2"])), level=level)
        return (*est, p)
    z = _z(level)
    if kind == "median":
        d = cur["median"] - base["median"]
        low = d - math.hypot(cur["median"] - cur["med_low"], base["med_high"] - base["median"])
        high = d + math.hypot(cur["med_high"] - cur["median"], base["median"] - base["med_low"])
        se = (high - low) / (2 * z)
    else:
        e1, e2 = _exposure(kind, cur), _exposure(kind, base)
        if not e1 or not e2:
            return NAN, NAN, NAN, NAN
        d = cur["sum_y"] / e1 - base["sum_y"] / e2
        se = math.sqrt(cur["sum_y"] / e1 ** 2 + base["sum_y"] / e2 ** 2)
        low, high = d - z * se, d + z * se
    p = float(2 * _dist().norm.sf(abs(d) / se)) if se > 0 else NAN
    return d, low, high, p
