"""The units KPIs count, built once per call from the scoped events: sessions, contacts, orders
with their delivery, campaign e-mails, onboarding starts. Each is an Ibis table with one row per
unit (`customer_id`, a start timestamp, its business date and the flags / values the KPIs read), made from the roles
(`roles.py`); a KPI whose role or attribute is unset raises `Unavailable` naming the key it needs.

Every table is built from `Scope.events()` of a scope without dates: the period of a unit is set
by the business date (`*_date`, the date in the business time zone) of its own start (a session's
first hit, a contact's first event, an order, a sent e-mail, a signup, an answer), so a unit
belongs to exactly one period, and a date range keeps the units whose date lies in it
(`scope.in_date_range`, the one date rule). Durations use the UTC timestamps.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import ibis
import ibis.expr.types as ir

from ...cache import remember
from ...scope import as_filters, epoch
from ...sessions import SESSIONS, flag_hits, rule_of, session_rows, stored_rule
from ...roles import ATTRIBUTE_RULES, ROLE_RULES, matches


class Unavailable(Exception):
    """A KPI cannot be computed: the message names the mapping or data it needs."""


@dataclass(eq=False)
class Context:
    """What every KPI builder reads: the scope (no dates), resolved roles and attributes, options."""

    con: object
    scope: object
    roles: dict
    attributes: dict
    days: int = 7                 # repeat contact / first-contact resolution window
    gap_minutes: float = 30.0     # session inactivity gap
    onboarding_days: int = 30     # onboarding completion window
    costs: dict | None = None     # {"fixed": money per contact, "per_hour": money per handling hour}
    memo: dict = field(default_factory=dict)

    def once(self, key, build):
        if key not in self.memo:
            self.memo[key] = build()
        return self.memo[key]

    def role(self, name: str) -> dict:
        value = self.roles.get(name)
        if value is None:
            raise Unavailable(f"needs roles['{name}'] ({ROLE_RULES[name][0]}); none could be inferred from the data")
        return value

    def attribute(self, name: str) -> str:
        value = self.attributes.get(name)
        if value is None:
            raise Unavailable(f"needs attributes['{name}'] ({ATTRIBUTE_RULES[name][0]}): the attribute key in "
                              "events.attributes, e.g. attributes={'" + name + "': 'my_column'}")
        return value

    def events(self) -> ir.Table:
        return self.once("events", self.scope.events)

    def num(self, ev: ir.Table, name: str) -> ir.FloatingValue:
        return ev.attributes[self.attribute(name)].try_cast("float64")

    def data_end(self):
        """The last event timestamp of the whole database (windows running past it are open)."""
        ev = self.con.table("events")
        return ev.event_ts.max().as_scalar()

    def flag(self, ev: ir.Table, role: str) -> ir.BooleanValue:
        return matches(ev, self.role(role))


def _any(ev: ir.Table, cond) -> ir.BooleanValue:
    return ev.count(where=cond) > 0


def web_hits(ctx: Context) -> ir.Table:
    """The `web` hits, each with `first` (it starts a session) and `last` (no later hit within
    gap_minutes): `cjworkbench.sessions.flag_hits`, the one session rule."""
    ctx.role("web")
    return ctx.once("web_hits", lambda: flag_hits(ctx.events().filter(ctx.flag(ctx.events(), "web")),
                                                  ctx.gap_minutes))


def stored_sessions(ctx: Context) -> bool:
    """Whether `sessions` can read the table the ingest stored: built with these roles and gap,
    and no event-level or has_activity filter (a customer-level filter keeps whole customers)."""
    f = ctx.scope.filters
    if f.has_event_filters or f.has_activity or getattr(f, "identity", None):
        return False
    rule = stored_rule(ctx.con)
    return rule is not None and rule == rule_of(ctx.roles, ctx.gap_minutes)


def sessions(ctx: Context) -> ir.Table:
    """One row per session of the `web` hits (`cjworkbench.sessions.session_rows`): start_ts,
    start_date, hits, `single` and, for each session role that is set, whether a hit of the session
    has it, with the first checkout_start / checkout_done hit's time. Read from the stored table
    when it was built with the same rule (`stored_sessions`), else cut from the scoped events."""
    ctx.role("web")
    if stored_sessions(ctx):
        return ctx.once("sessions", lambda: ctx.scope._of_customers(ctx.con.table(SESSIONS)))
    return unit(ctx, "sessions", _sessions)


def _sessions(ctx: Context) -> ir.Table:
    ev = ctx.events()
    return session_rows(ev.filter(ctx.flag(ev, "web")), ctx.roles, ctx.gap_minutes)


def contacts(ctx: Context) -> ir.Table:
    """One row per contact: a journey (customer_id, journey_key) with a `contact` event, over all its
    scoped events: start_ts, end_ts, resolved_ts (first `resolved` event), the sums of the handling,
    wait and cost attributes that are set, and next_ts (the customer's next contact's start)."""
    ctx.role("contact")
    return unit(ctx, "contacts", _contacts)


def _contacts(ctx: Context) -> ir.Table:
    ev = ctx.events()
    keys = ev.filter(ctx.flag(ev, "contact")).select("customer_id", "journey_key").distinct()
    jev = ev.join(keys, ["customer_id", "journey_key"])
    aggs = {"start_ts": jev.event_ts.min(), "start_date": jev.event_date.min(), "end_ts": jev.event_ts.max()}
    if ctx.roles.get("resolved") is not None:
        aggs["resolved_ts"] = jev.event_ts.min(where=matches(jev, ctx.roles["resolved"]))
    for name in ("handle_seconds", "wait_seconds", "cost"):
        if ctx.attributes.get(name):
            aggs[name] = ctx.num(jev, name).sum()
    c = jev.group_by(["customer_id", "journey_key"]).aggregate(**aggs)
    w = ibis.window(group_by="customer_id", order_by=["start_ts", "journey_key"])
    return c.mutate(next_ts=c.start_ts.lead().over(w), data_end_ts=ctx.data_end())


def orders(ctx: Context) -> ir.Table:
    """One row per order (customer_id, journey_key of an `order` event): order_ts, and from the
    same journey's `delivered` events (`deliveries`, when that role is set) delivered_ts and days_late."""
    ctx.role("order")
    return unit(ctx, "orders", _orders)


def _orders(ctx: Context) -> ir.Table:
    ev = ctx.events()
    o = ev.filter(ctx.flag(ev, "order")).group_by(["customer_id", "journey_key"]).aggregate(
        order_ts=ev.event_ts.min(), order_date=ev.event_date.min())
    if ctx.roles.get("delivered") is None:
        return o
    d = deliveries(ctx)
    return o.left_join(d, ["customer_id", "journey_key"]).select(
        o, *[d[k] for k in d.columns if k not in ("customer_id", "journey_key")])


def deliveries(ctx: Context) -> ir.Table:
    """One row per delivered journey: delivered_ts and days_late (when the attribute is set)."""
    ctx.role("delivered")
    return unit(ctx, "deliveries", _deliveries)


def _deliveries(ctx: Context) -> ir.Table:
    ev = ctx.events()
    d = ev.filter(ctx.flag(ev, "delivered"))
    aggs = {"delivered_ts": d.event_ts.min(), "delivered_date": d.event_date.min()}
    if ctx.attributes.get("days_late"):
        aggs["days_late"] = ctx.num(d, "days_late").max()
    return d.group_by(["customer_id", "journey_key"]).aggregate(**aggs)


def emails(ctx: Context) -> ir.Table:
    """One row per campaign e-mail sent (customer_id, journey_key = the campaign): sent_ts and
    whether the same customer opened / clicked in that campaign (roles that are set)."""
    ctx.role("email_sent")
    return unit(ctx, "emails", _emails)


def _emails(ctx: Context) -> ir.Table:
    ev = ctx.events()
    sent, opened, clicked = (ctx.roles.get(r) for r in ("email_sent", "email_opened", "email_clicked"))
    keys = ev.filter(matches(ev, sent)).select("customer_id", "journey_key").distinct()
    e = ev.join(keys, ["customer_id", "journey_key"])
    aggs = {"sent_ts": e.event_ts.min(where=matches(e, sent)), "sent_date": e.event_date.min(where=matches(e, sent))}
    for name, pred in (("opened", opened), ("clicked", clicked)):
        if pred is not None:
            aggs[name] = _any(e, matches(e, pred))
    return e.group_by(["customer_id", "journey_key"]).aggregate(**aggs)


def onboardings(ctx: Context) -> ir.Table:
    """One row per customer with an `onboarding_start` event: start_ts (the first) and done_ts (the
    first `onboarding_done` event at or after it)."""
    ctx.role("onboarding_start")
    ctx.role("onboarding_done")
    return unit(ctx, "onboardings", _onboardings)


def _onboardings(ctx: Context) -> ir.Table:
    ev = ctx.events()
    s = ev.filter(ctx.flag(ev, "onboarding_start")).group_by("customer_id").aggregate(
        start_ts=ev.event_ts.min(), start_date=ev.event_date.min())
    d = ev.filter(ctx.flag(ev, "onboarding_done")).select("customer_id", done=ev.event_ts)
    j = s.left_join(d, (s.customer_id == d.customer_id) & (d.done >= s.start_ts))
    return j.group_by([s.customer_id, s.start_ts, s.start_date]).aggregate(done_ts=j.done.min(),
                                                                           data_end_ts=ctx.data_end())


def active_days(ctx: Context) -> ir.Table:
    """One row per customer and business date with a scoped event (who was active when)."""
    return unit(ctx, "active_days", lambda c: c.events().select("customer_id", "event_date").distinct())


def first_events(ctx: Context) -> ir.Table:
    """One row per customer with a scoped event: first_date and, when the role is set, `referred`
    (the customer has a `referral` event)."""
    def build(c: Context) -> ir.Table:
        ev = c.events()
        aggs = {"first_date": ev.event_date.min()}
        if c.roles.get("referral") is not None:
            aggs["referred"] = _any(ev, matches(ev, c.roles["referral"]))
        return ev.group_by("customer_id").aggregate(**aggs)
    return unit(ctx, "first_events", build)


def whole_customers(ctx: Context) -> bool:
    """Whether the scope only picks customers (segment, attributes, persona: no event-level,
    has_activity or identity filter) on DuckDB: then per-customer units can be kept for everyone."""
    f = ctx.scope.filters
    return not (f.has_event_filters or f.has_activity or getattr(f, "identity", None)) and \
        getattr(ctx.con, "name", "") == "duckdb"


def unit(ctx: Context, name: str, build) -> ir.Table:
    """`build(ctx)`, the unit rows of the scoped events. Units are per customer, so under customer-level
    filters only (no event-level or has_activity filter) they are the rows of the matching customers
    among everyone's: on DuckDB, everyone's rows are built once per connection and rule (roles,
    attributes, gap, journey unit) into a temporary table, and each scope keeps its customers' rows,
    so another period, as_of or segment reads a small table instead of the events again."""
    if not whole_customers(ctx):
        return ctx.once(name, lambda: build(ctx))
    rule = json.dumps([name, ctx.roles, ctx.attributes, ctx.gap_minutes, ctx.scope.unit], sort_keys=True)
    table = f"cjw_unit_{name}_{hashlib.sha256(rule.encode()).hexdigest()[:12]}"

    def materialise() -> str:
        whole = replace(ctx, scope=replace(ctx.scope, filters=as_filters(None)), memo={})
        ctx.con.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{table}" AS {ctx.con.compile(build(whole))}')
        return table
    remember(ctx.con, "table", ("measures.unit", rule), materialise)
    return ctx.once(name, lambda: ctx.scope._of_customers(ctx.con.table(table)))


def seconds(a, b) -> ir.FloatingValue:
    """Seconds from `a` to `b` (portable: epoch seconds, never timestamp differences)."""
    return (epoch(b) - epoch(a)).cast("float64")
