"""Derived tables of the canonical model: journey-ordered events and one row per journey.

`journey_steps` (each event with its step number, the next activity and the seconds to it) and
`journeys` (one row per journey with its variant) are Ibis expressions over `events`. Ingest
materialises them once, so a dashboard's filtered query only filters and aggregates; analyses
run the very same expressions on filtered events when they cannot use the stored tables (see
`analysis/journeys.py`): one definition, two speeds. Journey = journey_id, else customer_id.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

DERIVED = ("journey_steps", "journeys")
ARROW = " → "
TIE_RULE = "events ordered by (event_ts, seq): equal timestamps keep file order"


def ordered_window(**kwargs) -> ibis.expr.builders.LegacyWindowBuilder:
    """Events of one journey in time order, ties broken by ingest sequence."""
    return ibis.window(group_by="journey_key", order_by=["event_ts", "seq"], **kwargs)


def epoch(ts: ir.TimestampValue) -> ir.FloatingValue:
    """Seconds since 1970 with milliseconds, the same on every backend.

    `epoch_seconds()` alone is whole seconds on Spark but fractional inside DuckDB SQL.
    """
    return ts.truncate("s").epoch_seconds() + ts.millisecond() / 1000


def collapse_loops(ev: ir.Table) -> ir.Table:
    """Drop events that repeat the previous activity of their journey (A A B A -> A B A)."""
    # the window goes into a column first: Spark cannot filter on a window expression
    ev = ev.mutate(prev_activity=ev.activity.lag().over(ordered_window()))
    return ev.filter(ev.prev_activity.isnull() | (ev.prev_activity != ev.activity)).drop("prev_activity")


def with_steps(ev: ir.Table, loops: str = "keep") -> ir.Table:
    """Events with `pos` (1-based step), `next_activity`, `seconds_to_next`, `journey_start_ts`
    (and its business date `journey_start_date`), `is_start`, and flags marking the first occurrence of each (activity -> next_activity) pair
    in the journey / for the customer (and of each start activity for the customer), so distinct
    counts become cheap sums."""
    w = ordered_window()
    if loops == "collapse":
        ev = collapse_loops(ev)
    ev = ev.mutate(pos=ibis.row_number().over(w) + 1, next_activity=ev.activity.lead().over(w),
                   next_ts=ev.event_ts.lead().over(w),
                   journey_start_ts=ev.event_ts.min().over(ibis.window(group_by="journey_key")),
                   journey_start_date=ev.event_date.min().over(ibis.window(group_by="journey_key")))
    ev = ev.mutate(seconds_to_next=epoch(ev.next_ts) - epoch(ev.event_ts)).drop("next_ts")
    first_j = ibis.row_number().over(ibis.window(group_by=["journey_key", "activity", "next_activity"],
                                                 order_by="pos"))
    first_c = ibis.row_number().over(ibis.window(group_by=["customer_id", "activity", "next_activity"],
                                                 order_by=["event_ts", "seq", "journey_key"]))
    ev = ev.mutate(first_in_journey=first_j == 0, first_for_customer=first_c == 0, is_start=ev.pos == 1)
    first_s = ibis.row_number().over(ibis.window(group_by=["customer_id", "activity", "is_start"],
                                                 order_by=["event_ts", "seq", "journey_key"]))
    return ev.mutate(first_start_for_customer=ev.is_start & (first_s == 0))


def traces(ev: ir.Table) -> ir.Table:
    """One row per journey: `trace` (activities in order), `variant` (joined with ' → '), counts,
    `start_ts` / `end_ts` and `start_date` (the business date the journey starts on)."""
    g = ev.group_by("journey_key").aggregate(
        steps=ibis.struct({"pos": ev.pos, "activity": ev.activity}).collect(),
        customer_id=ev.customer_id.min(), start_ts=ev.event_ts.min(), end_ts=ev.event_ts.max(),
        start_date=ev.event_date.min())
    trace = g.steps.sort().map(lambda s: s.activity)
    return g.mutate(trace=trace, variant=trace.join(ARROW), n_steps=trace.length()).drop("steps")


def build_derived(con) -> None:
    """Materialise `journey_steps` and `journeys` on `con` (the ingest does this for DuckDB)."""
    ev = con.table("events").drop("attributes")  # attributes stay in `events`: keep this table lean
    steps = with_steps(ev.mutate(journey_key=ev.journey_id.fill_null(ev.customer_id)))
    # the customer's segment rides along: the dashboards' most common filter becomes a column test
    cust = con.table("customers").select("customer_id", "segment")
    steps = steps.left_join(cust, "customer_id").drop("customer_id_right")
    # an integer twin of journey_key: funnels join and group on it (about a third less work than strings)
    steps = steps.mutate(journey_no=ibis.dense_rank().over(order_by="journey_key"))
    # stored by segment: a segment filter then reads only that segment's row groups (zone maps)
    _materialise(con, "journey_steps", steps.order_by(["segment", "journey_key", "pos"]))
    st = con.table("journey_steps")
    journeys = traces(st).drop("trace")
    journeys = journeys.left_join(cust, "customer_id").drop("customer_id_right")
    _materialise(con, "journeys", journeys.order_by(["segment", "start_ts"]))


def _materialise(con, name: str, expr) -> None:
    # CREATE TABLE AS keeps the engine's own nullability (Ibis' create_table marks lead() NOT NULL)
    if con.name == "duckdb":
        con.raw_sql(f'CREATE OR REPLACE TABLE "{name}" AS {con.compile(expr)}')
    else:
        con.create_table(name, expr, overwrite=True)
