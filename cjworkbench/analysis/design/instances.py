"""Journey instances checked against a design: one instance per customer, from the customer's
first `starts_with` event (in (event_ts, seq) order) to the first event of the goal (the design's
last required step), or to `within` after the start when the goal is not reached (every event of
the customer in scope, across sources and journey ids, inclusive bounds). A step is *done* when
an event with its activity or an alternative falls in the instance; its first such event gives
its position and time. The date filters select instances by their start (`Scope.in_dates`).
DEFINITIONS travel in every conformance result's `attrs["definition"]`.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...designs.journey import Design, DesignError, load_design
from ...designs.personas import load_personas, persona_of
from ...scope import epoch, scope

CATEGORIES = ("missing", "out_of_order", "too_slow", "repeated", "unexpected")
STEP_CATEGORIES = CATEGORIES[:4]  # in this order they name the first deviation of a journey
DEFINITIONS = {
    "instance": "per customer, from the first starts_with event to the first goal event (the last required "
                "step), or to `within` after the start when the goal is not reached; all the customer's events",
    "fitness": "share of the required (non-optional) steps done in order; a required step is in order when "
               "its first event comes after the first event of every earlier required step that was done",
    "missing": "a required step before the goal skipped: no event of it in the instance while a later required "
               "step or the goal was done (a step after the last one done is not reached yet, not missing; the "
               "step that holds starts_with is always done)",
    "out_of_order": "a required step done, but not in order (see fitness)",
    "too_slow": "a step with max_gap whose first event comes more than max_gap after the first event of the "
                "nearest earlier step that was done (design order), or after the start if none was",
    "repeated": "a required step before the goal with two or more events in the instance",
    "unexpected": "an event in the instance whose activity is listed under the design's `unexpected` "
                  "(or, with `unexpected: any`, any activity other than the design's, starts_with and `ignore`)",
    "first_deviation": "the first step in design order with a step-level deviation, checked in the order "
                       "missing, out_of_order, too_slow, repeated; unexpected events have no step",
    "completed": "the goal was reached within `within` of the start",
    "open_window": "start + within lies after the last event in the data: the outcome is not known for "
                   "every journey of that start yet (such journeys are left out of deviations_table, "
                   "completed or not, so early completers do not bias the rates)",
}


def _instance_events(con, d: Design, filters) -> ir.Table:
    """The events of every instance, with `pos` (1-based, (event_ts, seq) order) and start."""
    sc = scope(con, filters, unit="customer")
    ev = sc.with_dates(None, None).events()   # the dates select instances by their start, below
    s = ev.filter(ev.activity == d.starts_with)
    s = s.mutate(k=ibis.row_number().over(ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])))
    s = s.filter(s.k == 0)
    if any(sc.dates):   # an instance's date: its start event's business date
        s = s.filter(sc.in_dates(s.event_date))
    s = s.select("customer_id", start_ts=s.event_ts, start_seq=s.seq)
    e = ev.select("customer_id", "event_ts", "seq", "activity").join(s, "customer_id")
    keep = (e.event_ts > e.start_ts) | ((e.event_ts == e.start_ts) & (e.seq >= e.start_seq))
    if d.within_seconds is not None:
        keep &= epoch(e.event_ts) - epoch(e.start_ts) <= d.within_seconds
    e = e.filter(keep)
    e = e.mutate(pos=ibis.row_number().over(ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])) + 1)
    goal = e.activity.isin(list(d.steps[d.goal].activities))
    e = e.mutate(goal_pos=e.pos.min(where=goal).over(ibis.window(group_by="customer_id")))
    return e.filter(e.goal_pos.isnull() | (e.pos <= e.goal_pos))


def _unexpected(e: ir.Table, d: Design) -> ir.BooleanValue:
    if d.unexpected == "any":
        return ~e.activity.isin([*d.activities, *d.ignore, d.starts_with])
    if d.unexpected:
        return e.activity.isin(list(d.unexpected))
    return ibis.literal(False)


def _aggregate(con, d: Design, filters, costs: dict | None = None) -> ir.Table:
    """One row per instance: per step j its first position `f{j}`, first time `t{j}`, count `n{j}`;
    `cost`: the sum of `costs[activity]` over the instance's events (when costs are given)."""
    e = _instance_events(con, d, filters)
    aggs = {}
    if costs:
        aggs["cost"] = ibis.cases(*[(e.activity == str(a), float(v)) for a, v in costs.items()], else_=0.0).sum()
    for j, s in enumerate(d.steps):
        m = e.activity.isin(list(s.activities))
        aggs |= {f"f{j}": e.pos.min(where=m), f"t{j}": e.event_ts.min(where=m), f"n{j}": e.count(where=m)}
    g = e.group_by(["customer_id", "start_ts"]).aggregate(n_events=e.count(), n_unexpected=e.count(
        where=_unexpected(e, d)), **aggs)
    ends = con.table("events").aggregate(data_end_ts=lambda t: t.event_ts.max())
    return g.cross_join(ends)


def step_flags(con, design, filters=None, *, costs: dict | None = None) -> tuple[ir.Table, dict]:
    """Per instance the journey-level columns plus boolean `<category>__<j>` columns per step j;
    and {category: [step index, …]} naming the steps each category applies to."""
    d = load_design(design)
    g = _aggregate(con, d, filters, costs)
    req, goal = d.required, d.goal
    done = {j: g[f"f{j}"].notnull() for j in range(len(d.steps))}
    in_order = {}
    for k, j in enumerate(req):
        cond = done[j]
        for i in req[:k]:
            cond &= g[f"f{i}"].fill_null(0) < g[f"f{j}"]
        in_order[j] = cond.fill_null(False)
    before_goal = [j for j in req if j != goal]
    after_start = [j for j in before_goal if d.starts_with not in d.steps[j].activities]  # the start is always done
    gapped = [j for j, s in enumerate(d.steps) if s.max_gap_seconds is not None]
    applies = {"missing": after_start, "out_of_order": after_start, "too_slow": gapped, "repeated": before_goal}
    flags = {f"done__{j}": done[j] for j in req}
    for j in after_start:
        later = [done[k] for k in req if k > j]
        flags[f"missing__{j}"] = ~done[j] & (ibis.or_(*later) if later else ibis.literal(False))
        flags[f"out_of_order__{j}"] = done[j] & ~in_order[j]
    for j in before_goal:
        flags[f"repeated__{j}"] = g[f"n{j}"] > 1
    for j in gapped:
        prev = ibis.coalesce(*[g[f"t{i}"] for i in range(j - 1, -1, -1)], g.start_ts)
        flags[f"too_slow__{j}"] = (done[j] & (epoch(g[f"t{j}"]) - epoch(prev) > d.steps[j].max_gap_seconds)).fill_null(
            False)
    g = g.mutate(**flags)
    return _journey_columns(g, d, in_order, applies), applies


def _journey_columns(g: ir.Table, d: Design, in_order: dict, applies: dict) -> ir.Table:
    any_of = {c: ibis.literal(False) for c in STEP_CATEGORIES}
    for c in STEP_CATEGORIES:
        for j in applies[c]:
            any_of[c] = any_of[c] | g[f"{c}__{j}"]
    firsts = [(g[f"{c}__{j}"], d.steps[j].name, c) for j in range(len(d.steps)) for c in STEP_CATEGORIES
              if j in applies[c]]
    goal_t = g[f"t{d.goal}"]
    completed = goal_t.notnull()
    if d.within_seconds is None:
        open_window = ibis.literal(False)
    else:
        open_window = epoch(g.start_ts) + d.within_seconds > epoch(g.data_end_ts)
    n_in_order = sum(v.cast("int64") for v in in_order.values())
    unexpected = g.n_unexpected > 0
    return g.mutate(
        completed=completed, open_window=open_window, completed_ts=goal_t,
        completion_seconds=epoch(goal_t) - epoch(g.start_ts), n_required=ibis.literal(len(d.required)),
        n_in_order=n_in_order, fitness=n_in_order.cast("float64") / len(d.required), **any_of,
        unexpected=unexpected, deviating=unexpected | ibis.or_(*any_of.values()),
        first_deviation_step=_first(firsts, 1), first_deviation=_first(firsts, 2))


def _first(firsts: list, k: int) -> ir.StringValue:
    if not firsts:
        return ibis.null("string")
    return ibis.cases(*[(f[0], f[k]) for f in firsts], else_=ibis.null("string"))


JOURNEY_COLUMNS = ["customer_id", "start_ts", "completed", "completed_ts", "completion_seconds", "open_window",
                   "n_events", "n_required", "n_in_order", "fitness", "deviating", *CATEGORIES, "n_unexpected",
                   "first_deviation_step", "first_deviation"]


def _designs(con, design, personas) -> list[tuple[str | None, Design, ir.Table | None]]:
    """(variant, design, customers it applies to): the base design alone, or one per persona variant."""
    d = load_design(design)
    if not d.variants:
        return [(None, d, None)]
    if personas is None:
        raise DesignError(f"The design '{d.journey}' has per-persona variants ({', '.join(d.variants)}): pass "
                          "personas= (a personas YAML) so each customer is checked against their persona's design.")
    who = persona_of(con, personas)
    unknown = sorted(set(d.variants) - set(load_personas(personas).names))
    if unknown:
        raise DesignError(f"The design names persona(s) {unknown} that the personas file does not define; "
                          f"expected some of: {', '.join(load_personas(personas).names)}.")
    base = who.filter(~who.persona.isin(list(d.variants))).select("customer_id")
    return [(None, d, base)] + [(name, v, who.filter(who.persona == name).select("customer_id"))
                                for name, v in d.variants.items()]


def journey_table(con, d: Design, filters, applies_to: ir.Table | None, *, costs=None,
                  extra=None) -> tuple[pd.DataFrame, dict]:
    """Executed per-instance table with the per-step flag columns, and the applicable steps;
    `extra(t) -> t` adds columns (a group, an outcome) before the one execute."""
    t, applies = step_flags(con, d, filters, costs=costs)
    if applies_to is not None:
        t = t.semi_join(applies_to, "customer_id")
    flag_cols = [f"{c}__{j}" for c in STEP_CATEGORIES for j in applies[c]] + [f"done__{j}" for j in d.required]
    t = t.select(*JOURNEY_COLUMNS, *flag_cols, *(["cost"] if costs else []))
    if extra is not None:
        t = extra(t)
    return t.order_by(["start_ts", "customer_id"]).execute(), applies
