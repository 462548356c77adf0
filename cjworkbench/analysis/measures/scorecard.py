"""`scorecard_table`: every KPI for the period containing `as_of`, against its target, the previous
period and the same stretch six months earlier (the what-changed windows, `periods.period_window`),
with a trend of the last `trend_periods` calendar periods for a sparkline."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from ...cache import execute, remember
from ...periods import as_date, check_period, period_window
from ...scope import EVENT_RULE, FEEDBACK_RULE, as_filters, definition, scope
from . import estimates as est
from .catalogue import CATALOGUE
from .cube import scorecard_stats
from .kpis import MeasureError, check_kpis, context, describe, unit_rows

COLUMNS = ["kpi", "label", "period", "estimate", "low", "high", "target", "target_gap", "target_met", "previous",
           "change",
           "change_low", "change_high", "p_value", "better", "six_months", "change_six_months",
           "change_six_months_low", "change_six_months_high", "p_value_six_months", "n_units", "n_customers",
           "counted", "unit", "direction", "kind", "side", "trend", "available", "reason"]
CHANGE_RULES = {"share": "difference of two proportions, Newcombe interval, pooled two-proportion z test",
                "mean": "difference of means, Welch t interval and test",
                "median": "difference of medians, the two medians' intervals combined by MOVER, normal p-value",
                "per_unit": "difference of two rates, Poisson normal approximation",
                "per_customer": "difference of two rates, Poisson normal approximation"}


def check_targets(targets, where: str = "targets") -> dict:
    targets = dict(targets or {})
    for k, v in targets.items():
        if k not in CATALOGUE:
            raise MeasureError(f"{where}: " + one_of_kpi(k))
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise MeasureError(f"targets['{k}'] must be a number (shares as fractions, e.g. 0.25), got {v!r}.")
    return targets


def designed_targets(con) -> dict:
    """The KPI targets the database's designs carry (`designs: targets:`; {} without them)."""
    from ...designs.store import design, has_design
    return check_targets(design(con, "targets"), "designs: targets") if has_design(con, "targets") else {}


def one_of_kpi(name) -> str:
    from ...errors import one_of
    return one_of("KPI", name, CATALOGUE)


def _data_end(con) -> dt.date:
    def build():
        ev = con.table("events")
        got = execute(con, ev.aggregate(last=ev.event_date.max()))["last"].iloc[0]   # the last business date
        if got is None or pd.isna(got):
            raise MeasureError("The events table is empty: there is nothing to score.")
        return pd.Timestamp(got).date()
    return remember(con, "object", ("measures.data_end",), build)


def _trend_start(period: str, start: dt.date, n: int) -> dt.date:
    for _ in range(max(n - 1, 0)):
        start = period_window(period, start - dt.timedelta(days=1)).start
    return start


def _windows(period, as_of):
    cur = period_window(period, as_of)
    wins = {"current": cur, "previous": period_window(period, as_of, "previous")}
    if period != "year":   # six months back lies inside a year
        wins["six_months"] = period_window(period, as_of, "six_months")
    return wins


def scorecard_table(con, *, kpis=None, roles=None, attributes=None, filters=None, period: str = "month",
                    as_of=None, targets=None, trend_periods: int = 12, days: int = 7, gap_minutes: float = 30,
                    onboarding_days: int = 30, costs=None, level: float = 0.95) -> pd.DataFrame:
    """One row per KPI: its value in the period containing `as_of` (default: `filters.end_date`, else
    the last day with events) with its interval, `target` (the `targets` given, else the database's
    `designs: targets`), `target_gap` (estimate − target) and whether it is met, the change against
    the previous period (`change`, interval, `p_value`, `better`) and against the same stretch six
    months earlier (`change_six_months` ...), and `trend`: the values of the last `trend_periods`
    calendar periods (oldest first, labels in the definition). The period sets the dates; a
    start_date in `filters` is ignored. Options as `kpi_table`."""
    names = check_kpis(kpis)
    check_period(period, MeasureError)
    targets_from = "argument" if targets is not None else "designs: targets"
    targets = check_targets(targets) if targets is not None else designed_targets(con)
    if not isinstance(trend_periods, int) or isinstance(trend_periods, bool) or not 1 <= trend_periods <= 120:
        raise MeasureError(f"trend_periods must be a whole number from 1 to 120, got {trend_periods!r}.")
    f = as_filters(filters)
    as_of = as_date(as_of if as_of not in (None, "") else f.end_date or _data_end(con), "as_of")
    wins = _windows(period, as_of)
    t_start = _trend_start(period, wins["current"].start, trend_periods)
    opts = dict(days=days, gap_minutes=gap_minutes, onboarding_days=onboarding_days, costs=costs)
    ctx, _, how = context(con, roles=roles, attributes=attributes, filters=f, **opts)
    key = ("scorecard", repr((names, how["roles_values"], how["attributes"], f, opts, period, as_of, trend_periods,
                              level)))

    def make():
        got = scorecard_stats(ctx, names, {k: (w.start, w.end) for k, w in wins.items()}, period, t_start, as_of,
                              level)
        if got is not None:   # whole customers on DuckDB: the pre-aggregated cube (`cube` module)
            return got
        t, missing = unit_rows(ctx, names)
        if t is None:
            return None, missing
        kept = [n for n in names if n not in missing]
        medians = [n for n in kept if CATALOGUE[n].kind == "median"]
        per_customer = [n for n in kept if CATALOGUE[n].kind == "per_customer"]   # customers are its exposure
        q = [est.window_stats(t, {k: (w.start, w.end) for k, w in wins.items()}, medians, level,
                              customers=(per_customer, ["current"])),
             est.period_stats(t, period, t_start, as_of, medians, level, customers=(per_customer, []))]
        return q, missing
    queries, missing = remember(con, "expression", key, make)
    # the statistics are a small aggregate: kept in the one cache (`cjworkbench.cache`, kind "result") for
    # the connection, so a dashboard's chart and table views of the same scorecard run the query once
    stats = remember(con, "result", key, lambda: pd.DataFrame(columns=est.STATS) if queries is None
                     else queries() if callable(queries) else est.fetch(con, queries)).copy()
    labels = _labels(period, t_start, as_of)
    groups: dict = {}
    for r in stats.to_dict("records"):
        groups.setdefault(r["kpi"], {})[r["group"]] = r
    rows = [_row(n, groups.get(n, {}), missing.get(n), targets.get(n), labels, level, wins["current"].label)
            for n in names]
    df = pd.DataFrame(rows, columns=COLUMNS)
    return definition(df, analysis="KPI scorecard", period=period, as_of=str(as_of),
                      windows={k: {"label": w.label, "start_date": str(w.start), "end_date": str(w.end)}
                               for k, w in wins.items()},
                      trend_periods=[lbl for _, lbl in labels], kpis={n: CATALOGUE[n].definition for n in names},
                      change_rules=CHANGE_RULES, level=level, targets=targets or None,
                      targets_from=targets_from if targets else None, options=opts,
                      roles=how["roles"], roles_values=how["roles_values"], attributes=how["attributes"],
                      filters=scope(con, f).describe(), filter_rules={"events": EVENT_RULE, "feedback": FEEDBACK_RULE},
                      window_rule="the period containing as_of up to as_of; baselines: the same stretch of the "
                                  "previous period and of the period six months earlier (business dates)",
                      unavailable=missing or None)


def _labels(period, start, end) -> list[tuple[str, str]]:
    out, day = [], start
    while day <= end:
        w = period_window(period, day)
        out.append((str(w.start), w.label))
        day = period_window(period, w.start + dt.timedelta(days=400 if period == "year" else 100 if period == "quarter"
                                                             else 32 if period == "month" else 7 if period == "week"
                                                             else 1)).start
    return out


def _row(name, by: dict, missing, target, labels, level, label) -> dict:
    """One KPI's scorecard line from its statistics per group ({group: record})."""
    m = CATALOGUE[name]
    base = {**describe(m), "period": label, "target": target if target is not None else math.nan, "trend": []}
    if missing:
        return base | {"available": False, "reason": missing, "n_units": 0, "n_customers": 0}
    cur = by.get("current")
    if cur is None or not cur["n_units"]:
        cur = None
    e, low, high = est.estimate(m.kind, cur, level) if cur else (math.nan,) * 3
    out = base | {"estimate": e, "low": low, "high": high, "available": True,
                  "reason": "" if cur else "no units in the period",
                  "n_units": int(cur["n_customers" if m.kind == "per_customer" else "n_units"]) if cur else 0,
                  "n_customers": int(cur["n_customers"]) if cur else 0}
    if target is not None and cur:
        out["target_met"] = bool(e >= target if m.direction == "higher" else e <= target)
        out["target_gap"] = e - target   # estimate minus target: its sign and `direction` say which side
    for wname, suffix in (("previous", ""), ("six_months", "_six_months")):
        b = by.get(wname)
        if b is None or not b["n_units"]:
            continue
        out["previous" if wname == "previous" else "six_months"] = est.estimate(m.kind, b, level)[0]
        if cur:
            d, lo, hi, p = est.change(m.kind, cur, b, level)
            out |= {f"change{suffix}": d, f"change{suffix}_low": lo, f"change{suffix}_high": hi, f"p_value{suffix}": p}
    if "change" in out and out["change"] == out["change"]:
        out["better"] = bool(out["change"] > 0) if m.direction == "higher" else bool(out["change"] < 0)
        if out["change"] == 0:
            out["better"] = None
    out["trend"] = [est.point(m.kind, by[g]) if g in by else math.nan for g, _ in labels]
    return out
