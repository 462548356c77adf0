"""Free-text comments (E8): themes tied to their causes, plus the personal data people type.

A comment is one or more theme phrases (each theme drawn with its cause-group rate, or its
base rate for everyone else), else a generic phrase. Every phrase of a theme matches the
theme's pattern in `PATTERNS`, and no other phrase does, so the planted rates can be measured
with a regular expression. A few comments carry a fake e-mail address or phone number, as
real verbatims do, and a few CSAT/CES comments span two lines.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import effects as fx
from .names import EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, ascii_fold

PHRASES = {
    "late_delivery": ("My parcel arrived late.", "Still waiting for my parcel, it is a week late now.",
                      "Delivery came days later than promised.", "The package was late again.",
                      "Still waiting for my order."),
    "repeat_contact": ("I called again because nothing happened.", "Not resolved the first time.",
                       "Had to contact you twice for the same problem.",
                       "Third time I am asking about this."),
    "app_payment": ("The app crashed at payment.", "App froze on the payment screen so I phoned.",
                    "Payment in the app kept failing."),
    "price_value": ("Too expensive for what you get.", "Prices went up again.",
                    "Not good value for money.", "Shipping costs are too high."),
    "friendly_staff": ("The agent was very friendly.", "Friendly and helpful staff.",
                       "Sanne on the phone was really helpful.", "Kind and patient employee."),
    "verification": ("The verification e-mail never arrived.", "Could not verify my e-mail address.",
                     "Verification link did not work."),
}
PATTERNS = {
    "late_delivery": r"(?i)\blate\b|later than promised|still waiting",
    "repeat_contact": r"(?i)called again|not resolved|twice for the same|third time",
    "app_payment": r"(?i)crashed|froze|kept failing",
    "price_value": r"(?i)expensive|prices|value for money|costs",
    "friendly_staff": r"(?i)friendly|helpful|kind and patient",
    "verification": r"(?i)verif",
}
GENERIC = ("Nothing to add.", "Good service overall.", "Fast and easy.", "Nice products.",
           "Website is clear.", "Keep it up!", "Ok.", "Everything went fine.", "Good quality.",
           "Would buy again.", "Decent experience.", "Prima!", "Top.")
EMAIL_PATTERN = r"[a-z.]+@(mail\.)?example\.(com|net|org)"
PHONE_PATTERN = r"06-\d{8}"
MULTILINE_RATE = 0.05  # P(a CSAT/CES comment of two or more sentences is broken over two lines)


def compose(rng, causes: dict[str, np.ndarray], rate, multiline: bool = False) -> pa.Array:
    """One comment per row, null where none was written; `causes` flags each theme's cause group."""
    n = next(iter(causes.values())).size
    written = rng.random(n) < rate
    parts, themed = [], np.zeros(n, bool)
    for theme, phrases in PHRASES.items():
        spec = fx.THEMES[theme]
        p = np.where(causes.get(theme, np.zeros(n, bool)), spec["rate"], spec["base"])
        on = written & (rng.random(n) < p)
        themed |= on
        parts.append(_pick(rng, phrases, on))
    parts.append(_pick(rng, GENERIC, written & (~themed | (rng.random(n) < .3))))
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(
        pc.binary_join_element_wise(*parts, " "), r"\s+", " "))
    text = _personal_data(rng, text, written)
    if multiline:
        split = written & (rng.random(n) < MULTILINE_RATE)
        text = pc.if_else(pa.array(split), pc.replace_substring(text, ". ", ".\n", max_replacements=1), text)
    return pc.if_else(pa.array(written), text, pa.scalar(None, pa.string()))


def planted_counts(text: pa.Array) -> dict:
    """Comments with a planted e-mail address, phone number or line break (for truth.json)."""
    def count(pattern: str) -> int:
        return int(pc.sum(pc.match_substring_regex(text.fill_null(""), pattern)).as_py() or 0)
    return {"with_email": count(EMAIL_PATTERN), "with_phone": count(PHONE_PATTERN), "multiline": count("\n")}


def _pick(rng, phrases, on: np.ndarray) -> pa.Array:
    """A random phrase where `on`, else an empty string."""
    chosen = pa.array(phrases).take(rng.integers(0, len(phrases), on.size))
    return pc.if_else(pa.array(on), chosen, "")


def _personal_data(rng, text: pa.Array, written: np.ndarray) -> pa.Array:
    """Append 'reach me at x@example.com' / 'call me on 06-...' to PII_RATE of the comments."""
    n = written.size
    pii = written & (rng.random(n) < fx.PII_RATE)
    email = pii & (rng.random(n) < 0.5)
    first = pa.array([ascii_fold(f) for f in FIRST_NAMES]).take(rng.integers(0, len(FIRST_NAMES), n))
    last = pa.array([ascii_fold(s) for s in LAST_NAMES]).take(rng.integers(0, len(LAST_NAMES), n))
    domain = pa.array(EMAIL_DOMAINS).take(rng.integers(0, len(EMAIL_DOMAINS), n))
    address = pc.binary_join_element_wise(
        "You can reach me at ", pc.binary_join_element_wise(first, last, "."), "@", domain, ".", "")
    phone = pc.binary_join_element_wise(
        "Call me on 06-", pa.array(rng.integers(10_000_000, 100_000_000, n)).cast(pa.string()), ".", "")
    extra = pc.if_else(pa.array(email), address, pc.if_else(pa.array(pii), phone, ""))
    return pc.utf8_trim_whitespace(pc.binary_join_element_wise(text, extra, " "))
