"""The simulated retailer: every generator, called in the order their inputs exist.

customers -> onboarding and purchase intents -> web sessions (first pass) -> orders ->
parcels -> cases -> tracking and help sessions (second pass) -> survey answers. Each step
draws from its own random stream (seed, step name), so adding a step elsewhere does not
change what another step draws.
"""

from __future__ import annotations

import zlib

import numpy as np

from . import campaigns, cases, clickstream, deliveries, onboarding, people, purchases, surveys
from .mess import spring_gap_sessions
from .timeline import Window


def simulate(n_customers: int, seed: int, win: Window) -> dict:
    """All generated tables as column arrays (UTC epoch seconds), keyed by name."""
    def rng(step: str) -> np.random.Generator:
        return np.random.default_rng([seed, zlib.crc32(step.encode())])

    cust = people.make_customers(rng("customers"), n_customers, win)
    onb, onb_plans = onboarding.plan_onboarding(rng("onboarding"), cust, win)
    intents = purchases.plan_intents(rng("intents"), cust, onb, win)
    buy = purchases.plan_purchases(rng("purchases"), cust, intents, win)
    emails, promo = campaigns.make_campaigns(rng("campaigns"), cust, win)
    plans = [*onb_plans, buy["checkout"]["plan"], buy["phone"]["plan"], promo,
             clickstream.browse_plans(rng("browse"), cust, win)]
    sessions = clickstream.combine(plans)
    hits = clickstream.expand(rng("hits"), sessions)
    co = buy["checkout"]
    co_sessions = sum(p["cust"].size for p in onb_plans) + np.arange(co["cust"].size)
    orders = purchases.make_orders(rng("orders"), cust, buy, clickstream.last_hit_ts(hits, co_sessions), win)
    parcels = deliveries.make_deliveries(rng("deliveries"), orders, win)
    sw = co["switch"]
    pre_call = clickstream.last_hit_ts(hits, co_sessions[sw], back=(co["reached"][sw] == 2).astype(int))
    case_seeds = [cases.everyday_seeds(rng("everyday"), cust, win),
                  cases.checkout_call_seeds(rng("calls"), co, pre_call),
                  deliveries.wismo_seeds(rng("wismo"), cust, parcels, win)]
    kase = cases.make_cases(rng("cases"), cust, case_seeds, win)
    later = clickstream.combine([deliveries.tracking_sessions(rng("tracking"), cust, parcels, win),
                                 cases.help_pages(rng("help"), cust, kase)])
    sessions, hits = clickstream.append(sessions, hits, later, clickstream.expand(rng("hits2"), later))
    hits["no_dst"] = spring_gap_sessions(rng("dst"), sessions, hits, win, ~cust["is_new"])
    # E9, last so that nothing drawn before changes: abandoned carts, reminders, returns to the checkout
    carts = campaigns.abandoned_carts(rng("carts"), cust, win)
    first = sessions["cust"].size
    sessions, hits = _append(sessions, hits, carts, rng("cart_hits"))
    cart = campaigns.cart_reminders(rng("reminders"), cust, carts["cust"],
                                    clickstream.last_hit_ts(hits, first + np.arange(carts["cust"].size)), win)
    cart["checkout"] = purchases.return_checkouts(rng("returns"), cust, cart, win)
    sessions, hits = _append(sessions, hits, cart["checkout"]["plan"], rng("return_hits"))
    emails = campaigns.merge_emails(emails, cart["emails"])
    return {"customers": cust, "carts": cart, "onboarding": onb, "intents": intents, "purchases": buy,
            "checkout_sessions": co_sessions, "emails": emails, "sessions": sessions, "hits": hits,
            "orders": orders, "parcels": parcels, "cases": kase,
            "nps": surveys.nps_answers(rng("nps"), cust, onb, parcels, win),
            "case_answers": surveys.case_answers(rng("case_surveys"), kase, win)}


def _append(sessions: dict, hits: dict, more: dict, rng) -> tuple[dict, dict]:
    """Sessions `more` expanded to hits (none in the spring DST gap) and appended."""
    more_hits = clickstream.expand(rng, more)
    more_hits["no_dst"] = np.zeros(more_hits["ts"].size, bool)
    return clickstream.append(sessions, hits, more, more_hits)
