"""Retention: cohort tables and lifecycle (new / returning / resurrecting / dormant) per period.

The unit is the customer. Periods are the calendar days, ISO weeks (from Monday), months, quarters
or years of `cjworkbench.periods` in UTC, from `truncate(TRUNCATE[period])`, numbered as whole
periods since 1970 so that "the previous period" is plain integer arithmetic on every backend.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...errors import one_of
from ...periods import PERIODS, TRUNCATE, check_period  # noqa: F401  (PERIODS re-exported)
from ...scope import FilterError, definition, scope

MODES = ("on", "on_or_after")
_MONTHS = {"month": 1, "quarter": 3, "year": 12}  # months per period
_MONDAY = dt.date(1969, 12, 29)  # first Monday on or before 1970-01-01 (a Thursday)
_EPOCH = dt.date(1970, 1, 1)


def _check(period: str, mode: str = "on") -> None:
    check_period(period)
    if mode not in MODES:
        raise FilterError(one_of("mode", mode, MODES))


def period_index(ts: ir.TimestampValue, period: str) -> ir.IntegerValue:
    """Whole UTC periods since 1970-01-01 (days, months, quarters, years) or Monday 1969-12-29 (weeks)."""
    _check(period)
    start = ts.truncate(TRUNCATE[period])
    if period in _MONTHS:
        return ((start.year() - 1970) * 12 + start.month() - 1) // _MONTHS[period]
    if period == "week":
        return (start.epoch_seconds() + 3 * 86_400) // (7 * 86_400)
    return start.epoch_seconds() // 86_400


def period_date(index: int, period: str) -> dt.date:
    """The first day of period number `index` (inverse of `period_index`)."""
    if period in _MONTHS:
        months = index * _MONTHS[period]
        return dt.date(1970 + months // 12, months % 12 + 1, 1)
    if period == "week":
        return _MONDAY + dt.timedelta(weeks=index)
    return _EPOCH + dt.timedelta(days=index)


def _customer_periods(con, filters, period: str) -> ir.Table:
    """Distinct (customer_id, p): the periods in which each customer has at least one event."""
    ev = scope(con, filters, unit="customer").events()
    return ev.select("customer_id", p=period_index(ev.event_ts, period)).distinct()


def retention_table(con, *, period: str = "month", mode: str = "on", activity: str | None = None,
                    filters=None) -> pd.DataFrame:
    """Per cohort and period offset 0..N: cohort customers active in that offset (`on`), or in it
    or any later one (`on_or_after`), and their share of the cohort.

    Cohort: the period of the customer's first event, or first `activity` event (customers
    without one are left out). Active: any event in the period; periods before the cohort are
    ignored. Offsets run to the last period with any analysed event.
    """
    _check(period, mode)
    ev = scope(con, filters, unit="customer").events()
    ev = ev.mutate(p=period_index(ev.event_ts, period))
    firsts = ev.filter(ev.activity == activity) if activity is not None else ev
    starts = firsts.group_by("customer_id").aggregate(cohort=firsts.p.min())
    active = ev.select("customer_id", "p").distinct().join(starts, "customer_id")
    active = active.mutate(offset=active.p - active.cohort).filter(lambda t: t.offset >= 0)
    if mode == "on":
        counts = active.group_by(["cohort", "offset"]).aggregate(n=active.count())
    else:
        last = active.group_by(["customer_id", "cohort"]).aggregate(offset=active.offset.max())
        counts = last.group_by(["cohort", "offset"]).aggregate(n=last.count())
    sizes = starts.group_by("cohort").aggregate(size=starts.count()).execute()
    end = int(ev.p.max().execute()) if len(sizes) else 0
    df = _grid(sizes, counts.execute(), end, period, cumulative=mode == "on_or_after")
    return definition(df, analysis="retention", period=period, mode=mode, activity=activity, unit="customer",
                      cohort=f"period of the customer's first {'event' if activity is None else repr(activity)}",
                      active="at least one analysed event in the period" + (
                          " or in any later period" if mode == "on_or_after" else ""),
                      time_zone="UTC", filters=scope(con, filters).describe())


def _grid(sizes: pd.DataFrame, counts: pd.DataFrame, end: int, period: str, cumulative: bool) -> pd.DataFrame:
    """Every (cohort, offset 0..end-cohort) with zeros filled; cumulative sums from the right."""
    n = {(int(c), int(o)): int(k) for c, o, k in zip(counts["cohort"], counts["offset"], counts["n"])}
    rows = []
    for cohort, size in sorted(zip(sizes["cohort"].astype(int), sizes["size"].astype(int))):
        span = range(end - cohort + 1)
        cells = [n.get((cohort, k), 0) for k in span]
        if cumulative:
            cells = [sum(cells[k:]) for k in span]
        rows += [(period_date(cohort, period), k, period_date(cohort + k, period), size, c, c / size)
                 for k, c in zip(span, cells)]
    return pd.DataFrame(rows, columns=["cohort_date", "period_offset", "period_date", "n_cohort_customers",
                                       "n_customers", "retention_rate"])


def lifecycle_table(con, *, period: str = "month", filters=None) -> pd.DataFrame:
    """Per period from the first to the last with events: customers new (first active period),
    returning (active in the previous period too), resurrecting (active before, not in the
    previous period) and dormant (active in the previous period, not in this one; negative)."""
    _check(period)
    cp = _customer_periods(con, filters, period)
    w = ibis.window(group_by="customer_id", order_by="p")
    cp = cp.mutate(prev=cp.p.lag().over(w), nxt=cp.p.lead().over(w))
    status = ibis.cases((cp.prev.isnull(), "new"), (cp.prev == cp.p - 1, "returning"), else_="resurrecting")
    active = cp.group_by(["p", status.name("status")]).aggregate(n=cp.count()).execute()
    gone = cp.filter(cp.nxt.isnull() | (cp.nxt > cp.p + 1))
    dormant = gone.group_by(p=gone.p + 1).aggregate(n=gone.count()).execute().assign(status="dormant")
    counts = pd.concat([active, dormant], ignore_index=True)
    wide = counts.pivot_table(index="p", columns="status", values="n", aggfunc="sum", fill_value=0)
    first, last = (int(active["p"].min()), int(active["p"].max())) if len(active) else (0, -1)
    wide = wide.reindex(index=range(first, last + 1), columns=["new", "returning", "resurrecting", "dormant"],
                        fill_value=0).fillna(0).astype("int64")
    df = pd.DataFrame({"period_date": [period_date(p, period) for p in wide.index],
                       **{f"n_{c}": wide[c].to_numpy() for c in wide.columns}})
    df["n_dormant"] = -df["n_dormant"]
    df["n_active"] = df["n_new"] + df["n_returning"] + df["n_resurrecting"]
    return definition(df, analysis="lifecycle", period=period, unit="customer", time_zone="UTC",
                      statuses="new: first period with an event; returning: active in the previous period too; "
                      "resurrecting: active in an earlier period but not the previous one; dormant: active in "
                      "the previous period, not in this one (shown negative)",
                      filters=scope(con, filters).describe())
