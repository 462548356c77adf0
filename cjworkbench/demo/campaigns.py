"""Marketing e-mail: a monthly campaign to part of the opted-in customers; opens and clicks.

A click lands on /promo in the browser, so campaigns also plan web sessions. The monthly
campaigns plant no effect: they are context for journeys (awareness) and volume for the
benchmarks. The cart reminder plants E9: abandoned carts of opted-in customers, a reminder
e-mail to a random half, and more returns to the checkout after it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from . import effects as fx
from .clickstream import LAND, MAIL_REFERRER, P, browsing, plan
from .people import active_from, pick_devices
from .timeline import DAY, HOUR, Window, local_midnight, random_times

THEMES = ("New Year Deals", "Valentine", "Spring Sale", "Easter Treats", "May Offers",
          "Summer Kick-off", "Summer Sale", "Back to School", "Autumn Collection", "Halloween",
          "Black Friday", "Christmas Gifts")
EVENTS = ("Sent", "Open", "Click", "Unsubscribe")
REMINDER = ("CMP-CART", "Your cart is waiting")  # the E9 reminder: campaign index len(calendar)
AUDIENCE_P = 0.30  # share of eligible (opted-in, signed-up) customers in a campaign
OPEN_P = np.array([0.25, 0.33, 0.30])  # by segment
CLICK_P = 0.22  # of opens
UNSUBSCRIBE_P = 0.003  # of sends


def campaign_calendar(win: Window) -> list[tuple[str, str, int]]:
    """(campaign id, name, send time UTC): the 10th of every month at 08:00 Amsterdam time."""
    out, day = [], win.start_date.replace(day=10)
    while (send := local_midnight(day) + 8 * HOUR) < win.end:
        if send >= win.start:
            out.append((f"CMP-{day:%Y-%m}", f"{THEMES[day.month - 1]} {day.year}", send))
        day = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=10)
    return out


def make_campaigns(rng, customers: dict, win: Window) -> tuple[dict, dict]:
    """E-mail events (campaign index, customer, event code, UTC time) and click sessions."""
    cols = {"campaign": [], "cust": [], "event": [], "ts": []}
    for k, (_, _, send) in enumerate(campaign_calendar(win)):
        cust = np.flatnonzero(customers["optin"] & (customers["signup"] < send)
                              & (rng.random(customers["optin"].size) < AUDIENCE_P))
        opened = rng.random(cust.size) < OPEN_P[customers["segment"][cust]]
        t_open = send + (rng.exponential(8 * HOUR, cust.size) + 60).astype(np.int64)
        clicked = opened & (rng.random(cust.size) < CLICK_P)
        t_click = t_open + (rng.exponential(1200, cust.size) + 10).astype(np.int64)
        unsub = rng.random(cust.size) < UNSUBSCRIBE_P
        t_unsub = send + (rng.exponential(DAY, cust.size) + 60).astype(np.int64)
        for code, sel, ts in ((0, np.ones(cust.size, bool), np.full(cust.size, send)), (1, opened, t_open),
                              (2, clicked, t_click), (3, unsub, t_unsub)):
            cols["campaign"].append(np.full(sel.sum(), k, np.int16))
            cols["cust"].append(cust[sel])
            cols["event"].append(np.full(sel.sum(), code, np.int8))
            cols["ts"].append(ts[sel])
    events = {k: np.concatenate(v) for k, v in cols.items()}
    keep = events["ts"] < win.end
    events = {k: v[keep] for k, v in events.items()}
    order = np.lexsort((events["event"], events["cust"], events["ts"]))
    events = {k: v[order] for k, v in events.items()}
    return events, _click_sessions(rng, customers, events)


def _click_sessions(rng, customers: dict, events: dict) -> dict:
    """A click opens /promo in the browser a few seconds later; some browse on."""
    click = events["event"] == 2
    cust = events["cust"][click]
    start = events["ts"][click] + rng.integers(2, 30, cust.size)
    pages = rng.geometric(0.45, cust.size) - 1
    return plan(rng, cust, start, pick_devices(rng, customers, cust, web_only=True), "promo",
                [(LAND, True)] + browsing(5, pages), referrer=np.full(cust.size, MAIL_REFERRER))


def abandoned_carts(rng, customers: dict, win: Window) -> dict:
    """E9 sessions: an opted-in customer browses and leaves at /cart (ended a week before the end)."""
    lo = active_from(customers, win)
    hi = win.end - (fx.RETURN_DAYS + 1) * DAY
    years = np.clip(hi - lo, 0, None) / (365.25 * DAY)
    cust = np.repeat(np.arange(lo.size), rng.poisson(fx.CART_RATE * years * customers["optin"]))
    start = random_times(rng, lo[cust], hi)
    parts = [(LAND, True)] + browsing(3, rng.integers(0, 4, cust.size)) + [(P["/cart"], True)]
    return plan(rng, cust, start, pick_devices(rng, customers, cust), "browse", parts)


def cart_reminders(rng, customers: dict, cust: np.ndarray, cart_ts: np.ndarray, win: Window) -> dict:
    """E9: a random REMINDER_SHARE of the abandoned carts get the reminder ("Sent") 24-48 h after
    the /cart hit; the customer comes back to a checkout in the browser within RETURN_DAYS with
    RETURN_P. Returns the e-mail events, who was reminded and the return checkouts to plan."""
    n = cust.size
    reminded = rng.random(n) < fx.REMINDER_SHARE
    lo, hi = (h * HOUR for h in fx.REMINDER_DELAY_HOURS)
    send = cart_ts + rng.integers(lo, hi, n)
    back = rng.random(n) < np.where(reminded, fx.RETURN_P["reminded"], fx.RETURN_P["not_reminded"])
    latest = cart_ts + fx.RETURN_DAYS * DAY - HOUR
    after_mail = np.minimum(send + (rng.exponential(12 * HOUR, n) + 120).astype(np.int64), latest)
    anyway = cart_ts + fx.IDLE_HOURS * HOUR + rng.integers(HOUR, (fx.RETURN_DAYS - 1) * DAY - HOUR, n)
    start = np.where(reminded, after_mail, anyway)
    sel = reminded & (send < win.end)
    k = int(sel.sum())
    emails = {"campaign": np.full(k, len(campaign_calendar(win)), np.int16), "cust": cust[sel].astype(np.int64),
              "event": np.zeros(k, np.int8), "ts": send[sel]}
    idx = np.flatnonzero(back & (start < win.end))
    return {"emails": emails, "reminded": reminded, "cart_ts": cart_ts, "cust": cust, "back": back,
            "return_cart": idx, "return_cust": cust[idx], "return_start": start[idx],
            "return_device": pick_devices(rng, customers, cust[idx], web_only=True)}


def merge_emails(a: dict, b: dict) -> dict:
    """Two e-mail event sets as one, in (time, customer, event) order."""
    out = {k: np.concatenate([a[k], b[k].astype(a[k].dtype)]) for k in a}
    order = np.lexsort((out["event"], out["cust"], out["ts"]))
    return {k: v[order] for k, v in out.items()}
