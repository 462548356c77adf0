"""Contact-centre cases: why customers get in touch and the steps a case goes through.

Cases come from four origins: everyday questions, calls during an app checkout (E1), "where
is my parcel" contacts about late deliveries, and follow-ups of unresolved cases. A case is
opened, assigned, sometimes transferred to another queue (department hand-off, a null
control), sometimes continued on another channel (E4), resolved and closed. Whether a case
is a repeat contact (E3) is read off the final timeline, never planted directly.
"""

from __future__ import annotations

import numpy as np

from . import effects as fx
from .clickstream import P, plan
from .people import active_from, pick_devices
from .timeline import DAY, HOUR, Window, after, random_times

CHANS = ("TEL", "CHAT", "MAIL")
QUEUES = ("Q10", "Q20", "Q30", "Q40", "Q50", "Q99")  # Q99 (overflow) has no department mapping
DEPARTMENTS = {"Q10": "billing", "Q20": "delivery", "Q30": "technical", "Q40": "sales",
               "Q50": "customer care"}
REASONS = ("INVOICE", "PAYMENT", "REFUND", "DELIVERY_STATUS", "DAMAGED", "RETURN", "APP_ISSUE",
           "LOGIN", "APP_CHECKOUT", "PRODUCT_INFO", "ORDER_CHANGE", "COMPLAINT", "ACCOUNT")
REASON_QUEUE = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4])
EVERYDAY_P = np.array([8, 5, 6, 8, 3, 8, 5, 4, 0, 8, 5, 3, 4], float)
ACTIONS = ("opened", "assigned", "transferred", "channel_change", "resolved", "closed")
ORIGINS = ("everyday", "follow_up", "app_checkout", "delivery")
CASE_RATE = 0.40  # everyday cases per customer-year
OVERFLOW_P = 0.03  # P(opened in the unmapped overflow queue Q99)
HELP_PAGE_P = 0.30  # P(web users read /help and /contact before calling or chatting)


def first_contact(rng, chan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Queue wait and first handling time in seconds for cases opened on `chan`."""
    wait = np.choose(chan, [rng.exponential(120, chan.size) + 5, rng.exponential(60, chan.size) + 3,
                            rng.exponential(8 * HOUR, chan.size) + 600])
    handle = np.choose(chan, [rng.uniform(180, 900, chan.size), rng.uniform(300, 1200, chan.size),
                              rng.uniform(300, 900, chan.size)])
    return wait.astype(np.int64), handle.astype(np.int64)


def seeds(rng, cust, t_open, chan, reason, origin: str, wait=None, handle=None) -> dict:
    """Cases to be played out: who, when, how and why they were opened."""
    chan = np.asarray(chan, np.int8)
    if wait is None:
        wait, handle = first_contact(rng, chan)
    queue = np.where(rng.random(cust.size) < OVERFLOW_P, QUEUES.index("Q99"), REASON_QUEUE[reason])
    return {"cust": cust.astype(np.int32), "t_open": t_open.astype(np.int64), "chan": chan,
            "queue": queue.astype(np.int8), "reason": np.asarray(reason, np.int8),
            "origin": np.full(cust.size, ORIGINS.index(origin), np.int8), "wait": wait, "handle": handle}


def channels(rng, customers: dict, cust: np.ndarray) -> np.ndarray:
    """Contact channel by persona: traditional customers phone, others also chat and mail."""
    trad = customers["traditional"][cust]
    return np.where(trad, rng.choice(3, cust.size, p=(.85, .05, .10)),
                    rng.choice(3, cust.size, p=(.40, .40, .20))).astype(np.int8)


def everyday_seeds(rng, customers: dict, win: Window) -> dict:
    """Questions about invoices, returns, products and accounts, in office hours."""
    lo = active_from(customers, win)
    counts = rng.poisson(CASE_RATE * (win.end - lo) / (365.25 * DAY))
    cust = np.repeat(np.arange(lo.size), counts)
    reason = rng.choice(len(REASONS), cust.size, p=EVERYDAY_P / EVERYDAY_P.sum())
    return seeds(rng, cust, random_times(rng, lo[cust], win.end, "office"),
                 channels(rng, customers, cust), reason, "everyday")


def checkout_call_seeds(rng, checkout: dict, pre_call_ts: np.ndarray) -> dict:
    """E1: app customers who phone during checkout, `call_delay` after their last page."""
    sw = np.flatnonzero(checkout["switch"])
    reason = np.where(rng.random(sw.size) < .6, REASONS.index("APP_CHECKOUT"), REASONS.index("PAYMENT"))
    return seeds(rng, checkout["cust"][sw], pre_call_ts + checkout["call_delay"][sw], np.zeros(sw.size),
                 reason, "app_checkout", wait=checkout["wait"][sw], handle=checkout["handle"][sw])


def play_out(rng, s: dict) -> dict:
    """Step times and attributes as (cases x ACTIONS) matrices; absent steps have present=False."""
    n = s["cust"].size
    transfer = rng.random(n) < fx.TRANSFER_RATE
    switch = rng.random(n) < fx.CASE_SWITCH_RATE
    queue1 = (s["queue"] + rng.integers(1, 5, n)) % 5  # another department
    chan1 = np.where(s["chan"] == 0, 2, 0)  # chat/mail continue by phone, calls by mail
    wait1, handle1 = rng.exponential(180, n).astype(np.int64) + 5, rng.integers(120, 900, n)
    t_assign = s["t_open"] + s["wait"]
    t_transfer = t_assign + s["handle"]
    t_done = np.where(transfer, t_transfer + wait1 + handle1, t_transfer)
    t_change = after(rng, t_done, 600, DAY)
    handle2 = rng.integers(180, 900, n)
    t_resolved = np.where(switch, t_change + handle2, t_done)
    t_closed = t_resolved + np.where(s["chan"] == 2, rng.integers(HOUR, 2 * DAY, n), rng.integers(30, 600, n))
    q_now = np.where(transfer, queue1, s["queue"])
    c_now = np.where(switch, chan1, s["chan"])
    missing = np.full(n, -1)
    return {**s, "transfer": transfer, "switch": switch,
            "t": np.column_stack([s["t_open"], t_assign, t_transfer, t_change, t_resolved, t_closed]),
            "present": np.column_stack([np.ones(n, bool)] * 2 + [transfer, switch] + [np.ones(n, bool)] * 2),
            "step_chan": np.column_stack([s["chan"]] * 3 + [chan1, c_now, c_now]).astype(np.int8),
            "step_queue": np.column_stack([s["queue"]] * 2 + [queue1, q_now, q_now, q_now]).astype(np.int8),
            "wait_s": np.column_stack([missing, s["wait"], wait1, missing, missing, missing]),
            "handle_s": np.column_stack([missing, s["handle"], handle1, handle2, missing, missing])}


def make_cases(rng, customers: dict, seed_list: list[dict], win: Window) -> dict:
    """Play out all seeds and their follow-ups; number the cases; flag repeat contacts."""
    played, gen = [], concat(seed_list)
    while gen["cust"].size:
        gen = play_out(rng, gen)
        played.append(gen)
        closed = gen["t"][:, -1]
        follow = np.where(closed >= win.drift, fx.FOLLOW_UP_P_DRIFT, fx.FOLLOW_UP_P)   # E3 worsens from the drift
        spawn = np.flatnonzero((closed < win.end) & (rng.random(closed.size) < follow))
        t_open = random_times(rng, closed[spawn] + HOUR, closed[spawn] + (fx.REPEAT_DAYS * DAY - 12 * HOUR), "office")
        same = rng.random(spawn.size) < 0.6
        chan = np.where(same, gen["chan"][spawn], channels(rng, customers, gen["cust"][spawn]))
        gen = seeds(rng, gen["cust"][spawn], t_open, chan, gen["reason"][spawn], "follow_up")
    cases = concat(played)
    order = np.lexsort((cases["cust"], cases["t_open"]))
    order = order[cases["t_open"][order] < win.end]
    cases = {k: v[order] for k, v in cases.items()}
    cases["present"] &= cases["t"] < win.end
    cases["closed"] = cases["present"][:, -1]
    cases["last_ts"] = np.where(cases["present"], cases["t"], 0).max(axis=1)
    cases["repeat"] = repeat_flags(cases["cust"], cases["t_open"], cases["last_ts"])
    return cases


def repeat_flags(cust, t_open, last_ts) -> np.ndarray:
    """True where the customer's previous case (by opening) ended <= REPEAT_DAYS before."""
    order = np.lexsort((t_open, cust))
    c, o, e = cust[order], t_open[order], last_ts[order]
    rep = np.zeros(c.size, bool)
    rep[1:] = (c[1:] == c[:-1]) & (o[1:] - e[:-1] <= fx.REPEAT_DAYS * DAY)
    out = np.empty_like(rep)
    out[order] = rep
    return out


def help_pages(rng, customers: dict, cases: dict) -> dict:
    """Web users often read /help and /contact shortly before calling or chatting."""
    web_user = ~customers["traditional"][cases["cust"]]
    pick = np.flatnonzero(web_user & (cases["chan"] <= 1) & (cases["origin"] <= 1)
                          & (rng.random(web_user.size) < HELP_PAGE_P))
    cust = cases["cust"][pick]
    start = cases["t_open"][pick] - rng.integers(5 * 60, 40 * 60, pick.size)
    return plan(rng, cust, start, pick_devices(rng, customers, cust), "help",
                [(P["/home"], rng.random(pick.size) < .5), (P["/help"], True), (P["/contact"], True)])


def concat(tables: list[dict]) -> dict:
    """Row-wise concatenation of column dicts with the same keys."""
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def steps(cases: dict) -> dict:
    """One row per case step, in time order (ties: case, then step order)."""
    case, action = np.nonzero(cases["present"])
    t = cases["t"][case, action]
    order = np.lexsort((action, case, t))
    case, action, t = case[order], action[order], t[order]
    return {"case": case, "action": action.astype(np.int8), "t": t, "cust": cases["cust"][case],
            "chan": cases["step_chan"][case, action], "queue": cases["step_queue"][case, action],
            "wait": cases["wait_s"][case, action], "handle": cases["handle_s"][case, action],
            "reason": cases["reason"][case]}
