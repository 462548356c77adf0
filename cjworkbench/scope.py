"""The filters and the journey unit every analysis shares, as Ibis expressions.

Three levels, each stated in the result's definition:
- event level (`channel`, `device`, `touchpoint`, `source`, `activity`): only matching events
  are kept, so paths are drawn through them alone;
- customer level (`segment`, `attributes`, `persona` under the `personas` rules): journeys of
  matching customers;
- journey level (`start_date`, `end_date`): journeys whose first (kept) event falls in the
  range, dates inclusive, in UTC; `has_activity`: journeys with at least one such event.
Units: `journey` (journey_id, else customer_id), `customer`, or `session`: a customer's events
across every source split where more than 30 minutes pass without an event (a visit that may
span the app, a phone call and the web shop).
Values are literals in expressions, never SQL text.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import asdict, dataclass, field

import ibis
import ibis.expr.types as ir

from .errors import WorkbenchError
from .model import ARROW, DERIVED, TIE_RULE, epoch, ordered_window, traces, with_steps  # noqa: F401  (re-exported for analyses)

UNITS = ("journey", "customer", "session")
SESSION_GAP_SECONDS = 30 * 60
EVENT_FILTERS = ("channel", "device", "touchpoint", "source", "activity")


class FilterError(WorkbenchError, ValueError):
    """A filter or unit value is not allowed."""


@dataclass(frozen=True)
class Filters:
    """What to look at. Empty fields filter nothing; list fields match any of their values."""

    start_date: dt.date | str | None = None
    end_date: dt.date | str | None = None
    segment: str | tuple[str, ...] | None = None
    attributes: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    channel: str | tuple[str, ...] | None = None
    device: str | tuple[str, ...] | None = None
    touchpoint: str | tuple[str, ...] | None = None
    source: str | tuple[str, ...] | None = None
    activity: str | tuple[str, ...] | None = None
    has_activity: str | tuple[str, ...] | None = None
    persona: str | tuple[str, ...] | None = None
    personas: str | dict | None = None   # personas YAML (path) the `persona` filter is judged by

    def describe(self) -> dict:
        """The non-empty filters, for a result's definition."""
        out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
               if v not in (None, {}, (), "")}
        if isinstance(out.get("personas"), (str, os.PathLike)):   # the rules' file name, never a server path
            out["personas"] = os.path.basename(os.fspath(out["personas"]))
        elif "personas" in out:
            out["personas"] = "(rules given inline)"
        return out

    @property
    def has_event_filters(self) -> bool:
        return any(getattr(self, f) for f in EVENT_FILTERS)

    @property
    def has_customer_filters(self) -> bool:
        return bool(self.segment or self.attributes or self.persona)


def as_filters(filters: Filters | dict | None) -> Filters:
    if filters is None:
        return Filters()
    if isinstance(filters, Filters):
        return filters
    try:
        return Filters(**filters)
    except TypeError as exc:
        raise FilterError(f"Unknown filter in {sorted(filters)}: {exc}. Allowed: "
                          f"{', '.join(Filters.__dataclass_fields__)}.") from None


def _values(value) -> list:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


def _date(value, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise FilterError(f"{name} must be a date like 2026-01-31, got '{value}'.") from None


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        from .errors import one_of

        raise FilterError(one_of("unit", unit, UNITS))
    return unit


def journey_key(events: ir.Table, unit: str) -> ir.StringValue:
    """The journey of each event: its case/session/order id (else its customer), or its customer."""
    check_unit(unit)
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


def matching_customers(con, f: Filters, *, segment: bool = True) -> ir.Table:
    """`customer_id` of the customers matching the segment (unless `segment=False`) and attributes."""
    cust = con.table("customers")
    if f.segment and segment:
        cust = cust.filter(cust.segment.isin(_values(f.segment)))
    for key, value in f.attributes.items():
        cust = cust.filter(cust.attributes[str(key)].isin([str(v) for v in _values(value)]))
    if f.persona:
        if not f.personas:
            raise FilterError("The persona filter needs the personas rules: pass personas='personas.yml' "
                              "(e.g. designed/personas.yml beside the demo database).")
        from .designs.personas import persona_of   # personas builds on customers only; imported on use

        who = persona_of(con, f.personas)
        cust = cust.semi_join(who.filter(who.persona.isin([str(v) for v in _values(f.persona)])), "customer_id")
    return cust.select("customer_id")


def starts_in_range(start_ts: ir.TimestampValue, f: Filters) -> ir.BooleanValue:
    """The journey-start test: UTC dates start_date..end_date, both inclusive (True when unset)."""
    cond = ibis.literal(True)
    if f.start_date:
        cond &= start_ts >= ibis.timestamp(_date(f.start_date, "start_date"))
    if f.end_date:
        cond &= start_ts < ibis.timestamp(_date(f.end_date, "end_date") + dt.timedelta(days=1))
    return cond


def filtered_events(con, filters: Filters | dict | None = None, *, unit: str = "journey") -> ir.Table:
    """Events after all filters, with `journey_key` added (the unit every analysis groups by)."""
    f = as_filters(filters)
    ev = con.table("events")
    ev = ev.mutate(journey_key=journey_key(ev, "customer" if unit == "session" else unit))
    for name in EVENT_FILTERS:
        value = getattr(f, name)
        if value:
            ev = ev.filter(ev[name].isin(_values(value)))
    if unit == "session":
        ev = with_visits(ev)
    if f.has_customer_filters:
        ev = ev.semi_join(matching_customers(con, f), "customer_id")
    if f.start_date or f.end_date:
        starts = ev.group_by("journey_key").aggregate(first_ts=ev.event_ts.min())
        ev = ev.semi_join(starts.filter(starts_in_range(starts.first_ts, f)).select("journey_key"), "journey_key")
    if f.has_activity:
        having = ev.filter(ev.activity.isin(_values(f.has_activity))).select("journey_key").distinct()
        ev = ev.semi_join(having, "journey_key")
    return ev


FEEDBACK_RULE = ("start_date/end_date on feedback_ts (UTC, inclusive); segment/attributes/persona on the "
                 "customer; touchpoint/channel/source on the feedback row; device/activity/has_activity: "
                 "customers with such an event")


def filtered_feedback(con, filters=None, *, instrument=None) -> ir.Table:
    """Feedback rows after the shared filters, read as FEEDBACK_RULE says (one reading for every
    VoC analysis, so scores, sentiment and themes of one dashboard count the same answers)."""
    f = as_filters(filters)
    fb = con.table("feedback")
    if instrument:
        fb = fb.filter(fb.instrument.isin([str(v) for v in _values(instrument)]))
    for name in ("touchpoint", "channel", "source"):
        if getattr(f, name):
            fb = fb.filter(fb[name].isin([str(v) for v in _values(getattr(f, name))]))
    if f.start_date:
        fb = fb.filter(fb.feedback_ts >= ibis.timestamp(_date(f.start_date, "start_date")))
    if f.end_date:
        fb = fb.filter(fb.feedback_ts < ibis.timestamp(_date(f.end_date, "end_date") + dt.timedelta(days=1)))
    if f.has_customer_filters:
        fb = fb.semi_join(matching_customers(con, f), "customer_id")
    if f.device or f.activity or f.has_activity:
        ev = filtered_events(con, Filters(device=f.device, activity=f.activity, has_activity=f.has_activity))
        fb = fb.semi_join(ev.select("customer_id").distinct(), "customer_id")
    return fb


def definition(df, **items):
    """Attach what a result means (unit, filters, rules) to `df.attrs['definition']`; return df."""
    df.attrs["definition"] = {k: v for k, v in items.items() if v is not None}
    return df


# Journeys: the stored derived tables when the filters allow it (unit journey, loops kept, no
# event-level filter, tables present), else the same expressions (`cjworkbench.model`) computed on
# the filtered events.
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
