"""Paths: variants (ordered activity sequences), the step matrix, and paths around an anchor."""

from __future__ import annotations

import ibis
import pandas as pd

from ...deprecation import renamed_kwargs
from ...errors import one_of
from ...scope import TIE_RULE, FilterError, definition, ordered_window, scope
from ...model import collapse_loops
from ..checks import check_known, empty_scope
from .segment_cube import cube_segment, segment_rows
from ...scope import ARROW, traces

LOOPS = ("keep", "collapse")
END = "(end)"
START = "(start)"

__all__ = ["ARROW", "END", "START", "variants_table", "step_matrix_table", "paths_around_table"]


def _check(loops: str) -> None:
    if loops not in LOOPS:
        raise FilterError(one_of("loop policy", loops, LOOPS))


def positioned(ev, loops: str = "keep"):
    """Events with `pos` (1-based step in their journey); `collapse` drops consecutive repeats."""
    _check(loops)
    if loops == "collapse":
        ev = collapse_loops(ev)
    return ev.mutate(pos=ibis.row_number().over(ordered_window()) + 1)


def _top(df: pd.DataFrame, top: int | None, what: str) -> pd.DataFrame:
    """The first `top` rows plus one `other` row holding the rest, so shares still sum to 1."""
    if top is None or len(df) <= top:
        return df
    rest = df.iloc[top:]
    other = {"variant": f"other ({len(rest):,} {what})", "n_journeys": rest["n_journeys"].sum()}
    return pd.concat([df.iloc[:top], pd.DataFrame([other])], ignore_index=True)


def _variants(j, by: list[str]) -> pd.DataFrame:
    """Journey and distinct-customer counts and the longest length per variant (and `by`)."""
    v = j.group_by([*by, "variant"]).aggregate(n_journeys=j.count(), n_customers=j.customer_id.nunique(),
                                               n_steps=j.n_steps.max())
    return v.order_by([ibis.desc("n_journeys"), "variant"]).execute()


def variants_table(con, *, top: int | None = 20, filters=None, unit: str = "journey",
                   loops: str = "keep") -> pd.DataFrame:
    """Variants with journey and customer counts and shares; beyond `top`, one `other` row."""
    _check(loops)
    segment, df = cube_segment(con, filters, loops, unit), None
    if segment is not None:   # one segment of the stored journeys: its rows of the by-segment table, in order
        df = segment_rows(con, ("variants",), segment, lambda: _variants(scope(con, None).journeys(), ["segment"]))
    if df is None:
        df = _variants(scope(con, filters, unit=unit).journeys(loops), [])
    total, n_variants = int(df["n_journeys"].sum()), len(df)
    if not total:
        raise empty_scope(con, filters, "journeys")
    df = _top(df, top, "variants")
    df.insert(0, "rank", range(1, len(df) + 1))
    df["share"] = df["n_journeys"] / total if total else 0.0
    return definition(df, analysis="variants", unit=unit, loops=loops, top=top, n_journeys=total,
                      n_variants=n_variants, tie_rule=TIE_RULE, time_zone="UTC",
                      filters=scope(con, filters).describe())


def step_matrix_table(con, *, max_steps: int = 10, filters=None, unit: str = "journey",
                      loops: str = "keep") -> pd.DataFrame:
    """Share of journeys whose k-th step is each activity, k = 1..max_steps; finished ones are `(end)`.

    Long form (step, activity, n_journeys, share); each step's shares sum to 1.
    """
    _check(loops)
    st, _ = scope(con, filters, unit=unit).steps(loops)
    head = st.filter(st.pos <= max_steps)
    cells = head.group_by(["pos", "activity"]).aggregate(n_journeys=head.count()).execute()
    j = scope(con, filters, unit=unit).journeys(loops)
    done = j.group_by("n_steps").aggregate(k=j.count()).execute()
    n = int(done["k"].sum())
    if not n:
        raise empty_scope(con, filters, "journeys")
    ends = pd.DataFrame({"pos": range(1, max_steps + 1)})
    ends["n_journeys"] = [int(done.loc[done["n_steps"] < p, "k"].sum()) for p in ends["pos"]]
    ends["activity"] = END
    df = pd.concat([cells, ends[ends["n_journeys"] > 0]], ignore_index=True).rename(columns={"pos": "step"})
    df["share"] = df["n_journeys"] / n if n else 0.0
    df = df.sort_values(["step", "n_journeys", "activity"], ascending=[True, False, True], ignore_index=True)
    return definition(df, analysis="step matrix", unit=unit, loops=loops, max_steps=max_steps, n_journeys=n,
                      tie_rule=TIE_RULE, filters=scope(con, filters).describe())


@renamed_kwargs(steps="max_steps")
def paths_around_table(con, *, anchor: str, direction: str = "after", max_steps: int = 3, top: int | None = 20,
                       filters=None, unit: str = "journey", loops: str = "keep") -> pd.DataFrame:
    """The (up to) `max_steps` activities after (or before) the first `anchor` of each journey, as variants;
    journeys with nothing there count as `(end)` / `(start)`."""
    _check(loops)
    if direction not in ("after", "before"):
        raise FilterError(one_of("direction", direction, ("after", "before")))
    check_known(con, "anchor", anchor, column="activity")
    st, _ = scope(con, filters, unit=unit).steps(loops)
    first = st.filter(st.activity == anchor).group_by("journey_key").aggregate(anchor_pos=st.pos.min())
    ev = st.join(first, "journey_key")
    lo, hi = ((ev.anchor_pos + 1, ev.anchor_pos + max_steps) if direction == "after"
              else (ev.anchor_pos - max_steps, ev.anchor_pos - 1))
    t = traces(ev.filter((ev.pos >= lo) & (ev.pos <= hi)))
    n_anchor = int(first.count().execute())
    if not n_anchor:
        raise empty_scope(con, filters, f"journeys with the anchor '{anchor}'")
    v = t.group_by("variant").aggregate(n_journeys=t.count()).execute()
    none = n_anchor - int(v["n_journeys"].sum())
    if none:
        v = pd.concat([v, pd.DataFrame([{"variant": END if direction == "after" else START, "n_journeys": none}])])
    v = _top(v.sort_values(["n_journeys", "variant"], ascending=[False, True], ignore_index=True), top, "paths")
    v["share"] = v["n_journeys"] / n_anchor if n_anchor else 0.0
    return definition(v, analysis=f"paths {direction} anchor", anchor=anchor, max_steps=max_steps, unit=unit,
                      loops=loops, n_journeys=n_anchor, tie_rule=TIE_RULE, filters=scope(con, filters).describe())
