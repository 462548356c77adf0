"""The transition graph (activity -> next activity with volumes and times) and its hotspots.

Durations are `epoch()` differences (portable, with milliseconds; day deltas differ on Spark) and
exact quantiles. `(start)` -> first activity and last activity -> `(end)` edges carry the
start and end counts of the process map.
"""

from __future__ import annotations

import ibis
import pandas as pd

from .filters import TIE_RULE, as_filters, definition, epoch, filtered_events, ordered_window
from .journeys import steps as journey_steps
from .paths import END, START


def pairs(ev) -> ibis.Table:
    """Each event with the next one in its journey: from/to activity and seconds between."""
    w = ordered_window()
    nxt = ev.mutate(to_activity=ev.activity.lead().over(w),
                    to_ts=ev.event_ts.lead().over(w))
    return nxt.mutate(from_activity=nxt.activity,
                      seconds=epoch(nxt.to_ts) - epoch(nxt.event_ts))


def transitions_table(con, *, filters=None, unit: str = "journey", loops: str = "keep",
                      include_start_end: bool = True) -> pd.DataFrame:
    """Per (from_activity, to_activity): transitions, distinct journeys and customers, and
    mean / median / p90 / total seconds between the two events."""
    st, customers_exact = journey_steps(con, filters, unit=unit, loops=loops)
    inner = st.filter(st.next_activity.notnull())
    n_customers = (inner.first_for_customer.cast("int64").sum() if customers_exact
                   else inner.customer_id.nunique())
    edges = inner.group_by(["activity", "next_activity"]).aggregate(
        n_transitions=inner.count(), n_journeys=inner.first_in_journey.cast("int64").sum(),
        n_customers=n_customers, mean_seconds=inner.seconds_to_next.mean(),
        median_seconds=inner.seconds_to_next.median(), p90_seconds=inner.seconds_to_next.quantile(0.9),
        total_seconds=inner.seconds_to_next.sum())
    df = edges.rename(from_activity="activity", to_activity="next_activity").execute()
    if include_start_end:
        df = pd.concat([df, _terminal(st, "start"), _terminal(st, "end")], ignore_index=True)
    df = df.sort_values(["n_transitions", "from_activity", "to_activity"], ascending=[False, True, True],
                        ignore_index=True)
    return definition(df, analysis="transitions", unit=unit, loops=loops, tie_rule=TIE_RULE,
                      duration="seconds from an event to the next event of the same journey",
                      filters=as_filters(filters).describe())


def _terminal(st, which: str) -> pd.DataFrame:
    """(start) -> first activity, or last activity -> (end): one per journey."""
    edge = st.filter(st.pos == 1) if which == "start" else st.filter(st.next_activity.isnull())
    g = edge.group_by("activity").aggregate(n_transitions=edge.count(), n_customers=edge.customer_id.nunique())
    g = g.execute().assign(n_journeys=lambda d: d["n_transitions"])
    if which == "start":
        return g.rename(columns={"activity": "to_activity"}).assign(from_activity=START)
    return g.rename(columns={"activity": "from_activity"}).assign(to_activity=END)


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
                      filters=as_filters(filters).describe())


def _rework(con, filters, unit: str) -> pd.DataFrame:
    """Activities done more than once in a journey, with the time between first and last time."""
    ev = filtered_events(con, filters, unit=unit)
    per = ev.group_by(["journey_key", "activity"]).aggregate(
        n=ev.count(), span=epoch(ev.event_ts.max()) - epoch(ev.event_ts.min()))
    rep = per.filter(per.n > 1)
    g = rep.group_by("activity").aggregate(volume=(rep.n - 1).sum(), n_journeys=rep.count(),
                                           hours_lost=rep.span.sum() / 3600).execute()
    return g.assign(kind="rework", name=g["activity"] + " (repeated)").drop(columns="activity")
