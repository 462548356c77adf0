"""Paths: variants (ordered activity sequences), the step matrix, and paths around an anchor.

Traces are built in the portable Ibis subset: (position, activity) structs are collected per
journey, sorted, and mapped back to activities (Spark refuses ordered `collect`).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from ..errors import one_of
from .filters import TIE_RULE, FilterError, definition, filtered_events, ordered_window

LOOPS = ("keep", "collapse")
END = "(end)"
START = "(start)"
ARROW = " → "


def _check_loops(loops: str) -> None:
    if loops not in LOOPS:
        raise FilterError(one_of("loop policy", loops, LOOPS))


def positioned(ev: ir.Table, loops: str = "keep") -> ir.Table:
    """Events with `pos` (1-based step in their journey); `collapse` drops consecutive repeats."""
    _check_loops(loops)
    w = ordered_window()
    if loops == "collapse":  # window in a column first: Spark cannot filter on a window directly
        ev = ev.mutate(prev_activity=ev.activity.lag().over(w))
        ev = ev.filter(ev.prev_activity.isnull() | (ev.prev_activity != ev.activity)).drop("prev_activity")
    return ev.mutate(pos=ibis.row_number().over(w) + 1)


def traces(ev: ir.Table) -> ir.Table:
    """One row per journey: `trace` (activities in order) and `variant` (joined with ' → ')."""
    g = ev.group_by("journey_key").aggregate(
        steps=ibis.struct({"pos": ev.pos, "activity": ev.activity}).collect(),
        customer_id=ev.customer_id.min(), start_ts=ev.event_ts.min(), end_ts=ev.event_ts.max())
    trace = g.steps.sort().map(lambda s: s.activity)
    return g.mutate(trace=trace, variant=trace.join(ARROW), n_steps=trace.length()).drop("steps")


def variants_table(con, *, top: int | None = 20, filters=None, unit: str = "journey",
                   loops: str = "keep") -> pd.DataFrame:
    """Variants with journey counts and shares; beyond `top`, one `other` row so shares sum to 1."""
    ev = positioned(filtered_events(con, filters, unit=unit), loops)
    t = traces(ev)
    v = t.group_by("variant").aggregate(n_journeys=t.count(), n_customers=t.customer_id.nunique(),
                                        n_steps=t.n_steps.max())
    df = v.order_by([ibis.desc("n_journeys"), "variant"]).execute()
    total = int(df["n_journeys"].sum())
    if top is not None and len(df) > top:
        rest = df.iloc[top:]
        other = pd.DataFrame([{"variant": f"other ({len(rest):,} variants)", "n_journeys": rest["n_journeys"].sum(),
                               "n_customers": pd.NA, "n_steps": pd.NA}])
        df = pd.concat([df.iloc[:top], other], ignore_index=True)
    df.insert(0, "rank", range(1, len(df) + 1))
    df["share"] = df["n_journeys"] / total if total else 0.0
    return definition(df, analysis="variants", unit=unit, loops=loops, top=top, n_journeys=total,
                      n_variants=int(v.count().execute()), tie_rule=TIE_RULE, time_zone="UTC",
                      filters=_describe(filters))


def step_matrix_table(con, *, max_steps: int = 10, filters=None, unit: str = "journey",
                      loops: str = "keep") -> pd.DataFrame:
    """Share of journeys whose k-th step is each activity, k = 1..max_steps; finished ones are `(end)`.

    Long form (step, activity, n_journeys, share); each step's shares sum to 1.
    """
    ev = positioned(filtered_events(con, filters, unit=unit), loops)
    n = ev.journey_key.nunique().execute()
    lengths = ev.group_by("journey_key").aggregate(length=ev.pos.max())
    head = ev.filter(ev.pos <= max_steps)
    cells = head.group_by(["pos", "activity"]).aggregate(n_journeys=head.count()).execute()
    ends = pd.DataFrame({"pos": range(1, max_steps + 1)})
    done = lengths.group_by("length").aggregate(k=lengths.count()).execute()
    ends["n_journeys"] = [int(done.loc[done["length"] < p, "k"].sum()) for p in ends["pos"]]
    ends["activity"] = END
    df = pd.concat([cells, ends[ends["n_journeys"] > 0]], ignore_index=True).rename(columns={"pos": "step"})
    df["share"] = df["n_journeys"] / n if n else 0.0
    df = df.sort_values(["step", "n_journeys", "activity"], ascending=[True, False, True], ignore_index=True)
    return definition(df, analysis="step matrix", unit=unit, loops=loops, max_steps=max_steps, n_journeys=int(n),
                      tie_rule=TIE_RULE, filters=_describe(filters))


def paths_around_table(con, *, anchor: str, direction: str = "after", steps: int = 3, top: int | None = 20,
                       filters=None, unit: str = "journey", loops: str = "keep") -> pd.DataFrame:
    """The `steps` activities after (or before) the first `anchor` of each journey, as variants."""
    if direction not in ("after", "before"):
        raise FilterError(one_of("direction", direction, ("after", "before")))
    ev = positioned(filtered_events(con, filters, unit=unit), loops)
    first = ev.filter(ev.activity == anchor).group_by("journey_key").aggregate(anchor_pos=ev.pos.min())
    ev = ev.join(first, "journey_key")
    lo, hi = (ev.anchor_pos + 1, ev.anchor_pos + steps) if direction == "after" else (ev.anchor_pos - steps, ev.anchor_pos - 1)
    near = ev.filter((ev.pos >= lo) & (ev.pos <= hi))
    t = traces(near)
    n_anchor = first.count().execute()
    v = t.group_by("variant").aggregate(n_journeys=t.count()).order_by([ibis.desc("n_journeys"), "variant"]).execute()
    none = n_anchor - int(v["n_journeys"].sum())
    label = END if direction == "after" else START
    if none:
        v = pd.concat([v, pd.DataFrame([{"variant": label, "n_journeys": none}])], ignore_index=True)
        v = v.sort_values(["n_journeys", "variant"], ascending=[False, True], ignore_index=True)
    if top is not None and len(v) > top:
        rest = v.iloc[top:]
        v = pd.concat([v.iloc[:top], pd.DataFrame([{"variant": f"other ({len(rest):,} paths)",
                                                     "n_journeys": rest["n_journeys"].sum()}])], ignore_index=True)
    v["share"] = v["n_journeys"] / n_anchor if n_anchor else 0.0
    return definition(v, analysis=f"paths {direction} anchor", anchor=anchor, steps=steps, unit=unit, loops=loops,
                      n_journeys=int(n_anchor), tie_rule=TIE_RULE, filters=_describe(filters))


def _describe(filters) -> dict:
    from .filters import as_filters

    return as_filters(filters).describe()
