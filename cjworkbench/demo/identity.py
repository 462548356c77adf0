"""Identity fragmentation planted in the demo, with its truth (issue #17).

Two ways the same customer ends up under another key, as in real silos:
- **Callers without a customer number.** Part of the E1 calls (app checkout -> phone) were logged
  by an agent who did not find the customer: the case log's `cust_no` holds the phone number as
  typed, in one of the agents' formats. The app -> phone hand-off of those sessions is visible only
  once the phone number is matched to the CRM (a deterministic key after normalisation).
- **Guest checkouts.** Part of the web orders were placed as a guest: no customer number, a guest
  e-mail (often a second address), the name as typed (case, a slipped letter) and the phone as
  typed (sometimes with one wrong digit). A guest with the CRM e-mail or phone is a key match; the
  rest need the model (name + phone head/tail).
- **The business desk.** Every app-checkout call of a Business customer reaches the business desk,
  which logs callers by phone number only: for that segment the app -> phone hand-off (E1's gap) is
  not visible by customer number at all, and is recovered once the phone number is linked.
- **Anonymous web visits.** Some customers browse before logging in: a visit without a customer
  number, 35-180 minutes before a logged-in visit on the same device and home IP (households share
  one). Most carry the device's cookie (a deterministic key once the same cookie logs in); the rest
  a fresh cookie, left to the model (IP, user agent, same IP on the same day).
Every fragmented record's true customer is in truth.json (`identity.records`: "source:journey_id"
-> cust_no). Draws come from their own generator, so the other planted effects are unchanged.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from . import effects as fx
from .cases import ORIGINS
from .clickstream import INTERNAL, P
from .names import EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, PHONE_FORMATS, ascii_fold
from .people import SEGMENTS
from .purchases import ORDER_CHANNELS

CALLER_SHARE = 0.4        # of the E1 (app checkout) calls: logged by phone number, not customer number
GUEST_SHARE = 0.10        # of the web orders: guest checkouts
GUEST_SAME_EMAIL = 0.35   # guests who typed their CRM e-mail (the rest use a second address)
PHONE_TYPO = 0.25         # guests whose phone has one wrong digit
NAME_LOWER, NAME_TYPO = 0.3, 0.1
DESK_SEGMENT = "Business"  # every app-checkout call of this segment is logged by phone number (the business desk)
ANON_SHARE = 0.15         # of customers with a web visit from 11:00 on: one anonymous visit before it
ANON_NEW_COOKIE = 0.3     # of the anonymous visits: a fresh cookie, never seen with a login
ANON_GAP_MIN = (35, 180)  # minutes from the anonymous visit's last page to the login visit (> one 30-min session)
ANON_PAGES = ("/home", "/search", "/product")
HOME_IPS = 0.8            # home IP numbers per customer: fewer than customers, so households share one


def fragment_calls(rng, rows: dict, cases: dict, customers: dict) -> tuple[dict, dict]:
    """Case-log rows with `caller_fmt` (-1: the customer number is known) and `phone` added; the
    truth of every caller case (case number -> customer index)."""
    n = cases["cust"].size
    e1 = cases["origin"] == ORIGINS.index("app_checkout")
    desk = e1 & (customers["segment"][cases["cust"]] == SEGMENTS.index(DESK_SEGMENT))
    caller = e1 & ((rng.random(n) < CALLER_SHARE) | desk)   # the same draws as without the desk
    fmt = rng.integers(0, len(PHONE_FORMATS), n)
    case_no = rows["case_no"]
    rows = {**rows, "caller_fmt": np.where(caller[case_no], fmt[case_no], -1).astype(np.int8),
            "phone": customers["phone"][rows["cust"]]}
    return rows, {int(k): int(cases["cust"][k]) for k in np.flatnonzero(caller)}


def caller_sql(cust_no_sql: str) -> str:
    """The case log's cust_no: the phone number as the agent typed it for a caller case."""
    formats = "[" + ", ".join("'" + f.replace("{a}", "") + "'" for f in PHONE_FORMATS) + "]"
    return f"CASE WHEN caller_fmt >= 0 THEN {formats}[caller_fmt + 1] || phone::VARCHAR ELSE {cust_no_sql} END"


def guest_columns(rng, o: dict, customers: dict, crm_email: pa.Array) -> tuple[dict, dict]:
    """Columns guest_email, guest_name, guest_phone (null unless a guest checkout) and the truth
    (order number -> customer index) with what was planted on each."""
    n = o["cust"].size
    guest = (o["channel"] == ORDER_CHANNELS.index("web")) & (rng.random(n) < GUEST_SHARE)
    idx = np.flatnonzero(guest)
    cust = o["cust"][idx]
    first = [FIRST_NAMES[i] for i in customers["first"][cust]]
    last = [LAST_NAMES[i] for i in customers["last"][cust]]
    same = rng.random(idx.size) < GUEST_SAME_EMAIL
    dom = rng.integers(0, len(EMAIL_DOMAINS), idx.size)
    crm = crm_email.to_pylist()
    second = [f"{ascii_fold(f)[:1]}{ascii_fold(s)}{int(y) % 100:02d}@{EMAIL_DOMAINS[d]}"
              for f, s, y, d in zip(first, last, customers["birth_year"][cust], dom)]
    email = [crm[c] if s else e for c, s, e in zip(cust, same, second)]
    style = rng.random(idx.size)
    name = [_typo(rng, f"{f} {s}") if u < NAME_TYPO else (f"{f} {s}".lower() if u < NAME_TYPO + NAME_LOWER
                                                          else f"{f} {s}")
            for f, s, u in zip(first, last, style)]
    digits = customers["phone"][cust].copy()
    typo = rng.random(idx.size) < PHONE_TYPO
    pos = rng.integers(0, 8, idx.size)
    wrong = (digits // 10 ** pos % 10 + rng.integers(1, 10, idx.size)) % 10
    digits = np.where(typo, digits + (wrong - digits // 10 ** pos % 10) * 10 ** pos, digits)
    digits = np.where(digits < 10_000_000, digits + 10_000_000, digits)   # keep 8 digits
    fmt = rng.integers(0, len(PHONE_FORMATS), idx.size)
    phone = [PHONE_FORMATS[f].replace("{a}", "") + str(d) for f, d in zip(fmt, digits)]

    def col(values):
        full = [None] * n
        for i, v in zip(idx, values):
            full[i] = v
        return pa.array(full, pa.string())

    truth = {int(i): int(c) for i, c in zip(idx, cust)}
    planted = {"guest_orders": int(idx.size), "same_email": int(same.sum()), "phone_typos": int(typo.sum()),
               "name_typos": int((style < NAME_TYPO).sum())}
    return {"guest": guest, "guest_email": col(email), "guest_name": col(name), "guest_phone": col(phone)}, \
        {"orders": truth, "planted": planted}


def _typo(rng, name: str) -> str:
    """Two neighbouring letters of the last word swapped ('Jansen' -> 'Jasnen')."""
    head, _, last = name.rpartition(" ")
    if len(last) < 4:
        return name
    i = int(rng.integers(1, len(last) - 2))
    return f"{head} {last[:i]}{last[i + 1]}{last[i]}{last[i + 2:]}"


def identity_truth(callers: dict, guests: dict, case_id, order_id, cust_no) -> dict:
    """truth.json's `identity`: the true customer number of every fragmented record."""
    records = {f"contact_centre:{case_id(k)}": cust_no(c) for k, c in sorted(callers.items())}
    records.update({f"orders:{order_id(k)}": cust_no(c) for k, c in sorted(guests["orders"].items())})
    return {"records": records, "planted": {"caller_cases": len(callers), **guests["planted"]},
            "rule": "a record is one customer_id; 'source:journey_id' names the case or order it carries; "
                    "its true person is the CRM customer number given"}


def anonymous_visits(rng, web: dict, n_customers: int, seed: int) -> tuple[dict, dict]:
    """Clickstream lines (with `utc`) plus the anonymous visits, re-sorted in UTC order. Every line
    gains `anon` (no customer number), `cookie` (-1: the customer's own cookie for that device, else
    a fresh cookie number) and `ip` (the customer's home IP number). Returns the lines and the truth
    ("web:session_id" -> customer index, counts)."""
    home_ip = rng.integers(0, max(1, int(n_customers * HOME_IPS)), n_customers)
    _, at = np.unique(web["sess"], return_index=True)   # each session's first line (lines are in UTC order)
    ok = at[(web["device"][at] < 2) & (web["local"][at] // 3600 % 24 >= 11) & (web["bad"][at] < 0)
            & (web["malformed"][at] == 0)]   # a logged-in desktop/mobile visit from 11:00: no DST hour nearby
    ok = ok[rng.permutation(ok.size)]
    _, one = np.unique(web["cust"][ok], return_index=True)   # one random such visit per customer
    login = np.sort(ok[one][rng.random(one.size) < ANON_SHARE])
    k = login.size
    n_hits = rng.integers(2, len(ANON_PAGES) + 1, k)
    gap = rng.integers(ANON_GAP_MIN[0] * 60, ANON_GAP_MIN[1] * 60, k)
    fresh = rng.random(k) < ANON_NEW_COOKIE
    v = np.repeat(np.arange(k), n_hits)
    pos = np.arange(v.size) - np.repeat(np.cumsum(n_hits) - n_hits, n_hits)
    back = gap[v] + (n_hits[v] - 1 - pos) * 90   # 90 s per page, the last page `gap` before the login
    pages = np.array([P[x] for x in ANON_PAGES])
    sess = web["sess"].max() + 1 + np.arange(k)
    add = {"sess": sess[v], "cust": web["cust"][login][v], "local": web["local"][login][v] - back,
           "utc": web["utc"][login][v] - back, "device": web["device"][login][v], "page": pages[pos],
           "ref": np.where(pos == 0, 1, INTERNAL + pages[np.maximum(pos - 1, 0)]), "ua": web["ua"][login][v],
           "bad": np.full(v.size, -1), "malformed": np.zeros(v.size, np.int8),
           "anon": np.ones(v.size, bool), "cookie": np.where(fresh, np.arange(k), -1)[v]}
    base = {**web, "anon": np.zeros(web["k"].size, bool), "cookie": np.full(web["k"].size, -1)}
    rows = {c: np.concatenate([base[c], add[c].astype(base[c].dtype)]) for c in add}
    order = np.lexsort((np.arange(rows["utc"].size), rows["utc"]))   # stable: duplicate lines stay together
    rows = {c: a[order] for c, a in rows.items()}
    rows["k"], rows["ip"] = np.arange(order.size), home_ip[rows["cust"]]
    sid = [hashlib.md5(f"{seed}:{x}".encode()).hexdigest()[:16] for x in sess]
    truth = {f"web:{s}": int(c) for s, c in zip(sid, web["cust"][login])}
    return rows, {"visits": truth, "lines": int(v.size),
                  "planted": {"anonymous_visits": int(k), "fresh_cookies": int(fresh.sum())}}


def handoff_truth(world: dict) -> dict:
    """The business desk's hand-off: E1 among Business customers' app checkout attempts, whose calls
    carry no customer number (by customer_id there is no app -> phone switch in that segment)."""
    co = world["purchases"]["checkout"]
    sel = (co["device"] == 2) & (world["customers"]["segment"][co["cust"]] == SEGMENTS.index(DESK_SEGMENT))
    sw = co["switch"]
    yes, no = co["p_complete"][sel & sw].mean(), co["p_complete"][sel & ~sw].mean()
    return {"segment": DESK_SEGMENT, "switch": ["app", "phone"],
            "rule": "every app-checkout call of a Business customer is logged by phone number only",
            "planted": {"completion_gap": -fx.SWITCH_PENALTY},
            "expected": {"n_attempts": int(sel.sum()), "n_switch": int((sel & sw).sum()), "n_switch_by_customer": 0,
                         "completion_switch": round(float(yes), 4), "completion_no_switch": round(float(no), 4),
                         "completion_gap": round(float(yes - no), 4)}}


def add_truth(truth: dict, world: dict) -> None:
    """truth.json's `identity` block; E1's expected switches split into those visible under the
    customer number (`n_switch`) and all of them, visible once callers are linked (`n_switch_linked`)."""
    number = lambda prefix, width: lambda k: f"{prefix}{k + 1:0{width}d}"   # noqa: E731
    truth["identity"] = identity_truth(world["callers"], world["guests"], number("CS", 7), number("ORD-", 8),
                                       number("C", 6))
    anon = world["anonymous"]
    truth["identity"]["records"].update({k: number("C", 6)(c) for k, c in sorted(anon["visits"].items())})
    truth["identity"]["planted"].update(anon["planted"])
    truth["identity"]["handoff"] = handoff_truth(world)
    e1 = truth["effects"]["E1"]["expected"]
    e1["n_switch_linked"] = e1["n_switch"]
    e1["n_switch"] = e1["n_switch"] - len(world["callers"])


def unique_emails(crm: pa.Table) -> pa.Table:
    """A CRM holds each e-mail address once: a later customer whose generated address is taken gets
    the first free number after its local part ('jan.jansen@' -> 'jan.jansen2@'), so an e-mail is a
    key that names one customer, as in a real CRM."""
    seen, out = set(), []
    for e in crm["email"].to_pylist():
        local, _, domain = e.partition("@")
        candidate, k = e, 1
        while candidate in seen:
            k += 1
            candidate = f"{local}{k}@{domain}"
        seen.add(candidate)
        out.append(candidate)
    return crm.set_column(crm.schema.get_field_index("email"), "email", pa.array(out, pa.string()))
