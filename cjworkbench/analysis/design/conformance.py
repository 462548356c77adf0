"""Conformance: do customers follow the designed journey, where do they deviate, and what does it cost?

The journey instances and their per-step flags come from `instances.py` (one instance per
customer, from the first `starts_with` event to the goal or `within`); their definitions
(DEFINITIONS) travel in every result's `attrs["definition"]`.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from ...errors import one_of
from ...designs.journey import Design, DesignError, load_design
from ...scope import TIE_RULE, definition, epoch, scope
from .instances import CATEGORIES, DEFINITIONS, STEP_CATEGORIES, _designs, journey_table  # noqa: F401
from .kpis import nps_points
from ...designs.personas import persona_of
from ..stats import (bootstrap_median_diff, newcombe_interval, two_proportion_p_value, welch_interval, welch_p_value,
                    wilson_interval)

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
        df = df.drop(columns=[f"{c}__{j}" for c in STEP_CATEGORIES for j in applies[c]]
                     + [f"done__{j}" for j in d.required])
        if len(designs) > 1:
            df.insert(1, "design_variant", variant or "(base)")
        parts.append(df)
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    d = load_design(design)
    return definition(df, analysis="conformance", journey=d.journey, starts_with=d.starts_with,
                      within_seconds=d.within_seconds, goal=d.steps[d.goal].name,
                      required_steps=[d.steps[j].name for j in d.required], unit="journey instance (customer)",
                      **DEFINITIONS, tie_rule=TIE_RULE, filters=scope(con, filters).describe())


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
IMPACT_RULE = ("impact = outcome with the deviation - outcome without it, from the same moment, within the same "
               "group. A step's row: journeys that reached the required step before it (the start for the "
               "first) and then deviated at this step, against journeys that reached it and did not deviate at "
               "this step (whatever they did elsewhere; journeys that stopped there count as not deviating). "
               "'(any step)', 'unexpected' and 'any' rows: from the start, journeys with the deviation against "
               "conforming journeys (no deviation of any category)")


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
            for category, step, flagged, exposed, reference in _exposures(g, d, applies):
                rows.append([variant or "(base)", name, category, step,
                             *_impact(g, flagged, exposed, reference, outcome, level, n_resamples, seed)])
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
                      else None, costs=costs, **DEFINITIONS, tie_rule=TIE_RULE, filters=scope(con, filters).describe())


_OUTCOME_COLUMN = {"completion": "completed", "time": "completion_seconds", "cost": "cost"}
_IMPACT_COLUMNS = ["n_journeys", "n_deviating", "deviation_rate", "deviation_rate_low", "deviation_rate_high",
                   "n_outcome_deviating", "outcome_deviating", "n_outcome_conforming", "outcome_conforming",
                   "impact", "impact_low", "impact_high", "p_value"]


def _exposures(g: pd.DataFrame, d: Design, applies: dict):
    """(category, step, flagged, exposed, reference) in table order: each step of a category, then
    '(any step)'; 'any' last. `flagged` counts the rate; `exposed` vs `reference` is the impact
    comparison, both from the same moment (IMPACT_RULE)."""
    conforming = ~g["deviating"].to_numpy(bool)
    for c in STEP_CATEGORIES:
        for j in applies[c]:
            reached, clean = _reached_before(g, d, j), ~_deviates_at(g, applies, j)
            flagged = g[f"{c}__{j}"].to_numpy(bool)
            yield c, d.steps[j].name, flagged, flagged & reached, reached & clean
        yield c, "(any step)", g[c].to_numpy(bool), g[c].to_numpy(bool), conforming
    for c, column in (("unexpected", "unexpected"), ("any", "deviating")):
        yield c, "(any step)", g[column].to_numpy(bool), g[column].to_numpy(bool), conforming


def _reached_before(g: pd.DataFrame, d: Design, j: int) -> np.ndarray:
    """Journeys that did the nearest required step before step j in design order (all, for none)."""
    earlier = [i for i in d.required if i < j]
    return g[f"done__{earlier[-1]}"].to_numpy(bool) if earlier else np.ones(len(g), bool)


def _deviates_at(g: pd.DataFrame, applies: dict, j: int) -> np.ndarray:
    """Journeys with a step-level deviation (any category) at step j."""
    out = np.zeros(len(g), bool)
    for c in STEP_CATEGORIES:
        if j in applies[c]:
            out |= g[f"{c}__{j}"].to_numpy(bool)
    return out


def _impact(g: pd.DataFrame, flagged, exposed, reference, outcome: str, level: float, n_resamples: int,
            seed: int) -> list:
    n, x = len(g), int(flagged.sum())
    y = g["_y"].to_numpy(float)
    a, b = y[exposed & ~np.isnan(y)], y[reference & ~np.isnan(y)]
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
