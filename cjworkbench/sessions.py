"""Web sessions: the one sessionisation rule, and the `sessions` table the ingest stores with it.

SESSION_RULE: a customer's hits of the `web` role in (event_ts, seq) order; a hit more than
gap_minutes after the previous one starts a new session (a gap of exactly gap_minutes stays in
the session, as `cjworkbench.units.with_visits`). `session_rows` cuts and aggregates: one row
per session with its start / end, hits, device and channel of its first hit, and for each
session role that is set (goal, cart, checkout_start, checkout_done) whether a hit has it, with
the first checkout_start / checkout_done hit's time. The KPI library (`analysis.measures.units`)
runs the same function on scoped events when it cannot read the stored table.

`build_sessions` materialises it for every customer, or for a set of customers only (their rows
replaced), with the roles then in force and the default gap; `sessions_rule` stores which, so
a reader uses the table only when its roles and gap are the ones asked for.
"""

from __future__ import annotations

import json

import ibis
import ibis.expr.types as ir

from .roles import matches, resolve_roles

SESSIONS = "sessions"
RULE_TABLE = "sessions_rule"
GAP_MINUTES = 30.0
SESSION_ROLES = ("web", "goal", "cart", "checkout_start", "checkout_done")
SESSION_RULE = ("a customer's web hits in (event_ts, seq) order; a hit more than gap_minutes after the previous "
                "one starts a new session")


def flag_hits(hits: ir.Table, gap_minutes: float) -> ir.Table:
    """Hits with `first` (starts a session) and `last` (ends one), read from lag / lead in one window."""
    w = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])
    gap = ibis.interval(milliseconds=int(round(gap_minutes * 60_000)))   # compared as timestamps
    prev, nxt = hits.event_ts.lag().over(w), hits.event_ts.lead().over(w)
    return hits.mutate(first=prev.isnull() | (hits.event_ts > prev + gap),
                       last=nxt.isnull() | (nxt > hits.event_ts + gap))


def session_rows(hits: ir.Table, roles: dict, gap_minutes: float) -> ir.Table:
    """One row per session of `hits` (the `web` hits; columns of `events`): customer_id,
    session_no (1, 2, ... per customer), start_ts, start_date, end_ts, hits, single, device, channel,
    a flag per set role and checkout_start_ts / checkout_done_ts (when those roles are set)."""
    h = flag_hits(hits, gap_minutes)
    run = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"], rows=(None, 0))
    h = h.mutate(session_no=h["first"].cast("int64").sum().over(run).cast("int64"))
    set_roles = [r for r in SESSION_ROLES[1:] if roles.get(r) is not None]
    aggs = {"start_ts": h.event_ts.min(), "start_date": h.event_date.min(), "end_ts": h.event_ts.max(),
            "hits": h.count(), "device": h.device.argmin(h.event_ts), "channel": h.channel.argmin(h.event_ts)}
    aggs |= {r: h.count(where=matches(h, roles[r])) > 0 for r in set_roles}
    aggs |= {f"{r}_ts": h.event_ts.min(where=matches(h, roles[r]))
             for r in ("checkout_start", "checkout_done") if r in set_roles}
    s = h.group_by(["customer_id", "session_no"]).aggregate(**aggs)
    return s.mutate(single=s.hits == 1)


def rule_of(roles: dict, gap_minutes: float) -> str:
    """The stored rule: the session roles' predicates and the gap, as canonical JSON text."""
    return json.dumps({"roles": {r: roles.get(r) for r in SESSION_ROLES}, "gap_minutes": float(gap_minutes)},
                      sort_keys=True)


def stored_rule(con) -> str | None:
    """The rule the stored `sessions` table was built with (None: no stored table)."""
    from .cache import remember

    def read():
        tables = set(con.list_tables())
        if not {SESSIONS, RULE_TABLE} <= tables:
            return None
        got = con.table(RULE_TABLE).execute()
        return str(got["rule"].iloc[0]) if len(got) else None
    return remember(con, "object", ("sessions.rule",), read)


def build_sessions(con, customers: ir.Table | None = None) -> None:
    """Materialise `sessions` on `con` with the roles in force (designs, else inferred) and the
    default gap; `customers` (a table with customer_id): rebuild only their rows. Nothing is
    stored when the data has no `web` role."""
    roles, _ = resolve_roles(con)
    if roles["web"] is None:
        for name in (SESSIONS, RULE_TABLE):
            con.raw_sql(f'DROP TABLE IF EXISTS "{name}"')   # ibis 12 drop_table emits no table name
        return
    ev = con.table("events")
    partial = customers is not None and SESSIONS in con.list_tables()
    if partial:   # the touched customers, kept in a temporary table: the DELETE and the INSERT read it
        con.raw_sql("CREATE OR REPLACE TEMP TABLE sessions_touched AS "   # ibis 12 create_table(overwrite=True)
                    + con.compile(customers.select("customer_id").distinct()))   # emits no table name
        customers = con.table("sessions_touched")
        ev = ev.semi_join(customers, "customer_id")
    s = session_rows(ev.filter(matches(ev, roles["web"])), roles, GAP_MINUTES)
    cust = con.table("customers").select("customer_id", "segment")
    s = s.left_join(cust, "customer_id").drop("customer_id_right")
    s = s.order_by(["segment", "start_date", "customer_id"])   # a segment filter reads its row groups only
    if con.name != "duckdb":
        con.create_table(SESSIONS, s, overwrite=True)
    elif partial:
        con.raw_sql(f'DELETE FROM "{SESSIONS}" WHERE customer_id IN (SELECT customer_id FROM sessions_touched)')
        con.raw_sql(f'INSERT INTO "{SESSIONS}" BY NAME {con.compile(s)}')
    else:
        con.raw_sql(f'CREATE OR REPLACE TABLE "{SESSIONS}" AS {con.compile(s)}')
    rule = rule_of(roles, GAP_MINUTES)
    if con.name == "duckdb":   # a bound parameter: role values never become SQL text
        con.raw_sql(f'CREATE OR REPLACE TABLE "{RULE_TABLE}" (rule VARCHAR)')
        con.con.execute(f'INSERT INTO "{RULE_TABLE}" VALUES (?)', [rule])
    else:
        con.create_table(RULE_TABLE, ibis.memtable({"rule": [rule]}), overwrite=True)
