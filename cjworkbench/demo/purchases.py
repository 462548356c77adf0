"""Purchase intents and where they end: a web/app checkout, a phone order or a store visit.

Plants E1 (app checkouts interrupted by a phone call complete less often), E5 (the
traditional persona orders by phone after browsing on a desktop) and E6 (the payment step
drops more customers in the last months). Every checkout attempt carries its planted
completion probability (`p_complete`), so truth.json can state exact expectations.
"""

from __future__ import annotations

import numpy as np

from . import effects as fx
from .cases import first_contact
from .clickstream import LAND, P, browsing, plan
from .people import active_from, pick_devices
from .timeline import DAY, Window, after, random_times

INTENT_RATE = np.array([1.4, 2.1, 2.8])  # purchase intents per customer-year, by segment
ROUTES = ("phone", "store", "online")
ORDER_CHANNELS = ("web", "app", "phone", "store")


def plan_intents(rng, customers: dict, onboarding: dict, win: Window) -> dict:
    """Regular intents (after the first 30 days of new customers) plus first-purchase attempts."""
    lo = active_from(customers, win)
    lo = np.where(customers["is_new"], lo + fx.FIRST_PURCHASE_DAYS * DAY, lo)
    years = np.clip(win.end - lo, 0, None) / (365.25 * DAY)
    counts = rng.poisson(INTENT_RATE[customers["segment"]] * years)
    cust = np.repeat(np.arange(lo.size), counts)
    first = onboarding["attempt"]
    return {"cust": np.concatenate([cust, onboarding["cust"][first]]),
            "ts": np.concatenate([random_times(rng, lo[cust], win.end), onboarding["attempt_ts"][first]]),
            "first": np.concatenate([np.zeros(cust.size, bool), np.ones(first.sum(), bool)])}


def plan_purchases(rng, customers: dict, intents: dict, win: Window) -> dict:
    """Route every intent; plan checkout sessions, phone orders (with browsing) and store visits."""
    persona = np.where(customers["traditional"][intents["cust"]], "traditional", "other")
    route = np.empty(persona.size, np.int8)
    for who in ("traditional", "other"):
        sel = persona == who
        route[sel] = rng.choice(len(ROUTES), sel.sum(), p=[fx.CHANNEL_P[who][r] for r in ROUTES])
    online = route == ROUTES.index("online")
    checkout = _checkouts(rng, customers, intents["cust"][online], intents["ts"][online], win)
    checkout["intent"] = np.flatnonzero(online)
    phone = _phone_orders(rng, customers, intents, route == ROUTES.index("phone"))
    store_idx = np.flatnonzero(route == ROUTES.index("store"))
    store = {"intent": store_idx, "cust": intents["cust"][store_idx],
             "ts": random_times(rng, intents["ts"][store_idx], intents["ts"][store_idx] + DAY, "daytime")}
    return {"route": route, "checkout": checkout, "phone": phone, "store": store}


def _checkouts(rng, customers: dict, cust, start, win: Window, device=None) -> dict:
    """Funnel outcome per attempt: 0 start only, 1 reached payment, 2 confirmed (device: from the
    customer's habit unless given)."""
    n = cust.size
    device = pick_devices(rng, customers, cust) if device is None else device
    q = np.where(start >= win.drift, 1 - fx.PAYMENT_DROP_AFTER, 1 - fx.PAYMENT_DROP_BEFORE)
    switch = (device == 2) & (rng.random(n) < fx.APP_SWITCH_RATE)
    p_pay = np.array([fx.PAY_REACH[d] for d in ("desktop", "mobile", "app")])[device]
    p_pay = np.where(switch, p_pay - fx.SWITCH_PENALTY / q, p_pay)
    pay = rng.random(n) < p_pay
    reached = pay.astype(np.int8) + (pay & (rng.random(n) < q))
    call_delay = rng.integers(60, 600, n)
    wait, handle = first_contact(rng, np.zeros(n, np.int8))
    gap = np.where(switch & (reached == 2), call_delay + wait + handle, 0)
    parts = ([(LAND, True)] + browsing(5, rng.integers(1, 6, n))
             + [(P["/cart"], True), (P["/checkout/start"], True),
                (P["/checkout/payment"], reached >= 1), (P["/checkout/confirmed"], reached == 2, gap)])
    return {"cust": cust, "start": start, "device": device, "reached": reached, "switch": switch,
            "p_complete": p_pay * q, "call_delay": call_delay, "wait": wait, "handle": handle,
            "plan": plan(rng, cust, start, device, "checkout", parts)}


def return_checkouts(rng, customers: dict, cart: dict, win: Window) -> dict:
    """E9: the checkout attempts of customers coming back to an abandoned cart, in the browser. They
    run through the ordinary funnel (E6 drift included) but place no order, so the order-based
    effects (E2, E5, E7) stay as planted."""
    return _checkouts(rng, customers, cart["return_cust"], cart["return_start"], win, device=cart["return_device"])


def _phone_orders(rng, customers: dict, intents: dict, is_phone) -> dict:
    """Phone orders in office hours; most traditional callers browsed on a desktop first."""
    idx = np.flatnonzero(is_phone)
    cust = intents["cust"][idx]
    ts = random_times(rng, intents["ts"][idx], intents["ts"][idx] + DAY, "office")
    p = np.where(customers["traditional"][cust], fx.PHONE_BROWSE_P["traditional"], fx.PHONE_BROWSE_P["other"])
    browsed = rng.random(idx.size) < p
    pages = rng.integers(2, 7, browsed.sum())
    start = ts[browsed] - rng.integers(20 * 60, 150 * 60, browsed.sum())
    browse = plan(rng, cust[browsed], start, np.zeros(browsed.sum(), np.int8), "phone_browse",
                  [(LAND, True)] + browsing(6, pages))
    return {"intent": idx, "cust": cust, "ts": ts, "browsed": browsed, "plan": browse}


def make_orders(rng, customers: dict, purchases: dict, checkout_ts: np.ndarray, win: Window) -> dict:
    """Orders from confirmed checkouts (at `checkout_ts`), phone calls and store visits."""
    co, ph, st = purchases["checkout"], purchases["phone"], purchases["store"]
    done = co["reached"] == 2
    channel = np.concatenate([np.where(co["device"][done] == 2, 1, 0), np.full(ph["cust"].size, 2),
                              np.full(st["cust"].size, 3)]).astype(np.int8)
    cust = np.concatenate([co["cust"][done], ph["cust"], st["cust"]])
    ts = np.concatenate([after(rng, checkout_ts[done], 1, 5), ph["ts"], st["ts"]])
    intent = np.concatenate([co["intent"][done], ph["intent"], st["intent"]])
    order = np.lexsort((cust, ts))
    order = order[ts[order] < win.end]
    cust, ts, channel, intent = cust[order], ts[order], channel[order], intent[order]
    segment = customers["segment"][cust]
    amount = np.round(np.exp(np.log(np.array([40.0, 95.0, 220.0])[segment]) + rng.normal(0, .6, cust.size)), 2)
    return {"cust": cust, "ts": ts, "channel": channel, "intent": intent, "amount": amount,
            "n_items": 1 + rng.poisson(np.array([1.0, 1.6, 4.0])[segment])}
