"""Redaction of personal data in free text (verbatims), before it reaches a table dashboards read.

An ordered list of RE2 rules (`RULES`) replaces what a pattern can recognise:
- URLs carrying a query string or fragment (tokens, e-mail parameters) -> `[url]`; plain URLs stay;
- e-mail addresses -> `[email]`; @handles (tweets) -> `[user]`;
- IBANs, and card-like runs of 13-19 digits -> `[number]`;
- phone numbers -> `[phone]`: international (`+31 6 1234 5678`, `0044 20 7946 0958`), Dutch
  (`06-12345678`, `06 12 34 56 78`, `020 123 4567`, `0513-123456`), US
  (`(415) 555-2671`, `415-555-2671`, `1-800-555-1234`);
- names where a cue announces them: "my name is Sanne de Vries" (also his/her/our, "name:"),
  "Hi, I'm Peter", "this is Anna from", and sign-offs at the end of the text ("Kind regards, Jan", "Groeten, Eva").

One engine: the same rules run through RE2 in `redact_series` (pyarrow) and in ingest SQL
(DuckDB `regexp_replace`, via `redact_sql`), so a text is redacted identically everywhere.

Limits: names without a cue ("Sanne on the phone was helpful") are not detected, because the
customers table (which would give the names to look for) is not available at ingest and is
pseudonymised anyway; addresses, postcodes, dates of birth and obfuscated e-mails
("jan at example dot com") are not recognised; a ten-digit number starting with 0 (an order
number, say) is taken for a phone number, which errs on the safe side; a 06 number missing a
digit is not.
"""

from __future__ import annotations

from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

_NAME = (r"[A-ZÀ-Ý][A-Za-zÀ-ÿ'’-]+"
         r"(?:[ \t]+(?:(?:van|de|der|den|het|ter|ten|te|la|le|du|von)[ \t]+)*[A-ZÀ-Ý][A-Za-zÀ-ÿ'’-]+){0,2}")
_SEP = r"[ .-]"

# (name, RE2 pattern, replacement); applied in order. Group 1, where present, is context kept.
RULES: tuple[tuple[str, str, str], ...] = (
    ("url", r"(?i)\b(?:https?://|www\.)[^\s?#]+[?#]\S*", "[url]"),
    ("email", r"(?i)[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", "[email]"),
    ("handle", r"(^|[^A-Za-z0-9_@./])@[A-Za-z0-9_]{1,30}", r"\1[user]"),
    ("iban", r"\b(?i:[a-z]{2})[0-9]{2}[ ]?(?i:[a-z0-9]{4})(?:[ ]?[0-9]{4}){1,6}(?:[ ]?[0-9]{1,3})?\b", "[number]"),
    ("phone_international",
     r"(?:\+|\b00)[1-9][0-9]{0,2}[ .-]?(?:\(0\)[ .-]?)?\(?[0-9]{1,4}\)?(?:[ .-]?[0-9]{2,4}){2,4}\b", "[phone]"),
    ("card", r"(^|[^A-Za-z0-9_/=])[0-9](?:[ -]?[0-9]){12,18}\b", r"\1[number]"),
    ("phone_nl", r"\b(?:06[ -]?(?:[0-9]{8}|[0-9]{4} [0-9]{4}|[0-9]{2}(?: [0-9]{2}){3}|[0-9]{3} [0-9]{2} [0-9]{3})"
                 r"|0[1-9][0-9][ -]?(?:[0-9]{7}|[0-9]{3} [0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{2})"
                 r"|0[1-9][0-9]{2}[ -]?(?:[0-9]{6}|[0-9]{3} [0-9]{3}|[0-9]{2} [0-9]{2} [0-9]{2}))\b", "[phone]"),
    ("phone_us", r"(?:\b1" + _SEP + r"?)?(?:\([0-9]{3}\)[ ]?|\b[0-9]{3}" + _SEP + r")[0-9]{3}" + _SEP + r"[0-9]{4}\b",
     "[phone]"),
    ("name_stated", r"(\b(?i:(?:my|his|her|our) name is|my name's|name:)[ \t]+)" + _NAME, r"\1[name]"),
    ("name_greeting", r"(\b(?i:hi|hello|hey|good morning|good afternoon|good evening|dear [a-z]+)[,!]?[ \t]+"
                      r"(?i:i'm|i’m|i am|this is)[ \t]+)" + _NAME, r"\1[name]"),
    ("name_from", r"(\b(?i:this is)[ \t]+)" + _NAME + r"([ \t]+(?i:from)\b)", r"\1[name]\2"),
    ("name_signoff", r"(\b(?i:kind regards|best regards|warm regards|regards|sincerely|cheers|greetings|"
                     r"met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?|groet(?:en|jes)?)[,.!]?\s+)"
                     + _NAME + r"([ \t]*[.!]?[ \t]*)$", r"\1[name]\2"),
)
RULE_NAMES = tuple(r[0] for r in RULES)


def redact_series(values: Iterable[str | None] | pa.Array):
    """Redact every text of a pandas Series, list or pyarrow array (nulls stay null); returns the
    same kind (a Series keeps its index)."""
    import pandas as pd

    index = values.index if isinstance(values, pd.Series) else None
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(
        list(values), type=pa.string(), from_pandas=True)
    for _name, pattern, replacement in RULES:
        arr = pc.replace_substring_regex(arr, pattern=pattern, replacement=replacement)
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return arr
    if index is not None:
        return pd.Series(arr.to_pylist(), index=index, dtype=object, name=values.name)
    return arr.to_pylist()


def redact_text(text: str | None) -> str | None:
    """One text with e-mails, phone numbers, handles, IBAN/card numbers and cued names replaced."""
    if text is None:
        return None
    return redact_series([text])[0]


def redact_sql(expr: str, param) -> str:
    """DuckDB SQL applying `RULES` to the SQL expression `expr`; `param(value)` binds a pattern or
    replacement as a named parameter and returns its placeholder (see ingest.transform.Params)."""
    for _name, pattern, replacement in RULES:
        expr = f"regexp_replace({expr}, {param(pattern)}, {param(replacement)}, 'g')"
    return expr
