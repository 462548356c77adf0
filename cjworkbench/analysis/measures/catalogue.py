"""The KPI catalogue: every journey KPI defined once, as a declarative entry.

An entry says what the KPI means (`definition`), whether higher or lower is better, its unit
(`%` shares are fractions 0-1, `seconds`, `count`, `score`, `money`), the units it counts, which roles /
attributes / data it needs, how its interval is made (`kind`), and builds one Ibis table over the
scoped contract tables with a row per counted unit: `date` (its business date: sets its period), `customer_id`, `y`
(the unit's value) and `w` (1 when the row is a unit of the denominator). The estimate, interval
and change follow from `kind` alone (`estimates.py`):

- share: mean of 0/1 `y` over units, Wilson interval; change: Newcombe, two-proportion z test;
- mean: mean of `y`, Student t interval; change: Welch;
- median: exact median of `y`; interval: the order statistics at ranks n/2 ± z√n/2, the closed form
  the percentile bootstrap of a median tends to (no resampling; checked against a seeded bootstrap
  in the tests); change: difference with MOVER, normal p-value;
- per_unit: Σy over rows with w = 0 divided by Σw (events per denominator unit, e.g. contacts per
  order), exact Poisson (Garwood) interval on the count; change: difference, normal approximation;
- per_customer: as per_unit, divided by the distinct customers of the w = 1 rows (customers active
  in the period).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import ibis
import ibis.expr.types as ir

from ...cache import execute, remember
from ..design.kpis import nps_points
from . import units as u
from .units import Context, Unavailable

KINDS = ("share", "mean", "median", "per_unit", "per_customer")


@dataclass(frozen=True)
class Measure:
    name: str
    label: str
    definition: str
    direction: str          # "higher" or "lower" is better
    unit: str               # "%", "seconds", "count", "score"
    kind: str               # one of KINDS
    counted: str            # what one unit is: session, journey, contact, order, e-mail, customer, answer
    needs: tuple[str, ...]  # roles / attributes / data it reads
    build: Callable[[Context], ir.Table]
    side: str = "customer"  # customer KPI or operational KPI


def rows(t: ir.Table, date, y, w=1) -> ir.Table:
    """The unit rows every KPI returns, with one schema (so they stack); `date` is the business date
    of the unit's start (its period and date-range test)."""
    y = ibis.literal(float(y), "float64") if isinstance(y, (int, float)) else y.cast("float64")
    return t.select(date=date.cast("date"), customer_id=t.customer_id.cast("string"), y=y,
                    w=ibis.literal(w, "int64"))


def _flag(t: ir.Table, col: str, ctx: Context, role: str):
    ctx.role(role)
    return t[col].cast("float64")


def bounce(ctx):
    s = u.sessions(ctx)
    return rows(s, s.start_date, s.single.cast("float64"))


def exit_rate(ctx):
    h = u.web_hits(ctx)
    h = h.filter(ctx.flag(h, "exit_page"))
    return rows(h, h.event_date, h["last"].cast("float64"))


def scroll(ctx):
    h = u.web_hits(ctx)
    h = h.mutate(v=ctx.num(h, "scroll_depth")).filter(lambda t: t.v.notnull())
    return rows(h, h.event_date, ibis.cases((h.v > 1, h.v / 100), else_=h.v))


def conversion(ctx):
    s = u.sessions(ctx)
    return rows(s, s.start_date, _flag(s, "goal", ctx, "goal"))


def _abandonment(ctx, role):
    s = u.sessions(ctx)
    ctx.role(role), ctx.role("checkout_done")
    s = s.filter(s[role])
    return rows(s, s.start_date, (~s.checkout_done).cast("float64"))


def checkout_time(ctx):
    s = u.sessions(ctx)
    ctx.role("checkout_start"), ctx.role("checkout_done")
    s = s.mutate(sec=u.seconds(s.checkout_start_ts, s.checkout_done_ts)).filter(lambda t: t.sec >= 0)
    return rows(s, s.start_date, s.sec)


def _email(ctx, col, role):
    e = u.emails(ctx)
    return rows(e, e.sent_date, _flag(e, col, ctx, role))


def contacts_per_order(ctx):
    c, o = u.contacts(ctx), u.orders(ctx)
    return rows(c, c.start_date, 1.0, 0).union(rows(o, o.order_date, 0.0, 1))


def contacts_per_customer(ctx):
    c, days = u.contacts(ctx), u.active_days(ctx)   # customer-days: who was active
    return rows(c, c.start_date, 1.0, 0).union(rows(days, days.event_date, 0.0, 1))


def _followed(c, ctx):
    limit = ctx.days * 86_400
    repeat = c.next_ts.notnull() & (u.seconds(c.end_ts, c.next_ts) <= limit)
    known = repeat | (u.seconds(c.end_ts, c.data_end_ts) >= limit)
    return repeat, known


def repeat_contact(ctx):
    c = u.contacts(ctx)
    repeat, known = _followed(c, ctx)
    c = c.mutate(repeat=repeat, known=known).filter(lambda t: t.known)
    return rows(c, c.start_date, c.repeat.cast("float64"))


def fcr(ctx):
    c = u.contacts(ctx)
    ctx.role("resolved")
    repeat, known = _followed(c, ctx)
    c = c.mutate(repeat=repeat, known=known).filter(lambda t: t.known)
    return rows(c, c.start_date, (c.resolved_ts.notnull() & ~c.repeat).cast("float64"))


def _contact_sum(ctx, name):
    c = u.contacts(ctx)
    ctx.attribute(name)
    c = c.filter(c[name].notnull())
    return rows(c, c.start_date, c[name])


def cost_per_contact(ctx):
    c = u.contacts(ctx)
    if ctx.attributes.get("cost"):
        c = c.filter(c.cost.notnull())
        return rows(c, c.start_date, c.cost)
    if not ctx.costs:
        raise Unavailable("needs costs={'fixed': money per contact, 'per_hour': money per handling hour} "
                          "(or the cost_per_contact entry of a KPI map) or attributes['cost']")
    hours = c.handle_seconds.fill_null(0) / 3600 if ctx.attributes.get("handle_seconds") else ibis.literal(0.0)
    return rows(c, c.start_date, float(ctx.costs.get("fixed", 0)) + float(ctx.costs.get("per_hour", 0)) * hours)


def resolution_time(ctx):
    c = u.contacts(ctx)
    ctx.role("resolved")
    c = c.filter(c.resolved_ts.notnull())
    return rows(c, c.start_date, u.seconds(c.start_ts, c.resolved_ts))


def lead_time(ctx):
    o = u.orders(ctx)
    ctx.role("delivered")
    o = o.mutate(s=u.seconds(o.order_ts, o.delivered_ts)).filter(lambda t: t.s >= 0)
    return rows(o, o.order_date, o.s)


def on_time(ctx):
    d = u.deliveries(ctx)
    ctx.attribute("days_late")
    d = d.filter(d.days_late.notnull())
    return rows(d, d.delivered_date, (d.days_late <= 0).cast("float64"))


def onboarding_completion(ctx):
    o = u.onboardings(ctx)
    limit = ctx.onboarding_days * 86_400
    done = o.done_ts.notnull() & (u.seconds(o.start_ts, o.done_ts) <= limit)
    o = o.mutate(done=done).filter(lambda t: t.done | (u.seconds(t.start_ts, t.data_end_ts) >= limit))
    return rows(o, o.start_date, o.done.cast("float64"))


def onboarding_time(ctx):
    o = u.onboardings(ctx).filter(lambda t: t.done_ts.notnull())
    return rows(o, o.start_date, u.seconds(o.start_ts, o.done_ts))


def _answers(ctx, instrument):
    if instrument not in instruments(ctx.con):
        raise Unavailable(f"needs feedback answers with instrument '{instrument}' and a score (ingest a source "
                          f"with `instrument: {instrument}`)")
    return ctx.scope.feedback(instrument, scored=True)


def instruments(con) -> set[str]:
    """Instruments with scored answers in the database (one small query, remembered per connection)."""
    def build():
        fb = con.table("feedback")
        return set(execute(con, fb.filter(fb.score.notnull()).select("instrument").distinct())["instrument"])
    return remember(con, "object", ("measures.instruments",), build)


def _box(fb, lowest_two: bool):
    """CSAT top box / CES two lowest-effort boxes, in the answers' stated direction."""
    lower = fb.direction.fill_null("higher_is_better") == "lower_is_better"
    if lowest_two:
        return ibis.cases((lower, fb.score <= fb.scale_min + 1), else_=fb.score >= fb.scale_max - 1)
    return ibis.cases((lower, fb.score <= fb.scale_min), else_=fb.score >= fb.scale_max)


def nps(ctx):
    fb = _answers(ctx, "nps")
    return rows(fb, fb.feedback_date, nps_points(fb.score))


def csat(ctx):
    fb = _answers(ctx, "csat")
    return rows(fb, fb.feedback_date, _box(fb, False).cast("float64"))


def ces(ctx):
    fb = _answers(ctx, "ces")
    return rows(fb, fb.feedback_date, _box(fb, True).cast("float64"))


def review(ctx):
    fb = _answers(ctx, "review")
    return rows(fb, fb.feedback_date, fb.score)


def referral(ctx):
    ctx.role("referral")
    c = u.first_events(ctx)
    return rows(c, c.first_date, c.referred.cast("float64"))


_S, _M, _MED, _PU, _PC = KINDS
CATALOGUE: dict[str, Measure] = {m.name: m for m in [
    Measure("bounce_rate", "Bounce rate", "share of web sessions (hits of the `web` role, a new session after "
            "gap_minutes without a hit) with a single hit", "lower", "%", _S, "session", ("roles.web",), bounce),
    Measure("exit_rate", "Exit rate", "share of hits on the `exit_page` pages that are the last hit of their "
            "session", "lower", "%", _S, "page view", ("roles.web", "roles.exit_page"), exit_rate),
    Measure("scroll_depth", "Scroll depth", "mean share of the page scrolled per web hit (attribute scroll_depth; "
            "values above 1 read as percent)", "higher", "%", _M, "page view", ("roles.web", "attributes.scroll_depth"),
            scroll),
    Measure("conversion_rate", "Conversion rate", "share of web sessions with a `goal` hit", "higher", "%", _S,
            "session", ("roles.web", "roles.goal"), conversion),
    Measure("cart_abandonment", "Cart abandonment", "share of web sessions with a `cart` hit and no "
            "`checkout_done` hit", "lower", "%", _S, "session", ("roles.web", "roles.cart", "roles.checkout_done"),
            lambda ctx: _abandonment(ctx, "cart")),
    Measure("checkout_abandonment", "Checkout abandonment", "share of web sessions with a `checkout_start` hit "
            "and no `checkout_done` hit", "lower", "%", _S, "session",
            ("roles.web", "roles.checkout_start", "roles.checkout_done"), lambda ctx: _abandonment(ctx, "checkout_start")),
    Measure("checkout_time", "Checkout time", "median seconds from a session's first `checkout_start` hit to its "
            "first `checkout_done` hit after it (sessions with both)", "lower", "seconds", _MED, "session",
            ("roles.web", "roles.checkout_start", "roles.checkout_done"), checkout_time, "operational"),
    Measure("open_rate", "E-mail open rate", "share of campaign e-mails sent (customer × campaign journey) that the "
            "customer opened", "higher", "%", _S, "e-mail", ("roles.email_sent", "roles.email_opened"),
            lambda ctx: _email(ctx, "opened", "email_opened")),
    Measure("click_through_rate", "E-mail click-through rate", "share of campaign e-mails sent with a click by the "
            "customer in that campaign", "higher", "%", _S, "e-mail", ("roles.email_sent", "roles.email_clicked"),
            lambda ctx: _email(ctx, "clicked", "email_clicked")),
    Measure("contacts_per_order", "Contacts per order", "contacts (journeys with a `contact` event, by their start) "
            "per order (journeys with an `order` event, by the order time)", "lower", "count", _PU, "order",
            ("roles.contact", "roles.order"), contacts_per_order, "operational"),
    Measure("contacts_per_customer", "Contacts per customer", "contacts per customer active in the period (with "
            "any scoped event)", "lower", "count", _PC, "customer", ("roles.contact",), contacts_per_customer,
            "operational"),
    Measure("repeat_contact_rate", "Repeat contact rate", "share of contacts followed by the customer's next "
            "contact at most `days` days after the contact's last event; contacts whose window runs past the data "
            "are left out", "lower", "%", _S, "contact", ("roles.contact",), repeat_contact, "operational"),
    Measure("first_contact_resolution", "First-contact resolution", "share of contacts with a `resolved` event "
            "and no next contact within `days` days after the contact's last event (known windows only)", "higher",
            "%", _S, "contact", ("roles.contact", "roles.resolved"), fcr, "operational"),
    Measure("handle_time", "Average handle time", "mean per contact of the sum of its events' handling seconds",
            "lower", "seconds", _M, "contact", ("roles.contact", "attributes.handle_seconds"),
            lambda ctx: _contact_sum(ctx, "handle_seconds"), "operational"),
    Measure("wait_time", "Average wait time", "mean per contact of the sum of its events' wait seconds", "lower",
            "seconds", _M, "contact", ("roles.contact", "attributes.wait_seconds"),
            lambda ctx: _contact_sum(ctx, "wait_seconds"), "operational"),
    Measure("resolution_time", "Resolution time", "median seconds from a contact's first event to its first "
            "`resolved` event", "lower", "seconds", _MED, "contact", ("roles.contact", "roles.resolved"),
            resolution_time, "operational"),
    Measure("cost_per_contact", "Cost per contact", "mean cost per contact: the sum of its cost attribute, else "
            "fixed + per_hour × handling hours", "lower", "money", _M, "contact",
            ("roles.contact", "attributes.cost or costs"), cost_per_contact, "operational"),
    Measure("delivery_lead_time", "Delivery lead time", "median seconds from an order to the first `delivered` "
            "event of the same journey", "lower", "seconds", _MED, "order", ("roles.order", "roles.delivered"),
            lead_time, "operational"),
    Measure("on_time_delivery", "On-time delivery", "share of delivered journeys with days_late ≤ 0 (delivered "
            "on or before the promised date)", "higher", "%", _S, "delivery",
            ("roles.delivered", "attributes.days_late"), on_time, "operational"),
    Measure("onboarding_completion", "Onboarding completion", "share of customers with an `onboarding_start` "
            "event reaching `onboarding_done` within onboarding_days (open windows left out)", "higher", "%", _S,
            "customer", ("roles.onboarding_start", "roles.onboarding_done"), onboarding_completion),
    Measure("onboarding_time", "Onboarding time", "median seconds from a customer's first `onboarding_start` to "
            "the first `onboarding_done` after it", "lower", "seconds", _MED, "customer",
            ("roles.onboarding_start", "roles.onboarding_done"), onboarding_time, "operational"),
    Measure("review_score", "Review score", "mean review score (stars) of the answers", "higher", "score", _M,
            "answer", ("feedback.review",), review),
    Measure("nps", "NPS", "% promoters (9-10) − % detractors (0-6) of the nps answers (the mean of answers coded "
            "100 / 0 / −100)", "higher", "score", _M, "answer", ("feedback.nps",), nps),
    Measure("csat", "CSAT", "share of csat answers in the best box (e.g. 5 on 1-5, in the stated direction)",
            "higher", "%", _S, "answer", ("feedback.csat",), csat),
    Measure("ces", "CES (low effort)", "share of ces answers in the two lowest-effort boxes (e.g. ≤ 2 on 1-7 when "
            "lower is better)", "higher", "%", _S, "answer", ("feedback.ces",), ces),
    Measure("referral_share", "Referral share", "share of customers (by the period of their first event) with a "
            "`referral` event", "higher", "%", _S, "customer", ("roles.referral",), referral),
]}
