"""A funnel's units: one row per unit (journey, customer, session or attempt) with its entry event
and, per step, the position (`pos<k>`) and epoch seconds (`ts<k>`) of the event that reached it.
Positions come from the stored `journey_steps` when the scope allows (`Scope.stored`), else from
one window. `ordered` chains one join per step (the earliest match after the previous step),
`strict` looks up the events 1..n-1 places after the entry (equality joins on position), `any`
finds every step in one join. The entry dates follow the one date rule (`scope.in_date_range`) on
the entry event's business date (`event_date`).
"""

from __future__ import annotations

import operator
import re
from functools import reduce

import ibis
import ibis.expr.types as ir

from ...scope import epoch, in_date_range, scope
from ..segments.breakdowns import resolve_by, with_group
from .funnel_spec import BY, NO_END, NONE, Funnel, Step, _previous
from .paths import positioned


def _match(ev: ir.Table, step: Step) -> ir.BooleanValue:
    conds = [ev[c] == v[0] if len(v) == 1 else ev[c].isin(list(v)) for c, v in step.where]
    return reduce(operator.and_, conds)


def _events(con, f: Funnel) -> ir.Table:
    """Filtered events of units with an entry, with `pos`, `epoch` seconds and a flag per step
    (`m1`..) and for exclusions (`mx`). `pos` comes from the stored `journey_steps` when the filters
    allow it; else `ordered` / `any` number only the events that match a step or an exclusion
    (order among them is all they need) and `strict` numbers every event."""
    sc = scope(con, f.filters, unit="journey" if f.unit == "attempt" else f.unit)
    stored = sc.stored()
    ev = sc.steps()[0] if stored else sc.events()
    if "journey_no" in ev.columns:   # the stored integer key: cheaper joins and group-bys than strings
        ev = ev.mutate(journey_key=ev.journey_no)
    flags = {f"m{k}": _match(ev, s) for k, s in enumerate(f.steps, 1)}
    if f.exclude:
        flags["mx"] = reduce(operator.or_, (_match(ev, x) for x in f.exclude))
    keep = [c for c in (f.by, "pos") if c in ev.columns]
    ev = ev.select("journey_key", "customer_id", "event_ts", "event_date", "seq", *keep, epoch=epoch(ev.event_ts),
                   **flags)
    if not stored or f.order == "strict":   # only events of units with an entry (numbered or looked up)
        ev = ev.semi_join(ev.filter(ev.m1 & _in_range(ev.event_date, f)).select("journey_key"), "journey_key")
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


def _in_range(date: ir.DateValue, f: Funnel) -> ir.BooleanValue:
    """The entry date range on a business date, by the one date rule (`scope.in_date_range`)."""
    return in_date_range(date, *f.entry_dates)


def _entries(con, ev: ir.Table, f: Funnel) -> ir.Table:
    """Entry events (`pos1`, `ts1`), their `by` value `group` and `end_pos`: the position later steps
    must precede (the next step-1 event for attempts, else none)."""
    s1 = ev.filter(ev.m1)
    if f.unit == "attempt":
        s1 = s1.mutate(end_pos=s1.pos.lead(default=NO_END).over(ibis.window(group_by="journey_key", order_by="pos")))
        s1 = s1.filter(_in_range(s1.event_date, f))
    else:
        s1 = s1.filter(_in_range(s1.event_date, f))
        first = s1.group_by("journey_key").aggregate(pos=s1.pos.min(), epoch=s1.epoch.min(),
                                                     end_pos=ibis.literal(NO_END, "int64"))
        if not f.by:
            return first.select("journey_key", "end_pos", group=ibis.literal(""), pos1=first.pos, ts1=first.epoch)
        cols = [c for c in ("customer_id", "seq", f.by) if c in s1.columns]
        at = s1.select(*cols, a_key=s1.journey_key, a_pos=s1.pos)
        s1 = first.join(at, [first.journey_key == at.a_key, first.pos == at.a_pos]).drop("a_key", "a_pos")
    if f.by == "segment":
        cust = con.table("customers")
        cust = cust.select(c_id=cust.customer_id, group=cust.segment)
        s1 = s1.left_join(cust, s1.customer_id == cust.c_id).drop("c_id")
    elif f.by and f.by not in BY:   # a customer or event attribute, banded when numeric
        s1 = with_group(con, s1, resolve_by(con, f.by))
    else:
        s1 = s1.mutate(group=s1[f.by] if f.by else ibis.literal(""))
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
