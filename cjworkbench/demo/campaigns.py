"""Marketing e-mail: a monthly campaign to part of the opted-in customers; opens and clicks.

A click lands on /promo in the browser, so campaigns also plan web sessions. No planted
effect: campaigns are context for journeys (awareness) and volume for the benchmarks.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from .clickstream import LAND, MAIL_REFERRER, browsing, plan
from .people import pick_devices
from .timeline import DAY, HOUR, Window, local_midnight

THEMES = ("New Year Deals", "Valentine", "Spring Sale", "Easter Treats", "May Offers",
          "Summer Kick-off", "Summer Sale", "Back to School", "Autumn Collection", "Halloween",
          "Black Friday", "Christmas Gifts")
EVENTS = ("Sent", "Open", "Click", "Unsubscribe")
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
