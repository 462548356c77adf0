"""The transition graph (activity -> next activity with volumes and times) and its hotspots.

Durations are `epoch()` differences (portable, with milliseconds; day deltas differ on Spark) and
exact quantiles. `(start)` -> first activity and last activity -> `(end)` edges carry the
start and end counts of the process map.
"""

from __future__ import annotations

import ibis
import pandas as pd

from ...scope import TIE_RULE, definition, epoch, scope
from .paths import END, START
from ..checks import empty_scope
from .segment_cube import cube_segment, segment_rows


def transitions_table(con, *, filters=None, unit: str = "journey", loops: str = "keep",
                      include_start_end: bool = True) -> pd.DataFrame:
    """Per (from_activity, to_activity): transitions, distinct journeys and customers, and
    mean / median / p90 / total seconds between the two events; `(start)` and `(end)` edges.

    One aggregate over the journey steps: a step without a next activity is an `(end)` edge,
    a step at position 1 also counts for its `(start)` edge.
    """
    segment, g, customers_exact = cube_segment(con, filters, loops, unit), None, True
    if segment is not None:   # one segment of the stored steps: its rows of the by-segment table
        g = segment_rows(con, ("transitions",), segment,
                         lambda: _grouped(scope(con, None).steps()[0], True, ["segment"]))
    if g is None:
        st, customers_exact = scope(con, filters, unit=unit).steps(loops)
        g = _grouped(st, customers_exact, [])
    if g.empty:
        raise empty_scope(con, filters, "journeys")
    if not customers_exact:  # distinct customers per start activity cannot be summed over groups
        s1 = st.filter(st.is_start)
        per = s1.group_by("activity").aggregate(n_start_customers=s1.customer_id.nunique()).execute()
        g = g.drop(columns="n_start_customers").merge(per, on="activity", how="left")
        first = (g["n_starts"] > 0) & ~g.assign(s=g["n_starts"] > 0).duplicated(["activity", "s"])
        g["n_start_customers"] = g["n_start_customers"].where(first, 0)  # once per activity: summed below
    inner = g[g["next_activity"].notna()].drop(columns=["n_starts", "n_start_customers"])
    df = inner.rename(columns={"activity": "from_activity", "next_activity": "to_activity"})
    if include_start_end:
        df = pd.concat([df, _terminals(g)], ignore_index=True)
    df = df.sort_values(["n_transitions", "from_activity", "to_activity"], ascending=[False, True, True],
                        ignore_index=True)
    for col in ("n_transitions", "n_journeys", "n_customers"):
        df[col] = df[col].astype("int64")
    return definition(df, analysis="transitions", unit=unit, loops=loops, tie_rule=TIE_RULE,
                      duration="seconds from an event to the next event of the same journey",
                      filters=scope(con, filters).describe())


def _grouped(st, customers_exact: bool, by: list[str]) -> pd.DataFrame:
    """Per (`by`, activity, next_activity): counts, flag sums and seconds to the next event."""
    flag = lambda col: st[col].cast("int64").sum()  # noqa: E731
    return st.group_by([*by, "activity", "next_activity"]).aggregate(
        n_transitions=st.count(), n_journeys=flag("first_in_journey"),
        n_customers=flag("first_for_customer") if customers_exact else st.customer_id.nunique(),
        n_starts=st.count(where=st.is_start),
        # exact flags when whole customers are kept; else counted per start activity below
        n_start_customers=flag("first_start_for_customer") if customers_exact else ibis.literal(0),
        mean_seconds=st.seconds_to_next.mean(), median_seconds=st.seconds_to_next.median(),
        p90_seconds=st.seconds_to_next.quantile(0.9), total_seconds=st.seconds_to_next.sum()).execute()


def _terminals(g: pd.DataFrame) -> pd.DataFrame:
    """(start) -> first activity and last activity -> (end) edges from the grouped steps."""
    starts = g.groupby("activity", as_index=False)[["n_starts", "n_start_customers"]].sum()
    starts = starts[starts["n_starts"] > 0]
    start = pd.DataFrame({"from_activity": START, "to_activity": starts["activity"],
                          "n_transitions": starts["n_starts"], "n_journeys": starts["n_starts"],
                          "n_customers": starts["n_start_customers"]})
    last = g[g["next_activity"].isna()]
    end = pd.DataFrame({"from_activity": last["activity"], "to_activity": END,
                        "n_transitions": last["n_transitions"], "n_journeys": last["n_transitions"],
                        "n_customers": last["n_customers"]})
    return pd.concat([start, end], ignore_index=True)


KINDS = ("activity", "transition", "rework")
HOTSPOT_RULES = {
    "activity": "hours from each event of the activity to the journey's next event, summed",
    "transition": "hours from each event of from_activity to the next event (to_activity), summed",
    "rework": "per journey repeating the activity, hours from its first to its last event (one span per "
              "journey and activity), summed; volume: the repeats (events beyond the first)",
}


def hotspots_table(con, *, top: int | None = 20, filters=None, unit: str = "journey") -> pd.DataFrame:
    """Where time goes, three kinds ranked separately (`kind`, `rank` within the kind, `top` rows
    per kind): activities by the time after them, transitions by their time, rework by the time
    between the first and last repeat. Each measure is hours summed over events (HOTSPOT_RULES),
    never mixed across kinds: an activity's hours are the sum of its transitions' hours, and a
    rework span overlaps both. `n_journeys` counts distinct journeys (never above `n_in_scope`)."""
    sc = scope(con, filters, unit=unit)
    st, _ = sc.steps()
    moves = st.filter(st.next_activity.notnull())
    secs = moves.seconds_to_next
    stats = dict(volume=moves.count(), n_journeys=moves.journey_key.nunique(), total_seconds=secs.sum(),
                 median_seconds=secs.median())
    acts = moves.group_by(name=moves.activity).aggregate(**stats).execute().assign(kind="activity")
    edges = moves.group_by(["activity", "next_activity"]).aggregate(**stats).execute()
    edges = edges.assign(kind="transition", name=edges["activity"] + " → " + edges["next_activity"])
    n_in_scope = int(st.journey_key.nunique().execute())
    if not n_in_scope:
        raise empty_scope(con, filters, "journeys")
    parts = [acts, edges.drop(columns=["activity", "next_activity"]), _rework(sc)]
    out = pd.concat(parts, ignore_index=True)
    out["hours_lost"] = out["total_seconds"].astype(float) / 3600
    out["journey_share"] = out["n_journeys"] / n_in_scope if n_in_scope else float("nan")
    out["kind"] = pd.Categorical(out["kind"], KINDS, ordered=True)
    out = out.sort_values(["kind", "hours_lost", "volume", "name"], ascending=[True, False, False, True],
                          ignore_index=True)
    out.insert(0, "rank", out.groupby("kind", observed=True).cumcount() + 1)
    out = out[out["rank"] <= top] if top is not None else out
    out["kind"] = out["kind"].astype(str)
    for col in ("volume", "n_journeys"):
        out[col] = out[col].astype("int64")
    cols = ["kind", "rank", "name", "volume", "n_journeys", "journey_share", "hours_lost", "median_seconds"]
    return definition(out[cols].reset_index(drop=True), analysis="hotspots", unit=unit, tie_rule=TIE_RULE,
                      ranking="each kind ranked on its own by hours_lost; " + "; ".join(
                          f"{k}: {v}" for k, v in HOTSPOT_RULES.items()), n_in_scope=n_in_scope, top_per_kind=top,
                      n_journeys="distinct journeys with the activity / transition / repeat", filters=sc.describe())


def _rework(sc) -> pd.DataFrame:
    """Activities done more than once in a journey: one span (first to last event) per journey."""
    ev = sc.events()
    per = ev.group_by(["journey_key", "activity"]).aggregate(
        n=ev.count(), span=epoch(ev.event_ts.max()) - epoch(ev.event_ts.min()))
    rep = per.filter(per.n > 1)
    g = rep.group_by("activity").aggregate(volume=(rep.n - 1).sum(), n_journeys=rep.count(),
                                           total_seconds=rep.span.sum(), median_seconds=rep.span.median()).execute()
    return g.assign(kind="rework", name=g["activity"] + " (repeated)").drop(columns="activity")
