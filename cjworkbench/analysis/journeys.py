"""Filtered journey steps and journeys: the stored derived tables when the filters allow it
(unit journey, loops kept, no event-level filter, tables present), else the same expressions
(`cjworkbench.model`) computed on the filtered events."""

from __future__ import annotations


import ibis.expr.types as ir

__all__ = ["ARROW", "DERIVED", "journeys", "steps", "traces", "with_steps"]

from ..model import ARROW, DERIVED, traces, with_steps
from .filters import Filters, _values, as_filters, filtered_events, matching_customers, starts_in_range



def _fast(con, f: Filters, unit: str, loops: str) -> bool:
    return (unit == "journey" and loops == "keep" and not f.has_event_filters
            and set(DERIVED) <= set(con.list_tables()))


def _journey_filters(con, t: ir.Table, f: Filters, start_col: str) -> ir.Table:
    """Customer-level and journey-start filters on a precomputed table (segment is a column there)."""
    if f.segment:
        t = t.filter(t.segment.isin(_values(f.segment)))
    if f.attributes or f.persona:
        t = t.semi_join(matching_customers(con, f, segment=False), "customer_id")
    if f.start_date or f.end_date:
        t = t.filter(starts_in_range(t[start_col], f))
    if f.has_activity:
        st = con.table("journey_steps")
        t = t.semi_join(st.filter(st.activity.isin(_values(f.has_activity))).select("journey_key").distinct(),
                        "journey_key")
    return t


def steps(con, filters=None, *, unit: str = "journey", loops: str = "keep") -> tuple[ir.Table, bool]:
    """Journey-ordered filtered events (see `with_steps`), and whether `first_for_customer` is
    exact for them: always when computed here, on the precomputed table only when the filters
    keep whole customers (a date filter on journey starts does not)."""
    f = as_filters(filters)
    if _fast(con, f, unit, loops):
        exact = not (f.start_date or f.end_date)
        return _journey_filters(con, con.table("journey_steps"), f, "journey_start_ts"), exact
    return with_steps(filtered_events(con, f, unit=unit), loops), True


def journeys(con, filters=None, *, unit: str = "journey", loops: str = "keep") -> ir.Table:
    """One row per filtered journey with its `variant`, `n_steps`, start and end."""
    f = as_filters(filters)
    if _fast(con, f, unit, loops):
        return _journey_filters(con, con.table("journeys"), f, "start_ts")
    st, _ = steps(con, f, unit=unit, loops=loops)
    return traces(st).drop("trace")
