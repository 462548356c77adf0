"""Roles: which events play which part in a KPI ("goal", "cart", "contact", "delivered", ...).

A KPI never names a demo activity. It asks for a role, and the role comes from a `roles`
mapping given by the caller: role -> activity name(s) (`{"goal": "checkout_confirmed"}`) or a
predicate over event columns (`{"contact": {"department": "helpdesk"}}`, every column must match
one of its values). A role the caller leaves out is inferred from the data only where it is
unambiguous: the first rule of ROLE_RULES that matches any activity (or column value) present in
the events gives the role those values; no match leaves the role unset, and a KPI needing it
says so (`needs roles['goal']`) instead of returning zero. Roles stored in the database's designs
(`designs: roles:`) come before inference; a role given by the caller comes before both. Attributes (numbers kept in
`events.attributes`, e.g. handling seconds) work the same way under `attributes=`.
"""

from __future__ import annotations

import re

import ibis
import ibis.expr.types as ir

from .cache import execute, remember
from .errors import WorkbenchError, one_of

MATCH_COLUMNS = ("activity", "channel", "department", "touchpoint", "source", "device", "stage")

# role -> (what it is, inference rules tried in order: (column, regex) ; the first that matches wins)
ROLE_RULES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "web": ("clickstream hits (page or screen views) that sessions are cut from",
            (("channel", r"^(web|app|online|mobile|website)$"),)),
    "goal": ("the activity a visit converts on",
             (("activity", r"checkout.?confirm|order.?confirm|purchase.?complete"),)),
    "cart": ("a visit with this activity has a cart", (("activity", r"(^|[^a-z])(view.?)?cart|add.?to.?cart"),)),
    "checkout_start": ("the activity that starts a checkout", (("activity", r"checkout.?start|begin.?checkout"),)),
    "checkout_done": ("the activity that confirms a checkout (default: goal)",
                      (("activity", r"checkout.?confirm|order.?confirm"),)),
    "order": ("an order (one per journey_id)", (("activity", r"^(order.?placed|order|purchase|deal.?won)$"),)),
    "delivered": ("the delivery of an order (same journey_id as the order)",
                  (("activity", r"(^|_| )delivered$"),)),
    "contact": ("a journey with such an event is a customer contact (case, ticket, call)",
                (("activity", r"case.?open|ticket.?open|call.?start"),
                 ("department", r"help.?desk|support|customer.?care|contact.?cent"),
                 ("source", r"help.?desk|support|contact.?cent|tickets?$"))),
    "resolved": ("a contact with such an event was resolved", (("activity", r"resolve"),)),
    "email_sent": ("a campaign e-mail sent (campaign = journey_id)", (("activity", r"e.?mail.?sent|^sent$"),)),
    "email_opened": ("a campaign e-mail opened", (("activity", r"e.?mail.?open|^open(ed)?$"),)),
    "email_clicked": ("a click in a campaign e-mail", (("activity", r"e.?mail.?click|^click(ed)?$"),)),
    "onboarding_start": ("the start of onboarding", (("activity", r"^sign.?up$|^register(ed)?$|account.?creat"),)),
    "onboarding_done": ("onboarding completed", (("activity", r"complete.?profile|onboarding.?complete"),)),
    "referral": ("a referral made by the customer", (("activity", r"(^|[^a-z])refer(ral|red|s)?([^a-z]|$)"),)),
    "exit_page": ("the pages whose exit rate is watched (never inferred)", ()),
}
# attribute -> (what it is, attribute keys tried in order)
ATTRIBUTE_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "handle_seconds": ("agent handling seconds on a contact's events",
                       ("handle_s", "handle_seconds", "handle_time", "handling_seconds", "aht")),
    "wait_seconds": ("seconds the customer waited on a contact's events", ("wait_s", "wait_seconds", "wait_time")),
    "days_late": ("delivered date minus promised date, in days, on delivered events",
                  ("days_late", "delay_days", "late_days")),
    "scroll_depth": ("share of the page scrolled (0-1 or 0-100) on web hits", ("scroll_depth", "scroll_pct")),
    "cost": ("cost of a contact's event in money", ("cost", "cost_eur", "contact_cost")),
}


class RolesError(WorkbenchError, ValueError):
    """A roles or attributes mapping names an unknown role or a bad predicate."""


def _check_role_value(role: str, value):
    if isinstance(value, dict):
        for col in value:
            if col not in MATCH_COLUMNS:
                raise RolesError(f"roles['{role}']: " + one_of("column", col, MATCH_COLUMNS))
        return {c: _strs(v) for c, v in value.items()}
    return {"activity": _strs(value)}


def _strs(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple, set, frozenset)) else [str(value)]


def inventory(con):
    """Distinct (activity, channel, department, touchpoint, source, device, stage) with counts: what
    the data offers roles (one small query, remembered per connection)."""
    def build():
        ev = con.table("events")
        return execute(con, ev.group_by(list(MATCH_COLUMNS)).aggregate(n_events=ev.count()))
    return remember(con, "object", ("measures.inventory",), build)


def attribute_keys(con) -> set[str]:
    """Attribute keys present on events (from every k-th row by `seq`, about 200,000 rows; remembered
    per connection)."""
    def build():
        ev = con.table("events")
        step = max(1, int(execute(con, ev.aggregate(n=ev.count()))["n"].iloc[0]) // 200_000)
        ev = ev.filter(ev.attributes.notnull() & (ev.seq % step == 0))   # a fixed sample of about 200,000 rows
        keys = ev.select(k=ev.attributes.keys().unnest()).distinct()
        return {str(k) for k in execute(con, keys)["k"].dropna()}
    return remember(con, "object", ("measures.attribute_keys",), build)


def resolve_roles(con, roles: dict | None = None) -> tuple[dict, dict]:
    """({role: predicate dict or None}, {role: 'given' | 'inferred from ...' | reason unset})."""
    given = dict(roles or {})
    roles = {**_designed(con), **given}
    for role in roles:
        if role not in ROLE_RULES:
            raise RolesError(one_of("role", role, ROLE_RULES))
    inv = None
    out, how = {}, {}
    for role, (_, rules) in ROLE_RULES.items():
        if roles.get(role) not in (None, "", [], ()):
            out[role] = _check_role_value(role, roles[role])
            how[role] = "given" if role in given else "designs: roles"
            continue
        inv = inventory(con) if inv is None else inv
        out[role], how[role] = None, "not found in the data"
        for col, pattern in rules:
            values = sorted({str(v) for v in inv[col].dropna().unique() if re.search(pattern, str(v), re.I)})
            if values:
                out[role], how[role] = {col: values}, f"inferred: {col} matching /{pattern}/"
                break
    if out["checkout_done"] is None and out["goal"] is not None:
        out["checkout_done"], how["checkout_done"] = out["goal"], "the goal role"
    return out, how


def _designed(con) -> dict:
    """The roles the database's designs name ({} without them)."""
    from .designs.store import design, has_design
    return dict(design(con, "roles")) if has_design(con, "roles") else {}


def resolve_attributes(con, attributes: dict | None = None) -> tuple[dict, dict]:
    """({name: attribute key or None}, {name: how it was chosen})."""
    attributes = dict(attributes or {})
    for name in attributes:
        if name not in ATTRIBUTE_RULES:
            raise RolesError(one_of("attribute", name, ATTRIBUTE_RULES))
    keys = None
    out, how = {}, {}
    for name, (_, candidates) in ATTRIBUTE_RULES.items():
        if attributes.get(name):
            out[name], how[name] = str(attributes[name]), "given"
            continue
        keys = attribute_keys(con) if keys is None else keys
        found = [k for k in candidates if k in keys]
        out[name], how[name] = (found[0], f"inferred: attribute '{found[0]}'") if found else (None, "not found")
    return out, how


def matches(ev: ir.Table, predicate: dict) -> ir.BooleanValue:
    """Events matching a role's predicate (every column one of its values)."""
    return ibis.and_(*[ev[c].isin(v) for c, v in predicate.items()])


__all__ = ["ROLE_RULES", "ATTRIBUTE_RULES", "RolesError", "resolve_roles", "resolve_attributes", "matches"]
