"""Derived tables of the canonical model: journey-ordered events and one row per journey.

`journey_steps` (each event with its step number, the next activity and the seconds to it) and
`journeys` (one row per journey with its variant) are Ibis expressions over `events`. Ingest
materialises them once, so a dashboard's filtered query only filters and aggregates; analyses
run the very same expressions on filtered events when they cannot use the stored tables (see
`analysis/journeys.py`): one definition, two speeds. Journey = journey_id, else customer_id.
A full build on DuckDB takes a narrower route to the same table (`full_build.py`, about
0.7 of the CPU at 10 M events); `tests/test_ingest_speed_paths.py` holds it equal to `with_steps`.

Derived-table protocol (full builds and incremental refreshes): `BUILDERS` lists, in build order,
one `builder(con, touched)` per derived table. `touched` is None (build the whole table) or an
Ibis table of what a refresh changed: `customer_id` (a customer with a new, replaced or removed
row in any canonical table) and `journey_key` (that row's journey; NULL for customers and
feedback rows). The builder replaces exactly the rows that can differ (DELETE them, INSERT the
recomputed ones) and leaves every other row as it is: a table per customer redoes those
customers; `journey_steps` redoes every customer with an event in a changed journey; a later
builder may read an earlier one's table. To add a derived table, write such a builder and add it
to `BUILDERS` (and its name to `DERIVED`).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

DERIVED = ("journey_steps", "journeys")
ARROW = " → "
TIE_RULE = "events ordered by (event_ts, seq): equal timestamps keep file order"
SCRATCH = "staging"   # the ingest's scratch database (`ingest/pipeline.py`), where big intermediates go


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
    if loops == "collapse":
        ev = collapse_loops(ev)
    ev = _journey_columns(ev)
    ev = ev.mutate(first_in_journey=_FIRST_IN_JOURNEY == 0, first_for_customer=_FIRST_FOR_CUSTOMER == 0,
                   is_start=ev.pos == 1)
    return ev.mutate(first_start_for_customer=ev.is_start & (_FIRST_START == 0))


def _journey_columns(ev: ir.Table) -> ir.Table:
    """pos, next_activity, journey_start_ts / _date and seconds_to_next: they read one journey's events."""
    w = ordered_window()
    ev = ev.mutate(pos=ibis.row_number().over(w) + 1, next_activity=ev.activity.lead().over(w),
                   next_ts=ev.event_ts.lead().over(w),
                   journey_start_ts=ev.event_ts.min().over(ibis.window(group_by="journey_key")),
                   journey_start_date=ev.event_date.min().over(ibis.window(group_by="journey_key")))
    return ev.mutate(seconds_to_next=epoch(ev.next_ts) - epoch(ev.event_ts)).drop("next_ts")


# the flags' windows: the first (activity -> next) pair of a journey / of a customer, a customer's first start
_FIRST_IN_JOURNEY = ibis.row_number().over(ibis.window(group_by=["journey_key", "activity", "next_activity"],
                                                       order_by="pos"))
_FIRST_FOR_CUSTOMER = ibis.row_number().over(ibis.window(group_by=["customer_id", "activity", "next_activity"],
                                                         order_by=["event_ts", "seq", "journey_key"]))
_FIRST_START = ibis.row_number().over(ibis.window(group_by=["customer_id", "activity", "is_start"],
                                                  order_by=["event_ts", "seq", "journey_key"]))


def traces(ev: ir.Table) -> ir.Table:
    """One row per journey: `trace` (activities in order), `variant` (joined with ' → '), counts,
    `start_ts` / `end_ts` and `start_date` (the business date the journey starts on)."""
    g = ev.group_by("journey_key").aggregate(
        steps=ibis.struct({"pos": ev.pos, "activity": ev.activity}).collect(),
        customer_id=ev.customer_id.min(), start_ts=ev.event_ts.min(), end_ts=ev.event_ts.max(),
        start_date=ev.event_date.min())
    trace = g.steps.sort().map(lambda s: s.activity)
    return g.mutate(trace=trace, variant=trace.join(ARROW), n_steps=trace.length()).drop("steps")


def build_derived(con, touched: ir.Table | None = None) -> None:
    """Materialise every derived table on `con` (the ingest does this for DuckDB); with `touched`,
    rebuild only the rows a refresh can have changed (see the protocol above)."""
    for builder in BUILDERS:
        builder(con, touched)


def _journey_steps(con, touched: ir.Table | None) -> None:
    ev = con.table("events")
    ev = ev.drop(*[c for c in ("attributes", "file_id") if c in ev.columns])  # they stay in `events`: lean table
    ev = ev.mutate(journey_key=ev.journey_id.fill_null(ev.customer_id))
    cust = con.table("customers").select("customer_id", "segment")
    if touched is None and con.name == "duckdb":
        from .full_build import build_journey_steps   # narrower passes, within the memory limit
        build_journey_steps(con, [c for c in ev.columns if c != "journey_key"])
        return
    if touched is None:
        steps = with_steps(ev)
        # the customer's segment rides along: the dashboards' most common filter becomes a column test
        steps = steps.left_join(cust, "customer_id").drop("customer_id_right")
        # an integer twin of journey_key: funnels join and group on it (about a third less work than strings)
        # (numbered over the distinct keys of `events` and joined: the same dense rank as a window
        # over every event, without sorting all of them a second time)
        keys = ev.select("journey_key").distinct()
        steps = steps.inner_join(keys.mutate(journey_no=ibis.row_number().over(order_by="journey_key")), "journey_key")
        # stored by segment: a segment filter then reads only that segment's row groups (zone maps)
        materialise(con, "journey_steps", steps.order_by(["segment", "journey_key", "pos"]))
        return
    # A refresh: the journey columns change only in journeys with changed events (all their events
    # are re-read); a customer's flags read all of that customer's rows, so every customer with an
    # event in such a journey (or a changed row) gets all rows redone, the untouched journeys'
    # journey columns taken from the stored table.
    keys = touched.filter(touched.journey_key.notnull()).select("journey_key").distinct()
    changed = _journey_columns(ev.semi_join(keys, "journey_key"))
    changed = changed.mutate(first_in_journey=_FIRST_IN_JOURNEY == 0, is_start=changed.pos == 1)
    who = touched.select("customer_id").union(changed.select("customer_id")).distinct()
    _temp(con, "__cjw_who", who)
    who = con.table("__cjw_who")
    old = con.table("journey_steps")
    kept = old.semi_join(who, "customer_id").anti_join(keys, "journey_key").select(*changed.columns)
    _temp(con, "__cjw_both", changed.union(kept))
    rows = con.table("__cjw_both")
    rows = rows.mutate(first_for_customer=_FIRST_FOR_CUSTOMER == 0)
    rows = rows.mutate(first_start_for_customer=rows.is_start & (_FIRST_START == 0))
    _temp(con, "__cjw_rows", rows.left_join(cust, "customer_id").drop("customer_id_right"))
    rows = con.table("__cjw_rows")
    # journeys keep their numbers; new ones are numbered after the largest (unique, not dense)
    nos = rows.select("journey_key").distinct()
    known = old.semi_join(nos, "journey_key").select("journey_key", "journey_no").distinct()
    top = int(old.journey_no.max().execute() or 0)
    nos = nos.left_join(known, "journey_key").drop("journey_key_right")
    fresh = nos.filter(nos.journey_no.isnull())
    fresh = fresh.mutate(journey_no=ibis.dense_rank().over(order_by="journey_key") + (top + 1))
    nos = nos.filter(nos.journey_no.notnull()).union(fresh)
    _replace_rows(con, "journey_steps", rows.inner_join(nos, "journey_key").order_by(["segment", "journey_key", "pos"]),
                  "customer_id", "__cjw_who")
    con.raw_sql('DROP TABLE "__cjw_rows"; DROP TABLE "__cjw_both"')


def _journeys(con, touched: ir.Table | None) -> None:
    st = con.table("journey_steps")
    cust = con.table("customers").select("customer_id", "segment")
    if touched is None and con.name == "duckdb":
        from .full_build import build_journeys_in_parts   # big tables: per range of journeys
        if build_journeys_in_parts(con):
            return
    if touched is None:
        journeys = traces(st).drop("trace").left_join(cust, "customer_id").drop("customer_id_right")
        materialise(con, "journeys", journeys.order_by(["segment", "start_ts"]))
        return
    # changed journeys, and every journey of a customer whose rows were redone (a new segment rides along)
    keys = touched.filter(touched.journey_key.notnull()).select("journey_key")
    keys = keys.union(st.semi_join(con.table("__cjw_who"), "customer_id").select("journey_key")).distinct()
    _temp(con, "__cjw_keys", keys)
    st = st.semi_join(con.table("__cjw_keys"), "journey_key")
    journeys = traces(st).drop("trace").left_join(cust, "customer_id").drop("customer_id_right")
    _replace_rows(con, "journeys", journeys.order_by(["segment", "start_ts"]), "journey_key", "__cjw_keys")
    con.raw_sql('DROP TABLE "__cjw_keys"; DROP TABLE "__cjw_who"')


def _sessions(con, touched: ir.Table | None) -> None:
    from .sessions import build_sessions   # web sessions for the KPI library (`cjworkbench.sessions`)
    build_sessions(con, touched)   # sessions read one customer's events: the touched customers suffice


BUILDERS = (_journey_steps, _journeys, _sessions)


def _temp(con, name: str, expr) -> None:
    # raw SQL: ibis 12's create_table(overwrite=True) and drop_table emit no table name with this sqlglot
    con.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {con.compile(expr)}')


def _replace_rows(con, name: str, expr, key: str, keys: str) -> None:
    """The rows of table `name` whose `key` is in temp table `keys` become `expr` (computed first)."""
    _temp(con, f"__new_{name}", expr)
    con.raw_sql(f'DELETE FROM "{name}" WHERE {key} IN (SELECT {key} FROM "{keys}")')
    con.raw_sql(f'INSERT INTO "{name}" BY NAME SELECT * FROM "__new_{name}"')
    con.raw_sql(f'DROP TABLE "__new_{name}"')


def materialise(con, name: str, expr) -> None:
    """Store `expr` as table `name` (replaced)."""
    # CREATE TABLE AS keeps the engine's own nullability (Ibis' create_table marks lead() NOT NULL)
    if con.name == "duckdb":
        con.raw_sql(f'CREATE OR REPLACE TABLE "{name}" AS {con.compile(expr)}')
    else:
        con.create_table(name, expr, overwrite=True)
