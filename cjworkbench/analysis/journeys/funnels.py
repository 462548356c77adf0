"""Funnels: how many units reach each of a list of steps, in order, within a conversion window.

One Ibis expression builds a row per unit with its entry and the event reaching each step
(`funnel_units`); one aggregate turns that into counts, conversions and exact median / p90 seconds
from entry. `RULES` (`funnel_spec`) states the semantics; each result repeats them in
`attrs["definition"]`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...cache import execute, remember
from ...deprecation import renamed_kwargs
from ...scope import TIE_RULE, FilterError, Filters, definition, scope
from .funnel_spec import BY, NONE, RULES, TIME_BINS, Funnel, _funnel, _previous, _step_number, parse_window
from .funnel_units import _measures, _units
from .paths import END
from .segment_cube import cube_segment, segment_rows
from ..checks import check_known, empty_scope

CHECKED = ("activity", "touchpoint", "channel", "department", "device", "stage", "source")


def _checked(con, f: Funnel) -> Funnel:
    """`f` after checking its step and exclude values against the events: a value no event has (a
    misspelled activity) is an error naming the nearest real ones, not a funnel of zeros."""
    for s in (*f.steps, *f.exclude):
        for column, values in s.where:
            if column in CHECKED:
                check_known(con, column, values)
    return f


def _summary_expr(con, f: Funnel) -> ir.Table:
    """The query behind a funnel: one wide row per `by` group with n<k>, median<k>, p90<k>."""
    units, _ = _units(con, f)
    reached, seconds = _measures(units, f)
    aggs = {}
    for k in reached:
        aggs |= {f"n{k}": units.count(where=reached[k]), f"median{k}": seconds[k].median(),
                 f"p90{k}": seconds[k].quantile(0.9)}
    return units.group_by("group").aggregate(**aggs)


def _summary(con, f: Funnel) -> pd.DataFrame:
    """Run the funnel query; its expression and SQL are remembered per definition (`cjworkbench.cache`).
    One segment of the stored journeys reads its rows of the same funnel by segment (`segment_cube`)."""
    segment = None if f.by else cube_segment(con, f.filters, unit="journey" if f.unit == "attempt" else f.unit)
    wide = None
    if segment is not None:
        whole = replace(f, filters=Filters(), by="segment")
        wide = segment_rows(con, ("funnel", repr(whole)), segment, lambda: _wide(con, whole), column="group")
    if wide is None:
        wide = _wide(con, f)
    else:
        wide.insert(0, "group", "")
    if wide.empty and not f.by:   # nobody entered: still one row per step
        wide = pd.DataFrame([{"group": "", **{c: 0 if c[0] == "n" else math.nan for c in wide.columns
                                              if c != "group"}}])
    return wide


def _wide(con, f: Funnel) -> pd.DataFrame:
    return execute(con, remember(con, "expression", ("funnel", repr(f)), lambda: _summary_expr(con, f)))


def _long(wide: pd.DataFrame, f: Funnel) -> pd.DataFrame:
    """Wide rows -> one row per (group, step) with conversions and drop-offs."""
    rows = []
    for r in wide.sort_values(["n1", "group"], ascending=[False, True]).itertuples(index=False):
        r = r._asdict()
        for k, step in enumerate(f.steps, 1):
            n, p = int(r[f"n{k}"]), _previous(f, k) if k > 1 else 1
            n_prev = int(r[f"n{p}"])
            rows.append({"group": r["group"], "step": k, "label": step.label, "optional": step.optional,
                         "previous_step": p if k > 1 else pd.NA, "n_entered": n,
                         "conversion_from_start": n / r["n1"] if r["n1"] else math.nan,
                         "conversion_from_previous": n / n_prev if n_prev else math.nan,
                         "n_dropped": n_prev - n, "median_seconds_to_step": r[f"median{k}"],
                         "p90_seconds_to_step": r[f"p90{k}"]})
    df = pd.DataFrame(rows, columns=["group", "step", "label", "optional", "previous_step", "n_entered",
                                     "conversion_from_start", "conversion_from_previous", "n_dropped",
                                     "median_seconds_to_step", "p90_seconds_to_step"])
    df["previous_step"] = df["previous_step"].astype("Int64")
    return df.rename(columns={"group": f.by}) if f.by else df.drop(columns="group")


def _define(df: pd.DataFrame, f: Funnel, window, **extra) -> pd.DataFrame:
    optional = [s.label for s in f.steps if s.optional]
    return definition(
        df, analysis=extra.pop("analysis"), steps=[{"label": s.label, **{c: list(v) for c, v in s.where}}
                                                   for s in f.steps],
        order=f.order, order_rule=RULES[f.order], unit=f.unit, unit_rule=RULES[f.unit], entry_rule=RULES["entry"],
        start_date=f.entry_dates[0] and str(f.entry_dates[0]), end_date=f.entry_dates[1] and str(f.entry_dates[1]),
        window="unbounded" if window is None else str(window), window_seconds=f.window,
        window_rule=RULES["window"] if f.window is not None else None,
        optional=optional, optional_rule=RULES["optional"] if optional else None,
        exclude=[dict(x.where) | {"label": x.label} for x in f.exclude],
        exclusion_rule=RULES["exclude"] if f.exclude else None, by=f.by,
        by_rule=f.by and f"the value at the entry event ({_column(f.by)}); missing: {NONE}",
        tie_rule=TIE_RULE, time_zone="UTC", filters=f.filters.describe(), **extra)


def _column(by: str) -> str:
    if by not in BY:   # an attribute: analysis/segments/breakdowns.py (the group labels carry band edges)
        return f"attribute '{by}' of the customer, else of the entry event; a numeric one in quartile bands"
    return "customers.segment" if by == "segment" else f"events.{by}"


@renamed_kwargs(breakdown="by")
def funnel_table(con, *, steps, order="ordered", window=None, unit="journey", filters=None, optional=(),
                 exclude=(), start_date=None, end_date=None, by=None) -> pd.DataFrame:
    """Units reaching each step, conversion from the start and from the previous (required) step,
    drop-offs, and exact median / p90 seconds from entry; one block of rows per `by` value.

    `steps`: activity names or predicates ({'activity': 'pay', 'channel': ['app', 'web'], 'label': …});
    `order`: ordered | strict | any; `window`: '7d', '24h', '30min', seconds or None;
    `unit`: journey | customer | attempt; `optional` / `exclude`: step numbers or labels / steps.
    """
    f = _checked(con, _funnel(steps=steps, order=order, window=window, unit=unit, filters=filters,
                              optional=optional, exclude=exclude, start_date=start_date, end_date=end_date, by=by))
    wide = _summary(con, f)
    if not int(wide["n1"].sum()) and not int(scope(con, f.filters).events().count().execute()):
        raise empty_scope(con, f.filters, "events")   # nothing to enter: one sentence, not zeros
    return _define(_long(wide, f), f, window, analysis="funnel", n_entered=int(wide["n1"].sum()))


@renamed_kwargs(breakdown="by")
def funnel_times_table(con, *, steps, bins=TIME_BINS, window=None, **options) -> pd.DataFrame:
    """How long converters took from entry to the last step: counts per time bin (`bins`: upper
    edges, durations or seconds), shares and cumulative shares; options as in `funnel_table`."""
    f = _checked(con, _funnel(steps=steps, window=window, **options))
    edges = sorted({parse_window(b) for b in bins} - {0.0})
    units, _ = _units(con, f)
    _, seconds = _measures(units, f)
    t = units.mutate(secs=seconds[len(f.steps)])
    t = t.filter(t.secs.notnull())
    t = t.mutate(bin=ibis.cases(*[(t.secs < e, i) for i, e in enumerate(edges)], else_=len(edges)))
    got = t.group_by(["group", "bin"]).aggregate(n_converted=t.count()).execute()
    lows, highs = [0.0, *edges], [*edges, math.inf]
    grid = pd.DataFrame({"bin": range(len(lows)), "label": [f"{_short(lo)}–{_short(hi)}" if hi < math.inf
                                                             else f"{_short(lo)}+" for lo, hi in zip(lows, highs)],
                         "lower_seconds": lows, "upper_seconds": highs})
    groups = sorted(got["group"].unique()) if len(got) else ([] if f.by else [""])
    df = pd.DataFrame({"group": groups}).merge(grid, how="cross").merge(got, on=["group", "bin"], how="left")
    df["n_converted"] = df["n_converted"].fillna(0).astype("int64")
    total = df.groupby("group")["n_converted"].transform("sum")
    df["share"] = (df["n_converted"] / total).where(total > 0, 0.0)
    df["cumulative_share"] = df.groupby("group")["share"].cumsum()
    df = df.drop(columns="bin").rename(columns={"label": "bin"})
    df = df.rename(columns={"group": f.by}) if f.by else df.drop(columns="group")
    return _define(df, f, window, analysis="funnel times", n_converted=int(df["n_converted"].sum()),
                   bin_rule="lower_seconds <= seconds from entry to the last step < upper_seconds")


def _short(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@renamed_kwargs(breakdown="by")
def funnel_dropoff_next_table(con, *, steps, at_step, top: int | None = 10, window=None,
                              **options) -> pd.DataFrame:
    """What units dropped at `at_step` (reached its previous required step, not it) did next: the
    activity right after their last reached step's event in their unit, `(end)` if none, with counts
    and shares of the droppers; beyond `top`, one `other` row. Options as in `funnel_table`."""
    f = _checked(con, _funnel(steps=steps, window=window, **options))
    k = _step_number(f.steps, at_step, "at_step")
    if k == 1:
        raise FilterError("at_step must be step 2 or later: nobody drops before entering the funnel.")
    last = _last_reached(con, f, k)
    nxt, _ = scope(con, f.filters, unit="journey" if f.unit == "attempt" else f.unit).steps()
    nxt = nxt.join(last, nxt.seq == last.e_seq)
    df = nxt.group_by(next_activity=nxt.next_activity.fill_null(END)).aggregate(n_dropped=nxt.count()).execute()
    df = df.sort_values(["n_dropped", "next_activity"], ascending=[False, True], ignore_index=True)
    total = int(df["n_dropped"].sum())
    if top is not None and len(df) > top:
        rest = len(df) - top
        other = pd.DataFrame([{"next_activity": f"other ({rest:,} activit{'y' if rest == 1 else 'ies'})",
                               "n_dropped": int(df["n_dropped"].iloc[top:].sum())}])
        df = pd.concat([df.iloc[:top], other], ignore_index=True)
    df.insert(0, "rank", range(1, len(df) + 1))
    df["share"] = df["n_dropped"] / total if total else 0.0
    return _define(df, f, window, analysis="funnel drop-off next", at_step=k, after_step=_previous(f, k),
                   n_dropped=total, next_rule="the event right after the last reached required step's event "
                                              "in the unit's event order (after filters); (end) if none")


def _last_reached(con, f: Funnel, k: int) -> ir.Table:
    """`e_seq` of the last reached event of each unit that dropped at step k (in `any` order: the
    latest of the required steps it reached)."""
    p = _previous(f, k)
    units, ev = _units(con, f)
    reached, _ = _measures(units, f)
    last = units[f"pos{p}"]
    if f.order == "any":
        for j in range(1, p):
            if not f.steps[j - 1].optional:
                last = ibis.cases((units[f"pos{j}"] > last, units[f"pos{j}"]), else_=last)
    gone = units.mutate(gone=reached[p] & ~reached[k], last_pos=last)
    gone = gone.filter(gone.gone)
    at = ev.select(e_key=ev.journey_key, e_pos=ev.pos, e_seq=ev.seq)
    return gone.join(at, [gone.journey_key == at.e_key, gone.last_pos == at.e_pos]).select("e_seq")
