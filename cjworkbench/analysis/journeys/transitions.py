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


def transitions_table(con, *, filters=None, unit: str = "journey", loops: str = "keep",
                      include_start_end: bool = True) -> pd.DataFrame:
    """Per (from_activity, to_activity): transitions, distinct journeys and customers, and
    mean / median / p90 / total seconds between the two events; `(start)` and `(end)` edges.

    One aggregate over the journey steps: a step without a next activity is an `(end)` edge,
    a step at position 1 also counts for its `(start)` edge.
    """
    st, customers_exact = scope(con, filters, unit=unit).steps(loops)
    flag = lambda col: st[col].cast("int64").sum()  # noqa: E731
    g = st.group_by(["activity", "next_activity"]).aggregate(
        n_transitions=st.count(), n_journeys=flag("first_in_journey"),
        n_customers=flag("first_for_customer") if customers_exact else st.customer_id.nunique(),
        n_starts=st.count(where=st.is_start),
        # exact flags when whole customers are kept; else counted per start activity below
        n_start_customers=flag("first_start_for_customer") if customers_exact else ibis.literal(0),
        mean_seconds=st.seconds_to_next.mean(), median_seconds=st.seconds_to_next.median(),
        p90_seconds=st.seconds_to_next.quantile(0.9), total_seconds=st.seconds_to_next.sum()).execute()
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


def hotspots_table(con, *, top: int = 20, filters=None, unit: str = "journey") -> pd.DataFrame:
    """Where time and effort go: edges ranked by time lost (transitions × median wait), activities
    by time spent before the next step, and rework loops (journeys repeating an activity)."""
    t = transitions_table(con, filters=filters, unit=unit, include_start_end=False)
    edges = t.assign(kind="transition", name=t["from_activity"] + " → " + t["to_activity"],
                     volume=t["n_transitions"], hours_lost=t["n_transitions"] * t["median_seconds"] / 3600)
    acts = (t.groupby("from_activity", as_index=False)
            .agg(volume=("n_transitions", "sum"), total_seconds=("total_seconds", "sum"),
                 n_journeys=("n_journeys", "sum")))
    acts = acts.assign(kind="activity", name=acts["from_activity"], hours_lost=acts["total_seconds"] / 3600)
    rework = _rework(con, filters, unit)
    cols = ["kind", "name", "volume", "n_journeys", "hours_lost"]
    out = pd.concat([edges[cols + ["median_seconds"]], acts[cols], rework], ignore_index=True)
    out = out.sort_values(["hours_lost", "volume"], ascending=False, ignore_index=True).head(top)
    out.insert(0, "rank", range(1, len(out) + 1))
    return definition(out, analysis="hotspots", unit=unit, tie_rule=TIE_RULE,
                      ranking="hours lost = volume × median wait (transitions), total wait (activities), "
                              "time between the first and last occurrence (rework)",
                      filters=scope(con, filters).describe())


def _rework(con, filters, unit: str) -> pd.DataFrame:
    """Activities done more than once in a journey, with the time between first and last time."""
    ev = scope(con, filters, unit=unit).events()
    per = ev.group_by(["journey_key", "activity"]).aggregate(
        n=ev.count(), span=epoch(ev.event_ts.max()) - epoch(ev.event_ts.min()))
    rep = per.filter(per.n > 1)
    g = rep.group_by("activity").aggregate(volume=(rep.n - 1).sum(), n_journeys=rep.count(),
                                           hours_lost=rep.span.sum() / 3600).execute()
    return g.assign(kind="rework", name=g["activity"] + " (repeated)").drop(columns="activity")
