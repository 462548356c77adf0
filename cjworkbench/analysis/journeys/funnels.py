"""Funnels: how many units reach each of a list of steps, in order, within a conversion window.

One Ibis expression builds a row per unit (journey, customer, session or attempt) holding its
entry event and, per step, the position (`pos<k>`) and epoch seconds (`ts<k>`) of the event that
reached it; one aggregate turns that into counts, conversions and exact median / p90 seconds from
entry. Positions come from the stored `journey_steps` when the filters allow, else from one window.
`ordered` chains one join per step (the earliest match after the previous step), `strict` looks up
the events 1..n-1 places after the entry (equality joins on position), `any` finds every step in
one join. `RULES` states the semantics; each result repeats them in `attrs["definition"]`.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from functools import reduce

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...db import remembered
from ...scope import TIE_RULE, FilterError, definition, epoch, filtered_events
from .funnel_spec import NO_END, NONE, RULES, TIME_BINS, Funnel, Step, _funnel, _previous, _step_number, parse_window
from ...scope import _fast
from ...scope import steps as journey_steps
from .paths import END, positioned


def _match(ev: ir.Table, step: Step) -> ir.BooleanValue:
    conds = [ev[c] == v[0] if len(v) == 1 else ev[c].isin(list(v)) for c, v in step.where]
    return reduce(operator.and_, conds)


def _events(con, f: Funnel) -> ir.Table:
    """Filtered events of units with an entry, with `pos`, `epoch` seconds and a flag per step
    (`m1`..) and for exclusions (`mx`). `pos` comes from the stored `journey_steps` when the filters
    allow it; else `ordered` / `any` number only the events that match a step or an exclusion
    (order among them is all they need) and `strict` numbers every event."""
    base = "journey" if f.unit == "attempt" else f.unit
    stored = _fast(con, f.filters, base, "keep")
    ev = journey_steps(con, f.filters, unit=base)[0] if stored else filtered_events(con, f.filters, unit=base)
    if "journey_no" in ev.columns:   # the stored integer key: cheaper joins and group-bys than strings
        ev = ev.mutate(journey_key=ev.journey_no)
    flags = {f"m{k}": _match(ev, s) for k, s in enumerate(f.steps, 1)}
    if f.exclude:
        flags["mx"] = reduce(operator.or_, (_match(ev, x) for x in f.exclude))
    keep = [c for c in (f.breakdown, "pos") if c in ev.columns]
    ev = ev.select("journey_key", "customer_id", "event_ts", "seq", *keep, epoch=epoch(ev.event_ts), **flags)
    if not stored or f.order == "strict":   # only events of units with an entry (numbered or looked up)
        ev = ev.semi_join(ev.filter(ev.m1 & _in_range(ev.event_ts, f)).select("journey_key"), "journey_key")
    if f.order == "strict" and not stored:
        ev = positioned(ev)
    ev = ev.filter(reduce(operator.or_, [ev[m] for m in flags]))
    return ev if "pos" in ev.columns else positioned(ev)


def _units(con, f: Funnel) -> tuple[ir.Table, ir.Table]:
    """One row per unit with `pos<k>` / `ts<k>` per step (null: not matched), and the events."""
    ev = _events(con, f)
    entries = _entries(con, ev, f)
    if f.order == "strict":
        return _strict(entries, ev, f), ev
    entries = _excluded(entries, ev, f)
    return (_ordered if f.order == "ordered" else _any)(entries, ev, f), ev


def _in_range(ts: ir.TimestampValue, f: Funnel) -> ir.BooleanValue:
    """The entry date range: UTC dates start_date..end_date, both inclusive."""
    cond = ibis.literal(True)
    if f.start_date:
        cond &= ts >= ibis.timestamp(f.start_date)
    if f.end_date:
        cond &= ts < ibis.timestamp(f.end_date + dt.timedelta(days=1))
    return cond


def _entries(con, ev: ir.Table, f: Funnel) -> ir.Table:
    """Entry events (`pos1`, `ts1`), their breakdown `group` and `end_pos`: the position later steps
    must precede (the next step-1 event for attempts, else none)."""
    s1 = ev.filter(ev.m1)
    if f.unit == "attempt":
        s1 = s1.mutate(end_pos=s1.pos.lead(default=NO_END).over(ibis.window(group_by="journey_key", order_by="pos")))
        s1 = s1.filter(_in_range(s1.event_ts, f))
    else:
        s1 = s1.filter(_in_range(s1.event_ts, f))
        first = s1.group_by("journey_key").aggregate(pos=s1.pos.min(), epoch=s1.epoch.min(),
                                                     end_pos=ibis.literal(NO_END, "int64"))
        if not f.breakdown:
            return first.select("journey_key", "end_pos", group=ibis.literal(""), pos1=first.pos, ts1=first.epoch)
        cols = [c for c in ("customer_id", f.breakdown) if c in s1.columns]
        at = s1.select(*cols, a_key=s1.journey_key, a_pos=s1.pos)
        s1 = first.join(at, [first.journey_key == at.a_key, first.pos == at.a_pos]).drop("a_key", "a_pos")
    if f.breakdown == "segment":
        cust = con.table("customers")
        cust = cust.select(c_id=cust.customer_id, group=cust.segment)
        s1 = s1.left_join(cust, s1.customer_id == cust.c_id).drop("c_id")
    else:
        s1 = s1.mutate(group=s1[f.breakdown] if f.breakdown else ibis.literal(""))
    return s1.select("journey_key", "end_pos", group=s1["group"].cast("string").fill_null(NONE),
                     pos1=s1.pos, ts1=s1.epoch)


def _excluded(units: ir.Table, ev: ir.Table, f: Funnel) -> ir.Table:
    """Move each unit's `end_pos` back to its first excluded event after entry."""
    if not f.exclude:
        return units
    x = ev.filter(ev.mx)
    x = x.select(x_key=x.journey_key, x_pos=x.pos)
    j = units.left_join(x, [units.journey_key == x.x_key, x.x_pos > units.pos1, x.x_pos < units.end_pos])
    out = j.group_by(list(units.columns)).aggregate(stop=j.x_pos.min())
    return out.mutate(end_pos=out.stop.fill_null(out.end_pos)).drop("stop")


def _candidates(units: ir.Table, ev: ir.Table, f: Funnel, after: str, flags: list[str]):
    """Units left-joined to the events after `after` (and before `end_pos`, within the window)
    that match one of `flags`; the event columns are `c_pos`, `c_ts` and `c_m<k>`."""
    c = ev.filter(reduce(operator.or_, [ev[m] for m in flags]))
    c = c.select(c_key=c.journey_key, c_pos=c.pos, c_ts=c.epoch, **{f"c_{m}": c[m] for m in flags})
    cond = [units.journey_key == c.c_key, c.c_pos > units[after], c.c_pos < units.end_pos]
    if f.window is not None:
        cond.append(c.c_ts <= units.ts1 + f.window)
    return units.left_join(c, cond)


def _ordered(units: ir.Table, ev: ir.Table, f: Funnel) -> ir.Table:
    """Chained step joins: step k is the earliest step-k event after the previous required step."""
    for k in range(2, len(f.steps) + 1):
        j = _candidates(units, ev, f, f"pos{_previous(f, k)}", [f"m{k}"])
        units = j.group_by(list(units.columns)).aggregate(**{f"pos{k}": j.c_pos.min(), f"ts{k}": j.c_ts.min()})
    return units


def _any(units: ir.Table, ev: ir.Table, f: Funnel) -> ir.Table:
    """One join: the first event of every step after the entry."""
    ks = range(2, len(f.steps) + 1)
    if not ks:
        return units
    j = _candidates(units, ev, f, "pos1", [f"m{k}" for k in ks])
    aggs = {}
    for k in ks:
        aggs |= {f"pos{k}": j.c_pos.min(where=j[f"c_m{k}"]), f"ts{k}": j.c_ts.min(where=j[f"c_m{k}"])}
    return j.group_by(list(units.columns)).aggregate(**aggs)


def _code(ev: ir.Table, f: Funnel) -> ir.IntegerValue:
    """Bits of an event: 1 = excluded, 2**k = matches step k."""
    bits = [ev[f"m{k}"].ifelse(2 ** k, 0) for k in range(1, len(f.steps) + 1)]
    if f.exclude:
        bits.append(ev.mx.ifelse(1, 0))
    return reduce(operator.add, bits).cast("int64")


def _bit(code: ir.IntegerValue, k: int) -> ir.BooleanValue:
    return (code // 2 ** k) % 2 == 1


def _next(units: ir.Table, ev: ir.Table, f: Funnel) -> ir.Table:
    """Units with the code and epoch of the step or excluded event d places after their entry
    (`next_code<d>`, `next_ts<d>`; null when that event is neither), d = 1..n-1."""
    ev = ev.mutate(code=_code(ev, f))
    for d in range(1, len(f.steps)):
        e = ev.select(e_key=ev.journey_key, e_pos=ev.pos, **{f"next_code{d}": ev.code, f"next_ts{d}": ev.epoch})
        units = units.left_join(e, [units.journey_key == e.e_key, e.e_pos == units.pos1 + d]).drop("e_key", "e_pos")
    return units


def _strict(units: ir.Table, ev: ir.Table, f: Funnel) -> ir.Table:
    """Adjacency, offset by offset from the entry: `ok<d>` = the event d places on is usable (a step
    event before `end_pos` and any excluded event, within the window); `a<d>` = a chain through the
    current step can end at offset d (an optional step keeps the ends of the chains that skip it)."""
    units = _next(units, ev, f)
    n, usable, oks = len(f.steps), ibis.literal(True), {}
    for d in range(1, n):
        code = units[f"next_code{d}"]
        usable = usable & code.notnull() & ~_bit(code, 0) & (units.pos1 + d < units.end_pos)
        oks[f"ok{d}"] = usable if f.window is None else usable & (units[f"next_ts{d}"] <= units.ts1 + f.window)
    units, ends = units.mutate(**oks, a0=True), {0}
    for k in range(2, n + 1):
        hits = [d for d in range(1, n) if d - 1 in ends]
        units = units.mutate(**{f"h{d}": units[f"a{d - 1}"] & units[f"ok{d}"] & _bit(units[f"next_code{d}"], k)
                                for d in hits})
        skip = f.steps[k - 1].optional
        units = units.mutate(**{
            f"pos{k}": ibis.cases(*[(units[f"h{d}"], units.pos1 + d) for d in hits], else_=ibis.null("int64")),
            f"ts{k}": ibis.cases(*[(units[f"h{d}"], units[f"next_ts{d}"]) for d in hits], else_=ibis.null("float64")),
            **{f"a{d}": units[f"a{d}"] | units[f"h{d}"] if skip and d in ends else units[f"h{d}"] for d in hits}})
        ends = ends | set(hits) if skip else set(hits)
    steps = [c for c in units.columns if re.fullmatch(r"(pos|ts)\d+", c)]
    return units.select("journey_key", "group", "end_pos", *steps)


def _measures(units: ir.Table, f: Funnel) -> tuple[dict, dict]:
    """Per step k: `reached[k]` (bool) and `seconds[k]` from entry to reaching it (null if not)."""
    reached, done = {1: ibis.literal(True)}, {1: units.ts1}
    for k in range(2, len(f.steps) + 1):
        p, ts = _previous(f, k), units[f"ts{k}"]
        reached[k] = units[f"pos{k}"].notnull() & reached[p]
        later = f.order == "any" and not f.steps[k - 1].optional
        done[k] = ibis.cases((ts > done[p], ts), else_=done[p]) if later else ts
    seconds = {k: ibis.cases((reached[k], (done[k] - units.ts1).cast("float64")), else_=ibis.null("float64"))
               for k in reached}
    return reached, seconds


def _summary_expr(con, f: Funnel) -> ir.Table:
    """The query behind a funnel: one wide row per breakdown group with n<k>, median<k>, p90<k>."""
    units, _ = _units(con, f)
    reached, seconds = _measures(units, f)
    aggs = {}
    for k in reached:
        aggs |= {f"n{k}": units.count(where=reached[k]), f"median{k}": seconds[k].median(),
                 f"p90{k}": seconds[k].quantile(0.9)}
    return units.group_by("group").aggregate(**aggs)


def _summary(con, f: Funnel) -> pd.DataFrame:
    """Run the funnel query; its expression is remembered per definition (see `db.remembered`)."""
    wide = remembered(con, ("funnel", repr(f)), lambda: _summary_expr(con, f)).execute()
    if wide.empty and not f.breakdown:   # nobody entered: still one row per step
        wide = pd.DataFrame([{"group": "", **{c: 0 if c[0] == "n" else math.nan for c in wide.columns
                                              if c != "group"}}])
    return wide


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
    return df.rename(columns={"group": f.breakdown}) if f.breakdown else df.drop(columns="group")


def _define(df: pd.DataFrame, f: Funnel, window, **extra) -> pd.DataFrame:
    optional = [s.label for s in f.steps if s.optional]
    return definition(
        df, analysis=extra.pop("analysis"), steps=[{"label": s.label, **{c: list(v) for c, v in s.where}}
                                                   for s in f.steps],
        order=f.order, order_rule=RULES[f.order], unit=f.unit, unit_rule=RULES[f.unit], entry_rule=RULES["entry"],
        start_date=f.start_date and str(f.start_date), end_date=f.end_date and str(f.end_date),
        window="unbounded" if window is None else str(window), window_seconds=f.window,
        window_rule=RULES["window"] if f.window is not None else None,
        optional=optional, optional_rule=RULES["optional"] if optional else None,
        exclude=[dict(x.where) | {"label": x.label} for x in f.exclude],
        exclusion_rule=RULES["exclude"] if f.exclude else None, breakdown=f.breakdown,
        breakdown_rule=f.breakdown and f"the value at the entry event ({_column(f.breakdown)}); missing: {NONE}",
        tie_rule=TIE_RULE, time_zone="UTC", filters=f.filters.describe(), **extra)


def _column(breakdown: str) -> str:
    return "customers.segment" if breakdown == "segment" else f"events.{breakdown}"


def funnel_table(con, *, steps, order="ordered", window=None, unit="journey", filters=None, optional=(),
                 exclude=(), start_date=None, end_date=None, breakdown=None) -> pd.DataFrame:
    """Units reaching each step, conversion from the start and from the previous (required) step,
    drop-offs, and exact median / p90 seconds from entry; one block of rows per `breakdown` value.

    `steps`: activity names or predicates ({'activity': 'pay', 'channel': ['app', 'web'], 'label': …});
    `order`: ordered | strict | any; `window`: '7d', '24h', '30min', seconds or None;
    `unit`: journey | customer | attempt; `optional` / `exclude`: step numbers or labels / steps.
    """
    f = _funnel(steps=steps, order=order, window=window, unit=unit, filters=filters, optional=optional,
                exclude=exclude, start_date=start_date, end_date=end_date, breakdown=breakdown)
    wide = _summary(con, f)
    return _define(_long(wide, f), f, window, analysis="funnel", n_entered=int(wide["n1"].sum()))


def funnel_times_table(con, *, steps, bins=TIME_BINS, window=None, **options) -> pd.DataFrame:
    """How long converters took from entry to the last step: counts per time bin (`bins`: upper
    edges, durations or seconds), shares and cumulative shares; options as in `funnel_table`."""
    f = _funnel(steps=steps, window=window, **options)
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
    groups = sorted(got["group"].unique()) if len(got) else ([] if f.breakdown else [""])
    df = pd.DataFrame({"group": groups}).merge(grid, how="cross").merge(got, on=["group", "bin"], how="left")
    df["n_converted"] = df["n_converted"].fillna(0).astype("int64")
    total = df.groupby("group")["n_converted"].transform("sum")
    df["share"] = (df["n_converted"] / total).where(total > 0, 0.0)
    df["cumulative_share"] = df.groupby("group")["share"].cumsum()
    df = df.drop(columns="bin").rename(columns={"label": "bin"})
    df = df.rename(columns={"group": f.breakdown}) if f.breakdown else df.drop(columns="group")
    return _define(df, f, window, analysis="funnel times", n_converted=int(df["n_converted"].sum()),
                   bin_rule="lower_seconds <= seconds from entry to the last step < upper_seconds")


def _short(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def funnel_dropoff_next_table(con, *, steps, at_step, top: int | None = 10, window=None,
                              **options) -> pd.DataFrame:
    """What units dropped at `at_step` (reached its previous required step, not it) did next: the
    activity right after their last reached step's event in their unit, `(end)` if none, with counts
    and shares of the droppers; beyond `top`, one `other` row. Options as in `funnel_table`."""
    f = _funnel(steps=steps, window=window, **options)
    k = _step_number(f.steps, at_step, "at_step")
    if k == 1:
        raise FilterError("at_step must be step 2 or later: nobody drops before entering the funnel.")
    last = _last_reached(con, f, k)
    nxt, _ = journey_steps(con, f.filters, unit="journey" if f.unit == "attempt" else f.unit)
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
