"""Free-text comments (E8): themes tied to their causes, plus the personal data people type.

A comment is one or more theme phrases (each theme drawn with its cause-group rate, or its
base rate for everyone else), else a generic phrase. Every phrase of a theme matches the
theme's pattern in `PATTERNS`, and no other phrase does, so the planted rates can be measured
with a regular expression. NL_SHARE of the comments are written in Dutch (the shop is in
Amsterdam), chosen at random and independently of every cause: the Dutch phrases say what the
English ones say (same themes, same patterns, same sentiment), so every planted effect holds in
both languages. A few comments carry a fake e-mail address or phone number, as
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
    "late_delivery": r"(?i)\blate\b|later than promised|still waiting|te laat|later dan beloofd|wacht nog steeds",
    "repeat_contact": r"(?i)called again|not resolved|twice for the same|third time|opnieuw gebeld|niet opgelost|"
                      r"twee keer contact|derde keer",
    "app_payment": r"(?i)crashed|froze|kept failing|crashte|liep vast|mislukte steeds",
    "price_value": r"(?i)expensive|prices|value for money|costs|te duur|prijzen|prijs-kwaliteit|verzendkosten",
    "friendly_staff": r"(?i)friendly|helpful|kind and patient|vriendelijk|behulpzaam|aardige en geduldige",
    "verification": r"(?i)verif",
}
PHRASES_NL = {
    "late_delivery": ("Mijn pakket kwam te laat.", "Ik wacht nog steeds op mijn pakket, het is nu een week te laat.",
                      "De levering kwam dagen later dan beloofd.", "Het pakket was weer te laat.",
                      "Ik wacht nog steeds op mijn bestelling."),
    "repeat_contact": ("Ik heb opnieuw gebeld omdat er niets gebeurde.", "Niet opgelost bij het eerste contact.",
                       "Moest twee keer contact opnemen voor hetzelfde probleem.",
                       "Dit is de derde keer dat ik hierom vraag."),
    "app_payment": ("De app crashte bij het betalen.", "De app liep vast op het betaalscherm, dus ik belde.",
                    "Betalen in de app mislukte steeds."),
    "price_value": ("Te duur voor wat je krijgt.", "De prijzen zijn weer omhoog gegaan.",
                    "Geen goede prijs-kwaliteitverhouding.", "De verzendkosten zijn te hoog."),
    "friendly_staff": ("De medewerker was erg vriendelijk.", "Vriendelijk en behulpzaam personeel.",
                       "Sanne aan de telefoon was echt behulpzaam.", "Aardige en geduldige medewerker."),
    "verification": ("De verificatiemail kwam nooit aan.", "Kon mijn e-mailadres niet verifiëren.",
                     "De verificatielink werkte niet."),
}
GENERIC_NL = ("Niets toe te voegen.", "Goede service.", "Snel en makkelijk.", "Mooie producten.",
              "Duidelijke website.", "Ga zo door!", "Oké.", "Alles ging goed.", "Goede kwaliteit.",
              "Zou weer bestellen.", "Prima ervaring.", "Prima!", "Top.")
NL_SHARE = 0.3  # P(a comment is written in Dutch), independent of every cause
GENERIC = ("Nothing to add.", "Good service overall.", "Fast and easy.", "Nice products.",
           "Website is clear.", "Keep it up!", "Ok.", "Everything went fine.", "Good quality.",
           "Would buy again.", "Decent experience.", "Prima!", "Top.")
EMAIL_PATTERN = r"[a-z.]+@(mail\.)?example\.(com|net|org)"
PHONE_PATTERN = r"06-\d{8}"
MULTILINE_RATE = 0.05  # P(a CSAT/CES comment of two or more sentences is broken over two lines)


def compose(rng, causes: dict[str, np.ndarray], rate, multiline: bool = False) -> tuple[pa.Array, np.ndarray]:
    """One comment per row, null where none was written, and its language ("en", "nl"; None where
    none was written); `causes` flags each theme's cause group."""
    n = next(iter(causes.values())).size
    written = rng.random(n) < rate
    dutch = rng.random(n) < NL_SHARE
    parts, themed = [], np.zeros(n, bool)
    for theme, phrases in PHRASES.items():
        spec = fx.THEMES[theme]
        p = np.where(causes.get(theme, np.zeros(n, bool)), spec["rate"], spec["base"])
        on = written & (rng.random(n) < p)
        themed |= on
        parts.append(_pick(rng, phrases, on, PHRASES_NL[theme], dutch))
    parts.append(_pick(rng, GENERIC, written & (~themed | (rng.random(n) < .3)), GENERIC_NL, dutch))
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(
        pc.binary_join_element_wise(*parts, " "), r"\s+", " "))
    text = _personal_data(rng, text, written, dutch)
    if multiline:
        split = written & (rng.random(n) < MULTILINE_RATE)
        text = pc.if_else(pa.array(split), pc.replace_substring(text, ". ", ".\n", max_replacements=1), text)
    language = np.where(written, np.where(dutch, "nl", "en"), None).astype(object)
    return pc.if_else(pa.array(written), text, pa.scalar(None, pa.string())), language


def planted_counts(text: pa.Array) -> dict:
    """Comments with a planted e-mail address, phone number or line break (for truth.json)."""
    def count(pattern: str) -> int:
        return int(pc.sum(pc.match_substring_regex(text.fill_null(""), pattern)).as_py() or 0)
    return {"with_email": count(EMAIL_PATTERN), "with_phone": count(PHONE_PATTERN), "multiline": count("\n")}


def _pick(rng, phrases, on: np.ndarray, phrases_nl, dutch: np.ndarray) -> pa.Array:
    """A random phrase where `on` (the Dutch one where `dutch`), else an empty string."""
    k = rng.integers(0, len(phrases), on.size)
    english = pa.array(phrases).take(k)
    nl = pa.array(phrases_nl).take(k % len(phrases_nl))
    return pc.if_else(pa.array(on), pc.if_else(pa.array(dutch), nl, english), "")


def _personal_data(rng, text: pa.Array, written: np.ndarray, dutch: np.ndarray) -> pa.Array:
    """Append 'reach me at x@example.com' / 'call me on 06-...' (in the comment's language) to
    PII_RATE of the comments."""
    n = written.size
    pii = written & (rng.random(n) < fx.PII_RATE)
    email = pii & (rng.random(n) < 0.5)
    first = pa.array([ascii_fold(f) for f in FIRST_NAMES]).take(rng.integers(0, len(FIRST_NAMES), n))
    last = pa.array([ascii_fold(s) for s in LAST_NAMES]).take(rng.integers(0, len(LAST_NAMES), n))
    domain = pa.array(EMAIL_DOMAINS).take(rng.integers(0, len(EMAIL_DOMAINS), n))
    nl = pa.array(dutch)
    address = pc.binary_join_element_wise(
        pc.if_else(nl, "Je kunt me bereiken op ", "You can reach me at "),
        pc.binary_join_element_wise(first, last, "."), "@", domain, ".", "")
    phone = pc.binary_join_element_wise(
        pc.if_else(nl, "Bel me op 06-", "Call me on 06-"),
        pa.array(rng.integers(10_000_000, 100_000_000, n)).cast(pa.string()), ".", "")
    extra = pc.if_else(pa.array(email), address, pc.if_else(pa.array(pii), phone, ""))
    return pc.utf8_trim_whitespace(pc.binary_join_element_wise(text, extra, " "))
