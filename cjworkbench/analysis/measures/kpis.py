"""`kpi_table`: every KPI of the catalogue over the scope, overall or per period.

A KPI whose roles, attributes or data are absent is a row with `available = False` and the
`reason` naming the key it needs, never a zero.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import pandas as pd

from ...cache import remember
from ...errors import WorkbenchError, one_of
from ...periods import check_period
from ...scope import EVENT_RULE, FEEDBACK_RULE, FilterError, as_filters, definition, scope
from . import estimates as est
from .catalogue import CATALOGUE, Measure
from ...roles import resolve_attributes, resolve_roles
from ..segments.breakdowns import Breakdown, resolve_by, with_group
from .units import Context, Unavailable, whole_customers

OPTIONS = ("days", "gap_minutes", "onboarding_days", "costs")


class MeasureError(WorkbenchError, ValueError):
    """A KPI request cannot be answered as asked (unknown KPI, target, option)."""


def check_kpis(kpis) -> list[str]:
    """The KPI names asked for (None: the whole catalogue), checked."""
    if kpis is None:
        return list(CATALOGUE)
    names = [k.strip() for k in kpis.split(",")] if isinstance(kpis, str) else list(kpis)
    for name in names:
        if name not in CATALOGUE:
            raise MeasureError(one_of("KPI", name, CATALOGUE))
    return names


def context(con, *, roles=None, attributes=None, filters=None, days=7, gap_minutes=30.0, onboarding_days=30,
            costs=None) -> tuple[Context, tuple, dict]:
    """The shared Context (scope without dates), the (start, end) dates, and how roles were resolved."""
    f = as_filters(filters)
    dates = (f.start_date, f.end_date)
    sc = scope(con, dataclasses.replace(f, start_date=None, end_date=None))
    r, r_how = resolve_roles(con, roles)
    a, a_how = resolve_attributes(con, attributes)
    for name, value in (("days", days), ("gap_minutes", gap_minutes), ("onboarding_days", onboarding_days)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise MeasureError(f"{name} must be a positive number, got {value!r}.")
    if costs is not None and (not isinstance(costs, dict) or set(costs) - {"fixed", "per_hour"}):
        raise MeasureError(f"costs must be a dict with keys fixed / per_hour, got {costs!r}.")
    ctx = Context(con, sc, r, a, days=days, gap_minutes=float(gap_minutes), onboarding_days=onboarding_days,
                  costs=costs)
    return ctx, dates, {"roles": {k: v for k, v in r_how.items() if r[k] is not None},
                        "roles_values": {k: v for k, v in r.items() if v is not None},
                        "attributes": {k: v for k, v in a.items() if v is not None}}


def build(ctx: Context, names: list[str]) -> tuple[dict, dict]:
    """({kpi: its unit rows}, {kpi: why it is unavailable})."""
    parts, missing = {}, {}
    for name in names:
        try:
            parts[name] = CATALOGUE[name].build(ctx)
        except Unavailable as exc:
            missing[name] = str(exc)
    return parts, missing


def _breakdown(con, by) -> Breakdown:
    """`by` for KPIs: the counted unit's customer's segment or a customer attribute (numeric ones in
    quartile bands, `segments.breakdowns`); a unit has no single event, so no event column."""
    try:
        b = resolve_by(con, by, columns=())
    except FilterError as exc:
        raise MeasureError(str(exc)) from None
    if b.kind == "event attribute":
        raise MeasureError(f"by='{by}' is an event attribute; a KPI's units (sessions, contacts, orders, answers) "
                           "are grouped by their customer: use 'segment' or a customer attribute.")
    return b


def unit_rows(ctx: Context, names: list[str]):
    """(the KPIs' unit rows stacked (`estimates.stacked`) or None, {kpi: why it is unavailable}).
    Unit rows are per customer: under customer-level filters only, on DuckDB, everyone's rows are
    built once per connection, KPIs and options into a temporary table (`everyone_rows`; `units.unit`
    says why that is exact) and a scope keeps its customers' rows, so a new as_of, period or segment
    runs one aggregate over it instead of building and compiling the KPIs' expressions again."""
    if not whole_customers(ctx):
        parts, missing = build(ctx, names)
        return (est.stacked(parts) if parts else None), missing
    table, missing = everyone_rows(ctx, names)
    return (ctx.scope._of_customers(ctx.con.table(table)) if table else None), missing


def everyone_rows(ctx: Context, names: list[str]) -> tuple[str | None, dict]:
    """(the name of the temporary table of every customer's unit rows of `names`, ordered by KPI and
    date, or None when no KPI is available; {kpi: why it is unavailable}), built once per connection
    and rule (KPIs, roles, attributes, options, journey unit). DuckDB only (`whole_customers`)."""
    con = ctx.con
    rule = json.dumps([names, ctx.roles, ctx.attributes, ctx.gap_minutes, ctx.days, ctx.onboarding_days, ctx.costs,
                       ctx.scope.unit], sort_keys=True, default=str)

    def materialise():
        whole = dataclasses.replace(ctx, scope=dataclasses.replace(ctx.scope, filters=as_filters(None)), memo={})
        parts, missing = build(whole, names)
        if not parts:
            return None, missing
        table = f"cjw_kpi_rows_{hashlib.sha256(rule.encode()).hexdigest()[:12]}"
        rows = est.stacked(parts).order_by(["kpi", "date"])   # by KPI and date: a window reads its row groups
        con.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{table}" AS {con.compile(rows)}')
        return table, missing
    return remember(con, "table", ("measures.rows", rule), materialise)


def describe(m: Measure) -> dict:
    return {"kpi": m.name, "label": m.label, "unit": m.unit, "direction": m.direction, "kind": m.kind,
            "side": m.side, "counted": m.counted}


def _row(m: Measure, s, level: float) -> dict:
    e, low, high = est.estimate(m.kind, s, level) if s is not None else (math.nan,) * 3
    return {**describe(m), "estimate": e, "low": low, "high": high,
            "n_units": int(s["n_customers" if m.kind == "per_customer" else "n_units"]) if s is not None else 0,
            "n_customers": int(s["n_customers"]) if s is not None else 0,
            "available": True, "reason": "" if s is not None and s["n_units"] else "no units in scope"}


def _unavailable(m: Measure, reason: str) -> dict:
    return {**describe(m), "estimate": math.nan, "low": math.nan, "high": math.nan, "n_units": 0,
            "n_customers": 0, "available": False, "reason": reason}


COLUMNS = ["kpi", "label", "period", "estimate", "low", "high", "n_units", "n_customers", "counted", "unit",
           "direction", "kind", "side", "available", "reason"]


def kpi_table(con, *, kpis=None, roles=None, attributes=None, filters=None, period: str | None = None,
              by: str | None = None, days: int = 7, gap_minutes: float = 30, onboarding_days: int = 30, costs=None,
              level: float = 0.95) -> pd.DataFrame:
    """Each KPI (`kpis`: names from the catalogue, default all) over the scope: estimate with its
    interval, the units and customers counted, and `available` / `reason` for KPIs whose inputs are
    absent. `period` (week / month / quarter / year): one row per KPI and period instead; `by`
    ("segment" or a customer attribute, numeric ones in quartile bands): one row per KPI and the
    counted unit's customer's group.

    `roles`: role -> activity name(s) or a predicate dict over event columns (unset roles are
    inferred where unambiguous); `attributes`: attribute keys of handling / wait seconds, days late,
    scroll depth, cost; `days`: repeat-contact and FCR window; `gap_minutes`: session gap;
    `onboarding_days`: onboarding completion window; `costs`: {fixed, per_hour} per contact.
    Dates in `filters` keep the units whose own timestamp's date is in the range."""
    names = check_kpis(kpis)
    if period is not None:
        check_period(period, MeasureError)
    breakdown = _breakdown(con, by) if by is not None else None
    if by is not None and period is not None:
        raise MeasureError("by= and period= cannot be combined yet: ask for one period with filters "
                           "start_date / end_date and by='segment'.")
    ctx, (start, end), how = context(con, roles=roles, attributes=attributes, filters=filters, days=days,
                                     gap_minutes=gap_minutes, onboarding_days=onboarding_days, costs=costs)
    t, missing = unit_rows(ctx, names)
    stats = pd.DataFrame(columns=est.STATS)
    if t is not None:
        medians = [n for n in names if n not in missing and CATALOGUE[n].kind == "median"]
        if by:
            q = est.by_stats(t, lambda rows: with_group(con, rows, breakdown), start, end, medians, level)
        else:
            q = est.period_stats(t, period, start, end, medians, level) if period else \
                est.window_stats(t, {"all": (start, end)}, medians, level)
        stats = est.fetch(con, [q])
    rows = []
    for name in names:
        m = CATALOGUE[name]
        if name in missing:
            rows.append(_unavailable(m, missing[name]) | {"period": None})
            continue
        got = stats[stats["kpi"] == name].sort_values("group")
        if by and len(got):
            rows += [_row(m, s, level) | {"period": None, by: s["group"]} for _, s in got.iterrows()]
        elif period and len(got):
            rows += [_row(m, s, level) | {"period": est.period_label(s["group"], period)} for _, s in got.iterrows()]
        else:
            rows.append(_row(m, got.iloc[0] if len(got) else None, level) | {"period": None})
    df = pd.DataFrame(rows, columns=COLUMNS + ([by] if by else []))
    if period is None:
        df = df.drop(columns="period")
    if by:
        df.insert(1, by, df.pop(by))
    return definition(df, analysis="KPI library", kpis={n: CATALOGUE[n].definition for n in names},
                      period=period, by=by, level=level, options=dict(days=days, gap_minutes=gap_minutes,
                                                               onboarding_days=onboarding_days, costs=costs),
                      **how, filters=scope(con, filters).describe(), date_rule="a unit counts in the period "
                      "(or date range) of its own timestamp: a session's first hit, a contact's first event, an "
                      "order, a sent e-mail, a signup, an answer (business dates, inclusive)",
                      filter_rules={"events": EVENT_RULE, "feedback": FEEDBACK_RULE},
                      unavailable=missing or None)


__all__ = ["kpi_table", "MeasureError", "check_kpis", "context", "build", "unit_rows", "everyone_rows",
           "describe"]
