"""The journey units an analysis groups by: `journey` (journey_id, else customer_id), `customer`,
or `session`: a customer's events across every source, split where more than 30 minutes pass
without an event (a visit that may span the app, a phone call and the web shop).
`cjworkbench.scope` checks the unit name and applies these to its scoped events.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from .model import epoch

UNITS = ("journey", "customer", "session")
SESSION_GAP_SECONDS = 30 * 60


def journey_key(events: ir.Table, unit: str) -> ir.StringValue:
    """The journey of each event: its case/session/order id (else its customer), or its customer."""
    if unit == "customer":
        return events.customer_id
    return events.journey_id.fill_null(events.customer_id)


def with_visits(ev: ir.Table, gap_seconds: float = SESSION_GAP_SECONDS) -> ir.Table:
    """`journey_key` = customer_id#n, a new visit after more than `gap_seconds` without an event."""
    w = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])
    ev = ev.mutate(prev_ts=ev.event_ts.lag().over(w))
    ev = ev.mutate(new_visit=(ev.prev_ts.isnull() | (epoch(ev.event_ts) - epoch(ev.prev_ts) > gap_seconds))
                   .cast("int64"))
    ev = ev.mutate(visit=ev.new_visit.sum().over(ibis.window(group_by="customer_id", order_by=["event_ts", "seq"],
                                                              rows=(None, 0))))
    return ev.mutate(journey_key=ev.customer_id.concat("#", ev.visit.cast("string"))).drop(
        "prev_ts", "new_visit", "visit")


def keyed(ev: ir.Table, unit: str) -> ir.Table:
    """Events with `journey_key` for the unit (sessions: visits over exactly these events)."""
    ev = ev.mutate(journey_key=journey_key(ev, "customer" if unit == "session" else unit))
    return with_visits(ev) if unit == "session" else ev
