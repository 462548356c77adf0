"""Conformance: do customers follow the designed journey, where do they deviate, and what does it cost?

One journey instance per customer: from the customer's first `starts_with` event (in (event_ts,
seq) order) to the first event of the goal (the design's last required step), or to `within`
after the start when the goal is not reached (every event of the customer, across sources and
journey ids, inclusive bounds). A step is *done* when an event with its activity or an
alternative falls in the instance; its first such event gives its position and time.
The definitions below (DEFINITIONS) travel in every result's `attrs["definition"]`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from ...errors import one_of
from ...designs.journey import Design, DesignError, load_design
from ...scope import TIE_RULE, _date, as_filters, definition, epoch, filtered_events
from .kpis import nps_points
from ...designs.personas import load_personas, persona_of
from ..stats import (bootstrap_median_diff, newcombe_interval, two_proportion_p_value, welch_interval, welch_p_value,
                    wilson_interval)

CATEGORIES = ("missing", "out_of_order", "too_slow", "repeated", "unexpected")
STEP_CATEGORIES = CATEGORIES[:4]  # in this order they name the first deviation of a journey
DEFINITIONS = {
    "instance": "per customer, from the first starts_with event to the first goal event (the last required "
                "step), or to `within` after the start when the goal is not reached; all the customer's events",
    "fitness": "share of the required (non-optional) steps done in order; a required step is in order when "
               "its first event comes after the first event of every earlier required step that was done",
    "missing": "a required step before the goal with no event in the instance (the step that holds "
               "starts_with is always done)",
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
    f = as_filters(filters)
    ev = filtered_events(con, replace(f, start_date=None, end_date=None), unit="customer")
    s = ev.filter(ev.activity == d.starts_with)
    s = s.mutate(k=ibis.row_number().over(ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])))
    s = s.filter(s.k == 0).select("customer_id", start_ts=s.event_ts, start_seq=s.seq)
    if f.start_date:
        s = s.filter(s.start_ts >= ibis.timestamp(_date(f.start_date, "start_date")))
    if f.end_date:
        s = s.filter(s.start_ts < ibis.timestamp(_date(f.end_date, "end_date") + dt.timedelta(days=1)))
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
    flags = {}
    for j in after_start:
        flags[f"missing__{j}"] = ~done[j]
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
    flag_cols = [f"{c}__{j}" for c in STEP_CATEGORIES for j in applies[c]]
    t = t.select(*JOURNEY_COLUMNS, *flag_cols, *(["cost"] if costs else []))
    if extra is not None:
        t = extra(t)
    return t.order_by(["start_ts", "customer_id"]).execute(), applies


def conformance_table(con, *, design, filters=None, personas=None) -> pd.DataFrame:
    """One row per journey instance: fitness, completion, deviation flags per category, the
    steps behind each flag (`<category>_steps`), and the first deviation (step and category).

    `design` is a YAML path or a parsed `Design`; designs with per-persona variants need
    `personas=` (YAML path or parsed) and check each customer against their persona's variant.
    """
    parts, designs = [], _designs(con, design, personas)
    for variant, d, who in designs:
        df, applies = journey_table(con, d, filters, who)
        for c in STEP_CATEGORIES:
            cols = [f"{c}__{j}" for j in applies[c]]
            names = [d.steps[j].name for j in applies[c]]
            df[f"{c}_steps"] = [[n for n, x in zip(names, row) if x] for row in df[cols].to_numpy(bool)]
        df = df.drop(columns=[f"{c}__{j}" for c in STEP_CATEGORIES for j in applies[c]])
        if len(designs) > 1:
            df.insert(1, "design_variant", variant or "(base)")
        parts.append(df)
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    d = load_design(design)
    return definition(df, analysis="conformance", journey=d.journey, starts_with=d.starts_with,
                      within_seconds=d.within_seconds, goal=d.steps[d.goal].name,
                      required_steps=[d.steps[j].name for j in d.required], unit="journey instance (customer)",
                      **DEFINITIONS, tie_rule=TIE_RULE, filters=as_filters(filters).describe())


OUTCOMES = ("completion", "time", "nps", "csat", "ces", "cost")
OUTCOME_RULES = {
    "completion": "share of journeys that reached the goal within `within`; difference with a Newcombe interval",
    "time": "seconds from the start to the goal, completed journeys only; difference of medians with a "
            "seeded percentile bootstrap interval",
    "nps": "the customer's first nps answer after the start (within feedback_days), scored 100 for 9-10, "
           "-100 for 0-6 and 0 otherwise, so the mean is the NPS; difference of means with a Welch interval",
    "csat": "mean of the customer's first csat answer after the start (within feedback_days); Welch interval",
    "ces": "mean of the customer's first ces answer after the start (within feedback_days); Welch interval",
    "cost": "sum of costs[activity] over the instance's events; difference of means with a Welch interval",
}
RATE_RULE = ("deviation_rate is per journey: deviating journeys / journeys (closed instances only); "
             "per-event counts are never mixed in")
IMPACT_RULE = ("impact = outcome of the journeys with the deviation - outcome of conforming journeys "
               "(no deviation of any category), within the same group")


def _feedback_outcome(con, t: ir.Table, instrument: str, touchpoint, days: float) -> ir.Table:
    """`t` with `outcome`: the score of the customer's first `instrument` answer after the start."""
    fb = con.table("feedback")
    fb = fb.filter(fb.instrument == instrument)
    if touchpoint:
        fb = fb.filter(fb.touchpoint.isin(list(touchpoint) if isinstance(touchpoint, (list, tuple)) else [touchpoint]))
    j = t.select("customer_id", "start_ts").join(fb.select("customer_id", "feedback_ts", "seq", "score"), "customer_id")
    j = j.filter((j.feedback_ts >= j.start_ts) & (epoch(j.feedback_ts) - epoch(j.start_ts) <= days * 86_400))
    j = j.mutate(k=ibis.row_number().over(ibis.window(group_by="customer_id", order_by=["feedback_ts", "seq"])))
    score = j.score.cast("float64")
    if instrument == "nps":
        score = nps_points(j.score)
    first = j.filter(j.k == 0).select("customer_id", outcome=score)
    return t.left_join(first, "customer_id").drop("customer_id_right")


def _group(con, t: ir.Table, by, personas) -> ir.Table:
    if by is None:
        return t.mutate(group=ibis.literal("(all)"))
    if by == "persona":
        if personas is None:
            raise DesignError("by='persona' needs personas= (a personas YAML such as personas.yml).")
        who = persona_of(con, personas).select("customer_id", group="persona")
    else:
        cust = con.table("customers")
        col = cust.segment if by == "segment" else cust.attributes[str(by)]
        who = cust.select("customer_id", group=col.fill_null("(none)"))
    t = t.left_join(who, "customer_id").drop("customer_id_right")
    return t.mutate(group=t.group.fill_null("(none)"))


def deviations_table(con, *, design, outcome: str = "completion", filters=None, by=None, personas=None,
                     feedback_touchpoint=None, feedback_days: float | None = None, costs: dict | None = None,
                     level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per deviation category and step (and per `by` group: None, 'segment', 'persona' or a
    customer attribute key): how often journeys deviate (per-journey rate with a Wilson
    interval) and the impact on `outcome` against conforming journeys, with an interval.

    Closed instances only (open windows left out). `costs` ({activity: amount}) is needed for
    outcome 'cost'; `feedback_touchpoint` narrows the nps / csat / ces answers (e.g. 'onboarding').
    """
    if outcome not in OUTCOMES:
        raise DesignError(one_of("outcome", outcome, OUTCOMES))
    if outcome == "cost" and not costs:
        raise DesignError("outcome='cost' needs costs={activity: amount}, e.g. {'case_opened': 6.5}.")
    d0 = load_design(design)
    days = feedback_days if feedback_days is not None else (d0.within_seconds or 30 * 86_400) / 86_400

    def extra(t):
        t = _group(con, t, by, personas)
        return _feedback_outcome(con, t, outcome, feedback_touchpoint, days) if outcome in ("nps", "csat", "ces") else t

    designs, rows = _designs(con, design, personas), []
    for variant, d, who in designs:
        df, applies = journey_table(con, d, filters, who, costs=costs if outcome == "cost" else None, extra=extra)
        df = df[~df["open_window"]]
        df = df.assign(_y=df[_OUTCOME_COLUMN.get(outcome, "outcome")].astype(float))
        groups = [("(all)", df)] + ([(k, g) for k, g in df.groupby("group", sort=True)] if by is not None else [])
        for name, g in groups:
            for category, step, mask in _exposures(g, d, applies):
                rows.append([variant or "(base)", name, category, step,
                             *_impact(g, mask, outcome, level, n_resamples, seed)])
    out = pd.DataFrame(rows, columns=["design_variant", "group", "category", "step", *_IMPACT_COLUMNS])
    if len(designs) == 1:
        out = out.drop(columns="design_variant")
    if by is None:
        out = out.drop(columns="group")
    else:
        out = out.rename(columns={"group": str(by)})
    return definition(out, analysis="deviations", journey=d0.journey, outcome=outcome,
                      outcome_rule=OUTCOME_RULES[outcome], rate=RATE_RULE, impact=IMPACT_RULE, by=by, level=level,
                      feedback_touchpoint=feedback_touchpoint, feedback_days=days if outcome in ("nps", "csat", "ces")
                      else None, costs=costs, **DEFINITIONS, tie_rule=TIE_RULE, filters=as_filters(filters).describe())


_OUTCOME_COLUMN = {"completion": "completed", "time": "completion_seconds", "cost": "cost"}
_IMPACT_COLUMNS = ["n_journeys", "n_deviating", "deviation_rate", "deviation_rate_low", "deviation_rate_high",
                   "n_outcome_deviating", "outcome_deviating", "n_outcome_conforming", "outcome_conforming",
                   "impact", "impact_low", "impact_high", "p_value"]


def _exposures(g: pd.DataFrame, d: Design, applies: dict):
    """(category, step, mask) in table order: each step of a category, then '(any step)'; 'any' last."""
    for c in STEP_CATEGORIES:
        for j in applies[c]:
            yield c, d.steps[j].name, g[f"{c}__{j}"].to_numpy(bool)
        yield c, "(any step)", g[c].to_numpy(bool)
    yield "unexpected", "(any step)", g["unexpected"].to_numpy(bool)
    yield "any", "(any step)", g["deviating"].to_numpy(bool)


def _impact(g: pd.DataFrame, mask, outcome: str, level: float, n_resamples: int, seed: int) -> list:
    n, x = len(g), int(mask.sum())
    y = g["_y"].to_numpy(float)
    ref = ~g["deviating"].to_numpy(bool)
    a, b = y[mask & ~np.isnan(y)], y[ref & ~np.isnan(y)]
    if outcome == "completion":
        xa, xb = int(a.sum()), int(b.sum())
        diff, p = newcombe_interval(xa, len(a), xb, len(b), level=level), two_proportion_p_value(xa, len(a), xb, len(b))
    elif outcome == "time":
        diff, p = bootstrap_median_diff(a, b, level=level, n_resamples=n_resamples, seed=seed), float("nan")
    else:
        diff, p = welch_interval(a, b, level=level), welch_p_value(a, b)
    centre = np.median if outcome == "time" else np.mean
    va = float(centre(a)) if len(a) else float("nan")
    vb = float(centre(b)) if len(b) else float("nan")
    return [n, x, *wilson_interval(x, n, level=level), len(a), va, len(b), vb, *diff, p]
