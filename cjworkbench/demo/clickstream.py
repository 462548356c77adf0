"""Web and app sessions: planned as page sequences by the other generators, expanded to hits.

A session plan is a handful of column arrays plus a `pages` matrix (one row per session, one
column per page slot, -1 for an empty slot) and a `gaps` matrix (extra seconds before a page,
e.g. the phone call in the middle of an app checkout). `expand` turns a list of plans into one
hit per page with realistic dwell times, filling the LAND and BROWSE placeholders.
"""

from __future__ import annotations

import numpy as np

from .people import active_from, pick_devices
from .timeline import DAY, Window, random_times

PAGES = ("/home", "/search", "/category", "/product", "/promo", "/cart", "/checkout/start",
         "/checkout/payment", "/checkout/confirmed", "/signup", "/verify-email", "/profile",
         "/preferences", "/account/orders", "/track-order", "/help", "/contact")
P = {page: i for i, page in enumerate(PAGES)}
LAND, BROWSE = -2, -3  # placeholders: the landing page (from the referrer) and a browsing page
DEVICES = ("desktop", "mobile", "app")
KINDS = ("browse", "checkout", "onboarding", "phone_browse", "promo", "track", "help")
REFERRERS = ("", "https://www.google.com/", "https://www.bing.com/", "https://www.facebook.com/",
             "https://mail.example.com/")
MAIL_REFERRER = 4
SITE = "https://www.shop.example"  # internal referrer prefix: the previous page
INTERNAL = 100  # referrer codes >= INTERNAL mean SITE + PAGES[code - INTERNAL]
USER_AGENTS = (  # per device: desktop, mobile, app
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:144.0) Gecko/20100101 Firefox/144.0",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Safari/605.1.15",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36 Edg/141.0.0.0"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1",
     "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Mobile Safari/537.36",
     "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36"),
    ("ShopApp/4.12.0 (iOS 18.6; iPhone15,2)", "ShopApp/4.12.0 (Android 15; Pixel 8)",
     "ShopApp/4.11.2 (Android 14; SM-S921B)"),
)
BROWSE_PAGES = np.array([P["/home"], P["/search"], P["/category"], P["/product"], P["/cart"]])
BROWSE_P = np.array([0.05, 0.15, 0.25, 0.50, 0.05])
MAX_BROWSE = 8
BROWSE_RATE = np.array([2.5, 3.2, 2.8])  # browse-only sessions per customer-year, by segment
DWELL_MEAN, DWELL_MIN = 40.0, 4  # seconds on a page


def plan(rng, cust, start, device, kind: str, parts, referrer=None) -> dict:
    """Sessions with pages from `parts`: (token, present[, gap seconds]) per page slot."""
    n = cust.size
    pages = np.full((n, len(parts)), -1, np.int8)
    gaps = np.zeros((n, len(parts)), np.int32)
    for j, part in enumerate(parts):
        pages[:, j] = np.where(np.broadcast_to(part[1], n), part[0], -1)
        if len(part) > 2:
            gaps[:, j] = part[2]
    order = np.argsort(pages == -1, axis=1, kind="stable")  # close the holes, keep the order
    device = np.asarray(device, np.int8)
    if referrer is None:
        referrer = np.where(device == 2, 0, rng.choice(4, n, p=(.35, .45, .1, .1)))
    return {"cust": cust.astype(np.int32), "start": start.astype(np.int64),
            "device": np.broadcast_to(device, n).astype(np.int8),
            "kind": np.full(n, KINDS.index(kind), np.int8),
            "referrer": np.broadcast_to(referrer, n).astype(np.int8),
            "pages": np.take_along_axis(pages, order, 1), "gaps": np.take_along_axis(gaps, order, 1)}


def browsing(n_max: int, counts) -> list[tuple]:
    """Page slots for up to `n_max` browsing pages, `counts` of them present per session."""
    return [(BROWSE, counts > i) for i in range(n_max)]


def browse_plans(rng, customers: dict, win: Window) -> dict:
    """Browse-only sessions: a few a year per customer, at evening-heavy times."""
    lo = active_from(customers, win)
    years = (win.end - lo) / (365.25 * DAY)
    counts = rng.poisson(BROWSE_RATE[customers["segment"]] * years * np.where(customers["traditional"], .6, 1))
    cust = np.repeat(np.arange(lo.size), counts)
    start = random_times(rng, lo[cust], win.end)
    n_pages = np.minimum(rng.geometric(0.3, cust.size), MAX_BROWSE)
    parts = [(LAND, True)] + browsing(MAX_BROWSE - 1, n_pages - 1)
    return plan(rng, cust, start, pick_devices(rng, customers, cust), "browse", parts)


def combine(plans: list[dict]) -> dict:
    """One plan from many, page matrices padded to the widest."""
    width = max(p["pages"].shape[1] for p in plans)
    out = {k: np.concatenate([p[k] for p in plans]) for k in plans[0] if k not in ("pages", "gaps")}
    for k in ("pages", "gaps"):
        out[k] = np.concatenate([np.pad(p[k], ((0, 0), (0, width - p[k].shape[1])),
                                        constant_values=-1 if k == "pages" else 0) for p in plans])
    return out


def expand(rng, sessions: dict) -> dict:
    """One hit per page: session index, position, page code, UTC time and referrer code."""
    mask = sessions["pages"] != -1
    lengths = mask.sum(axis=1)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    sess = np.repeat(np.arange(lengths.size), lengths)
    pos = np.arange(sess.size) - first[sess]
    page = _fill_placeholders(rng, sessions["pages"][mask], sessions["referrer"][sess], sessions["device"][sess])
    dwell = (rng.exponential(DWELL_MEAN, sess.size) + DWELL_MIN).astype(np.int64) + sessions["gaps"][mask]
    dwell[pos == 0] = 0
    elapsed = np.cumsum(dwell)
    ts = sessions["start"][sess] + elapsed - elapsed[first][sess]
    prev = np.concatenate([[0], page[:-1]]).astype(np.int16) + INTERNAL
    referrer = np.where(pos == 0, sessions["referrer"][sess], prev)
    referrer = np.where(sessions["device"][sess] == 2, 0, referrer)  # the app sends no referrer
    return {"session": sess, "pos": pos.astype(np.int16), "page": page, "ts": ts,
            "referrer": referrer.astype(np.int16), "first": first, "length": lengths}


def _fill_placeholders(rng, page, referrer, device) -> np.ndarray:
    """LAND -> a landing page that fits the referrer; BROWSE -> a weighted browsing page."""
    page = page.copy()
    land = page == LAND
    search = (referrer[land] >= 1) & (referrer[land] <= 3)
    page[land] = np.where(referrer[land] == MAIL_REFERRER, P["/promo"],
                          np.where(search, rng.choice(BROWSE_PAGES[1:4], land.sum(), p=(.2, .3, .5)),
                                   np.where(rng.random(land.sum()) < .8, P["/home"], P["/search"])))
    browse = page == BROWSE
    page[browse] = rng.choice(BROWSE_PAGES, browse.sum(), p=BROWSE_P)
    return page


def user_agents(device: np.ndarray, cust: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """All user-agent strings and, per hit, the one a customer's device sends."""
    flat = tuple(ua for per_device in USER_AGENTS for ua in per_device)
    size = np.array([len(u) for u in USER_AGENTS])
    offset = np.concatenate([[0], np.cumsum(size)[:-1]])
    return flat, (offset[device] + cust % size[device]).astype(np.int8)


def append(sessions: dict, hits: dict, more_sessions: dict, more_hits: dict) -> tuple[dict, dict]:
    """Sessions and hits of two expansions as one, session indices renumbered."""
    n_sess, n_hits = sessions["cust"].size, hits["ts"].size
    more_hits = {**more_hits, "session": more_hits["session"] + n_sess, "first": more_hits["first"] + n_hits}
    return combine([sessions, more_sessions]), {k: np.concatenate([hits[k], more_hits[k]]) for k in hits}


def last_hit_ts(hits: dict, sessions_idx: np.ndarray, back: np.ndarray | int = 0) -> np.ndarray:
    """UTC time of a session's last hit (or the hit `back` places before it)."""
    return hits["ts"][hits["first"][sessions_idx] + hits["length"][sessions_idx] - 1 - back]
