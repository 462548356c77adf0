"""The customer base: who the retailer's customers are and the habits the generators use.

Customers are numbered in signup order (C000001 is the oldest). A share signs up inside the
window and goes through onboarding; the rest were customers before it started. The persona
(born before 1960: "traditional", E5) sets the device habit and the preferred purchase channel.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import effects as fx
from .names import CITIES, EMAIL_DOMAINS, FIRST_NAMES, INCOME_BANDS, LAST_NAMES, PHONE_FORMATS, ascii_fold
from .timeline import DAY, Window, local_midnight, random_times, to_local

SEGMENTS = ("Value", "Premium", "Business")
SEGMENT_P = (0.55, 0.30, 0.15)
NEW_SHARE = 0.55  # sign up inside the window
OPTIN_RATE = 0.65
HABITS = ("traditional", "app_user", "web_user")
CRM_SINCE = dt.date(2012, 1, 1)


def make_customers(rng: np.random.Generator, n: int, win: Window) -> dict[str, np.ndarray]:
    """Column arrays, one row per customer, sorted by signup time."""
    is_new = rng.random(n) < NEW_SHARE
    old = rng.integers(local_midnight(CRM_SINCE), win.start - DAY, n)
    signup = np.where(is_new, random_times(rng, win.start, win.end, size=n), old)
    order = np.argsort(signup, kind="stable")
    birth_year = _birth_years(rng, n)
    traditional = birth_year < fx.TRADITIONAL_BEFORE
    habit = np.where(traditional, 0, np.where(rng.random(n) < fx.APP_USER_SHARE, 1, 2))
    segment = rng.choice(len(SEGMENTS), n, p=SEGMENT_P)
    city_w = np.array([c[2] for c in CITIES])
    return {
        "signup": signup[order], "is_new": is_new[order],
        "birth_year": birth_year, "traditional": traditional, "habit": habit, "segment": segment,
        "income": np.clip(segment + rng.choice([0, 1, 2, 3], n, p=(.25, .35, .25, .15))
                          - rng.integers(0, 2, n), 0, len(INCOME_BANDS) - 1),
        "city": rng.choice(len(CITIES), n, p=city_w / city_w.sum()),
        "first": rng.integers(0, len(FIRST_NAMES), n), "last": rng.integers(0, len(LAST_NAMES), n),
        "email_style": rng.integers(0, 4, n), "domain": rng.integers(0, len(EMAIL_DOMAINS), n),
        "phone_style": rng.integers(0, len(PHONE_FORMATS), n),
        "phone": rng.integers(10_000_000, 100_000_000, n), "optin": rng.random(n) < OPTIN_RATE,
    }


def _birth_years(rng, n: int) -> np.ndarray:
    """Adults born 1936-2006, about 15 % before 1960."""
    old = rng.random(n) < 0.15
    return np.where(old, rng.integers(1936, 1960, n), rng.integers(1960, 2007, n))


def active_from(customers: dict, win: Window) -> np.ndarray:
    """When each customer's history in the window starts: the window start or the signup."""
    return np.maximum(customers["signup"], win.start)


def pick_devices(rng: np.random.Generator, customers: dict, cust: np.ndarray, web_only=False) -> np.ndarray:
    """A device code (0 desktop, 1 mobile, 2 app) per session, from each customer's habit."""
    table = np.array([fx.DEVICE_P[h] for h in HABITS])
    if web_only:  # a link in an e-mail opens the browser, not the app
        table = np.column_stack([table[:, 0], table[:, 1] + table[:, 2], np.zeros(len(HABITS))])
    cum = np.cumsum(table, axis=1)[customers["habit"][cust]]
    return (rng.random(cust.size)[:, None] > cum[:, :2]).sum(axis=1).astype(np.int8)


def crm_table(customers: dict) -> pa.Table:
    """The CRM master as exported: personal fields as text, signup as a dd-mm-yyyy date."""
    n = customers["signup"].size
    first = pa.array(FIRST_NAMES).take(customers["first"])
    last = pa.array(LAST_NAMES).take(customers["last"])
    signup_day = (to_local(customers["signup"]) // DAY).astype("datetime64[D]")
    city = customers["city"]
    return pa.table({
        "cust_no": customer_numbers(np.arange(n)),
        "first_name": first, "last_name": last,
        "email": _emails(customers), "phone": _phones(customers),
        "birth_year": customers["birth_year"],
        "city": pa.array([c[0] for c in CITIES]).take(city),
        "region": pa.array([c[1] for c in CITIES]).take(city),
        "income_band": pa.array(INCOME_BANDS).take(customers["income"]),
        "segment": pa.array(SEGMENTS).take(customers["segment"]),
        "signup_date": pc.strftime(pa.array(signup_day), format="%d-%m-%Y"),
        "marketing_optin": pa.array(np.where(customers["optin"], "J", "N")),
    })


def customer_numbers(idx: np.ndarray) -> pa.Array:
    """Customer index -> 'C000001' style numbers."""
    return pc.binary_join_element_wise("C", pc.utf8_lpad(pa.array(idx + 1).cast(pa.string()), 6, "0"), "")


def _emails(customers: dict) -> pa.Array:
    """first.last@, f.last@, firstlast1984@ or last42@ at a reserved example domain."""
    first = pa.array([ascii_fold(f) for f in FIRST_NAMES]).take(customers["first"])
    last = pa.array([ascii_fold(s) for s in LAST_NAMES]).take(customers["last"])
    year = pa.array(customers["birth_year"]).cast(pa.string())
    num = pa.array(customers["phone"] % 97).cast(pa.string())
    local = pc.choose(pa.array(customers["email_style"]),
                      pc.binary_join_element_wise(first, last, "."),
                      pc.binary_join_element_wise(pc.utf8_slice_codeunits(first, 0, 1), last, "."),
                      pc.binary_join_element_wise(first, last, year, ""),
                      pc.binary_join_element_wise(last, num, ""))
    return pc.binary_join_element_wise(local, pa.array(EMAIL_DOMAINS).take(customers["domain"]), "@")


def _phones(customers: dict) -> pa.Array:
    """The same kind of Dutch mobile number in the formats agents typed it in."""
    digits = pa.array(customers["phone"]).cast(pa.string())
    prefix = pa.array([f.replace("{a}", "") for f in PHONE_FORMATS]).take(customers["phone_style"])
    return pc.binary_join_element_wise(prefix, digits, "")
