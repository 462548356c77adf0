"""Parcels: shipping, promised and actual delivery dates, and what lateness sets off (E2).

Every web, app and phone order is shipped within about a day and promised for two (phone:
three) days after the order date. The delay follows `DAYS_LATE`; 8 % arrive more than three
days late, and from the drift date on 15 % of parcels four days later still (E2 drift). Waiting
customers check /track-order and some call "where is my parcel?".
"""

from __future__ import annotations

import numpy as np

from . import effects as fx
from .cases import REASONS, channels, seeds
from .clickstream import P, plan
from .people import pick_devices
from .timeline import DAY, HOUR, Window, random_times, to_local, to_utc

CARRIERS = ("PostNL", "DHL")
WISMO_P = {"late": 0.50, "slightly_late": 0.15}  # P(contact about the parcel)
TRACK_P = 0.30  # P(a parcel is tracked on the website at least once)


def make_deliveries(rng, orders: dict, win: Window) -> dict:
    """One parcel per non-store order: shipped, promised and delivered times (UTC)."""
    idx = np.flatnonzero(orders["channel"] != 3)
    ordered = orders["ts"][idx]
    shipped = random_times(rng, ordered + 4 * HOUR, ordered + 30 * HOUR, "daytime")
    order_day = to_local(ordered) // DAY
    promised_day = order_day + np.where(orders["channel"][idx] == 2, 3, 2)
    late = rng.choice(list(fx.DAYS_LATE), idx.size, p=list(fx.DAYS_LATE.values()))
    late = late + drift_delay(rng, ordered >= win.drift)
    day_lo = to_utc((promised_day + late) * DAY)
    delivered = np.maximum(random_times(rng, day_lo, day_lo + DAY, "daytime"), shipped + 3 * HOUR)
    return {"order": idx, "cust": orders["cust"][idx], "shipped": shipped, "delivered": delivered,
            "promised_day": promised_day, "days_late": to_local(delivered) // DAY - promised_day,
            "carrier": (rng.random(idx.size) < 0.3).astype(np.int8)}


def drift_delay(rng, in_drift: np.ndarray) -> np.ndarray:
    """E2 drift: DRIFT_EXTRA_DAYS more for LATE_DRIFT_SHARE of the parcels ordered in the drift window,
    drawn from a child stream so that every other draw of this step stays as it was."""
    child = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])
    hit = in_drift & (child.random(in_drift.size) < fx.LATE_DRIFT_SHARE)
    return np.where(hit, fx.DRIFT_EXTRA_DAYS, 0)


def tracking_sessions(rng, customers: dict, parcels: dict, win: Window) -> dict:
    """/track-order visits while waiting: some parcels once, late ones again and again."""
    late = parcels["days_late"] > fx.LATE_DAYS
    n = rng.binomial(1, TRACK_P, late.size) + np.where(late, rng.poisson(1.5, late.size), 0)
    which = np.repeat(np.arange(late.size), n)
    start = random_times(rng, parcels["shipped"][which], parcels["delivered"][which])
    keep = start < win.end
    which, start = which[keep], start[keep]
    cust = parcels["cust"][which]
    full = rng.random(which.size) < .5
    return plan(rng, cust, start, pick_devices(rng, customers, cust), "track",
                [(P["/home"], full), (P["/account/orders"], full), (P["/track-order"], True)],
                referrer=np.where(full, 0, 4))


def wismo_seeds(rng, customers: dict, parcels: dict, win: Window) -> dict:
    """'Where is my order?' contacts between the promised day and the late delivery."""
    dl = parcels["days_late"]
    p = np.where(dl > fx.LATE_DAYS, WISMO_P["late"], np.where(dl > 0, WISMO_P["slightly_late"], 0))
    lo = to_utc((parcels["promised_day"] + 1) * DAY)
    pick = np.flatnonzero((rng.random(dl.size) < p) & (parcels["delivered"] - lo > 2 * HOUR) & (lo < win.end))
    t_open = random_times(rng, lo[pick], np.minimum(parcels["delivered"][pick], win.end), "office")
    cust = parcels["cust"][pick]
    return seeds(rng, cust, t_open, channels(rng, customers, cust),
                 np.full(pick.size, REASONS.index("DELIVERY_STATUS")), "delivery")
