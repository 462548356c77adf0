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

from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir

from ...scope import epoch
from .roles import ATTRIBUTE_RULES, ROLE_RULES, matches


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
    """The `web` hits, each with `first` (it starts a session: no earlier hit of the customer, or more
    than gap_minutes after it) and `last` (no later hit within gap_minutes): one window pass. The
    session rule is `cjworkbench.units.with_visits`'s (a gap of exactly gap_minutes stays in the
    session), read from lag and lead instead of a running count so no second sort is needed."""
    def build():
        ev = ctx.events()
        hits = ev.filter(ctx.flag(ev, "web"))
        w = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])
        gap = ibis.interval(milliseconds=int(round(ctx.gap_minutes * 60_000)))   # compared as timestamps:
        prev, nxt = hits.event_ts.lag().over(w), hits.event_ts.lead().over(w)     # no per-row arithmetic
        return hits.mutate(first=prev.isnull() | (hits.event_ts > prev + gap),
                           last=nxt.isnull() | (nxt > hits.event_ts + gap))
    ctx.role("web")
    return ctx.once("web_hits", build)


def sessions(ctx: Context) -> ir.Table:
    """One row per session of the `web` hits: start_ts, next_ts (the customer's next session start),
    `single` (one hit only) and, for each role that is set, whether a hit of the session has it
    (role hits joined to their session by customer and start_ts <= ts < next_ts), with the first
    checkout_start / checkout_done hit's time (`checkout_start_ts`, `checkout_done_ts`)."""
    def build():
        h = web_hits(ctx)
        s = h.filter(h.first).select("customer_id", start_ts=h.event_ts, start_date=h.event_date, single=h.last)
        s = s.mutate(next_ts=s.start_ts.lead().over(ibis.window(group_by="customer_id", order_by="start_ts"))
                     .fill_null(ibis.timestamp("9999-12-31 00:00:00")))
        roles = [r for r in ("goal", "cart", "checkout_start", "checkout_done") if ctx.roles.get(r) is not None]
        if not roles:
            return s
        r = h.filter(ibis.or_(*[matches(h, ctx.roles[x]) for x in roles]))
        r = r.select("customer_id", ts=r.event_ts, **{x: matches(r, ctx.roles[x]) for x in roles})
        j = s.left_join(r, [s.customer_id == r.customer_id, r.ts >= s.start_ts, r.ts < s.next_ts])
        aggs = {x: j[x].fill_null(False).cast("int64").max() == 1 for x in roles}
        aggs |= {f"{x}_ts": j.ts.min(where=j[x]) for x in ("checkout_start", "checkout_done") if x in roles}
        return j.group_by([s.customer_id, s.start_ts, s.start_date, s.single]).aggregate(**aggs)
    ctx.role("web")
    return ctx.once("sessions", build)


def contacts(ctx: Context) -> ir.Table:
    """One row per contact: a journey (customer_id, journey_key) with a `contact` event, over all its
    scoped events: start_ts, end_ts, resolved_ts (first `resolved` event), the sums of the handling,
    wait and cost attributes that are set, and next_ts (the customer's next contact's start)."""
    def build():
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
    ctx.role("contact")
    return ctx.once("contacts", build)


def orders(ctx: Context) -> ir.Table:
    """One row per order (customer_id, journey_key of an `order` event): order_ts, and from the
    same journey's `delivered` events (`deliveries`, when that role is set) delivered_ts and days_late."""
    def build():
        ev = ctx.events()
        o = ev.filter(ctx.flag(ev, "order")).group_by(["customer_id", "journey_key"]).aggregate(
            order_ts=ev.event_ts.min(), order_date=ev.event_date.min())
        if ctx.roles.get("delivered") is None:
            return o
        d = deliveries(ctx)
        return o.left_join(d, ["customer_id", "journey_key"]).select(
            o, *[d[k] for k in d.columns if k not in ("customer_id", "journey_key")])
    ctx.role("order")
    return ctx.once("orders", build)


def deliveries(ctx: Context) -> ir.Table:
    """One row per delivered journey: delivered_ts and days_late (when the attribute is set)."""
    def build():
        ev = ctx.events()
        d = ev.filter(ctx.flag(ev, "delivered"))
        aggs = {"delivered_ts": d.event_ts.min(), "delivered_date": d.event_date.min()}
        if ctx.attributes.get("days_late"):
            aggs["days_late"] = ctx.num(d, "days_late").max()
        return d.group_by(["customer_id", "journey_key"]).aggregate(**aggs)
    ctx.role("delivered")
    return ctx.once("deliveries", build)


def emails(ctx: Context) -> ir.Table:
    """One row per campaign e-mail sent (customer_id, journey_key = the campaign): sent_ts and
    whether the same customer opened / clicked in that campaign (roles that are set)."""
    def build():
        ev = ctx.events()
        sent, opened, clicked = (ctx.roles.get(r) for r in ("email_sent", "email_opened", "email_clicked"))
        keys = ev.filter(matches(ev, sent)).select("customer_id", "journey_key").distinct()
        e = ev.join(keys, ["customer_id", "journey_key"])
        aggs = {"sent_ts": e.event_ts.min(where=matches(e, sent)), "sent_date": e.event_date.min(where=matches(e, sent))}
        for name, pred in (("opened", opened), ("clicked", clicked)):
            if pred is not None:
                aggs[name] = _any(e, matches(e, pred))
        return e.group_by(["customer_id", "journey_key"]).aggregate(**aggs)
    ctx.role("email_sent")
    return ctx.once("emails", build)


def onboardings(ctx: Context) -> ir.Table:
    """One row per customer with an `onboarding_start` event: start_ts (the first) and done_ts (the
    first `onboarding_done` event at or after it)."""
    def build():
        ev = ctx.events()
        s = ev.filter(ctx.flag(ev, "onboarding_start")).group_by("customer_id").aggregate(
            start_ts=ev.event_ts.min(), start_date=ev.event_date.min())
        d = ev.filter(ctx.flag(ev, "onboarding_done")).select("customer_id", done=ev.event_ts)
        j = s.left_join(d, (s.customer_id == d.customer_id) & (d.done >= s.start_ts))
        return j.group_by([s.customer_id, s.start_ts, s.start_date]).aggregate(done_ts=j.done.min(),
                                                                               data_end_ts=ctx.data_end())
    ctx.role("onboarding_start")
    ctx.role("onboarding_done")
    return ctx.once("onboardings", build)


def seconds(a, b) -> ir.FloatingValue:
    """Seconds from `a` to `b` (portable: epoch seconds, never timestamp differences)."""
    return (epoch(b) - epoch(a)).cast("float64")
