"""Redaction of personal data in free text (verbatims), before it reaches a table dashboards read.

An ordered list of RE2 rules (`RULES`) replaces what a pattern can recognise:
- URLs carrying a query string or fragment (tokens, e-mail parameters) -> `[url]`; plain URLs stay;
- e-mail addresses -> `[email]`, also written around a filter ("jan dot devries at gmail dot com",
  "jan [at] example [dot] com", "jan(at)example.com", "jan @ example . com"); @handles -> `[user]`;
- IPv4 addresses -> `[ip]`;
- IBANs, and card-like runs of 13-19 digits -> `[number]`;
- phone numbers -> `[phone]`: international (`+31 6 1234 5678`, `0044 20 7946 0958`), Dutch
  (`06-12345678`, `06 12 34 56 78`, `06 123 456 78`, `(06) 12345678`, `020 123 4567`,
  `0513-123456`), US (`(415) 555-2671`, `415-555-2671`, `1-800-555-1234`); digits may be parted by
  spaces, tabs, non-breaking spaces, dots or dashes;
- street addresses -> `[address]`: Dutch street names on a street word (`Kerkstraat 12`,
  `Stationsweg 3a`, `Oudegracht 12-2`, with a postcode after it), a postcode before a town
  (`1234 AB Utrecht`), and English numbered streets (`12 Main Street`, `221B Baker St.`);
- names where a cue announces them -> `[name]`: "my name is Sanne de Vries" (also his/her/our,
  "name:", "mijn naam is", "ik heet", "je m'appelle"), a first and last name after "I am" / "I'm"
  ("I am Sophie Jansen"), a name after "ik ben", "Hi, I'm Peter", "this is Anna from", and
  sign-offs at the end of the text ("Kind regards, Jan", "Groeten, Eva").
Then `NATIONAL_ID`: a Dutch citizen service number (BSN: 9 digits, or 4.2.3 with dots, passing
the 11-check) -> `[id]`. The 11-check is arithmetic, which a regular expression cannot do, so it
runs as Python (`redact_series`) and as a DuckDB list expression (`redact_sql`).

One engine: the same rules run through RE2 in `redact_series` (pyarrow) and in ingest SQL
(DuckDB `regexp_replace`, via `redact_sql`), so a text is redacted identically everywhere.

Limits (see also the README): names without a cue ("Sanne on the phone was helpful", "I'm Sophie."
with one name) are not detected, because the customers table (which would give the names to look
for) is not available at ingest and is pseudonymised anyway; addresses without a house number, on
a street word not listed (`STREET_NL`) or in words ("Laan van Meerdervoort 5" keeps its name), and
lower-case English streets ("12 main street") are not recognised; nor are dates of birth, other
countries' national ids, IPv6 addresses or an e-mail written "jan at example.com" (a bare "at" and
a real dot: ordinary English). A ten-digit number starting with 0 is taken for a phone number, one
9-digit number in 11 passes the BSN check and a version number like 1.2.3.4 looks like an IP
address: these err on the safe side.
"""

from __future__ import annotations

import re
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

_NAME = (r"[A-ZÀ-Ý][A-Za-zÀ-ÿ'’-]+"
         r"(?:[ \t]+(?:(?:van|de|der|den|het|ter|ten|te|la|le|du|von)[ \t]+)*[A-ZÀ-Ý][A-Za-zÀ-ÿ'’-]+){0,2}")
# a name word as people write one (capital, then lower case): "Sophie", not "VERY" or "KPN"
_WORD = r"[A-ZÀ-Ý][a-zà-ÿ'’-]+"
_PARTICLES = r"(?:(?:van|de|der|den|het|ter|ten|te|la|le|du|von|da|dos|di|el|al)[ \t]+)*"
_FULL_NAME = _WORD + r"(?:[ \t]+" + _PARTICLES + _WORD + r"){1,2}"   # at least a first and a last name
_ONE_NAME = _WORD + r"(?:[ \t]+" + _PARTICLES + _WORD + r"){0,2}"
_SPACE = r"[ \t\x{00A0}\x{202F}]"                          # space, tab, no-break spaces
_IN = r"[ \t\x{00A0}\x{202F}.]"                            # between digit groups of one number
_AFTER_AREA = r"(?:[ \t\x{00A0}\x{202F}]*[-./\x{2013}][ \t\x{00A0}\x{202F}]*|[ \t\x{00A0}\x{202F}]{1,2})?"
_SEP = r"[ \t\x{00A0}.-]"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
# e-mail written around a filter
_DOT_HIDDEN = r"(?:[ \t]*[\[({<][ \t]*(?:dot|punt|\.)[ \t]*[\])}>][ \t]*|[ \t]+(?:dot|punt)[ \t]+)"
_DOT = r"(?:\." + "|" + _DOT_HIDDEN + ")"
_DOT_SPACED = r"(?:" + _DOT + r"|[ \t]+\.[ \t]+)"   # "example . com", not "home. Thanks"
# "@" only between words: "rather @united .  App" is a tweet, not an address
_AT_MARKED = r"(?:@|[ \t]*[\[({<][ \t]*(?:at|@)[ \t]*[\])}>][ \t]*)"
_LOCAL = r"[a-z0-9][a-z0-9_%+-]*(?:" + _DOT + r"[a-z0-9_%+-]+)*"
_LABEL = r"[a-z0-9][a-z0-9-]*"
STREET_NL = ("straat", "laan", "weg", "plein", "gracht", "kade", "singel", "dijk", "dreef", "steeg",
             "plantsoen", "markt", "hof")   # after a capital: "Stationsweg 3"
STREET_NL_ANY_CASE = ("straat", "laan", "gracht", "plein", "plantsoen")   # also "kerkstraat 12", not "onderweg 12"
_STREET_EN = (r"(?:(?i:street|road|avenue|lane|drive|boulevard)|St|Rd|Ave|Ln|Dr|Blvd|Ct|Court|Pl|Place|Way|Terrace|"
              r"Close|Crescent|Square|Sq|Hwy|Highway)")
_POSTCODE_NL = r"[1-9][0-9]{3}[ \t]?[A-Z]{2}\b"

# (name, RE2 pattern, replacement); applied in order. Group 1, where present, is context kept.
RULES: tuple[tuple[str, str, str], ...] = (
    ("url", r"(?i)\b(?:https?://|www\.)[^\s?#]+[?#]\S*", "[url]"),
    ("email", r"(?i)[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", "[email]"),
    ("email_hidden", r"(?i)\b" + _LOCAL + r"(?:" + _AT_MARKED + _LABEL + r"(?:" + _DOT_SPACED + _LABEL + r")*"
     + _DOT_SPACED
     + r"|[ \t]+at[ \t]+" + _LABEL + r"(?:" + _DOT + _LABEL + r")*" + _DOT_HIDDEN + r")[a-z]{2,6}\b", "[email]"),
    ("handle", r"(^|[^A-Za-z0-9_@./])@[A-Za-z0-9_]{1,30}", r"\1[user]"),
    ("iban", r"\b(?i:[a-z]{2})[0-9]{2}[ ]?(?i:[a-z0-9]{4})(?:[ ]?[0-9]{4}){1,6}(?:[ ]?[0-9]{1,3})?\b", "[number]"),
    ("phone_international",
     r"(?:\+|\b00)[1-9][0-9]{0,2}" + _SPACE + r"?[ .-]?(?:\(0\)[ .-]?)?\(?[0-9]{1,4}\)?(?:" + _SPACE
     + r"{0,2}[.-]?[0-9]{2,4}){2,4}\b", "[phone]"),
    ("card", r"(^|[^A-Za-z0-9_/=])[0-9](?:[ -]?[0-9]){12,18}\b", r"\1[number]"),
    ("phone_nl", r"(?:\(06\)|\b06)" + _AFTER_AREA + r"(?:[0-9]{8}|[0-9]{4}I[0-9]{4}|[0-9]{2}(?:I[0-9]{2}){3}"
                 r"|[0-9]{3}I[0-9]{2}I[0-9]{3}|[0-9]{3}I[0-9]{3}I[0-9]{2})\b".replace("I", _IN)
     + r"|(?:\(0[1-9][0-9]\)|\b0[1-9][0-9])" + _AFTER_AREA
     + r"(?:[0-9]{7}|[0-9]{3}I[0-9]{4}|[0-9]{3}I[0-9]{2}I[0-9]{2})\b".replace("I", _IN)
     + r"|(?:\(0[1-9][0-9]{2}\)|\b0[1-9][0-9]{2})" + _AFTER_AREA
     + r"(?:[0-9]{6}|[0-9]{3}I[0-9]{3}|[0-9]{2}I[0-9]{2}I[0-9]{2})\b".replace("I", _IN), "[phone]"),
    ("phone_us", r"(?:\b1" + _SEP + r"?)?(?:\([0-9]{3}\)[ ]?|\b[0-9]{3}" + _SEP + r")[0-9]{3}" + _SEP + r"[0-9]{4}\b",
     "[phone]"),
    ("ip", r"\b(?:" + _OCTET + r"\.){3}" + _OCTET + r"\b", "[ip]"),
    ("address_nl", r"\b(?:[A-Z][a-zà-ÿ'-]*(?:" + "|".join(STREET_NL) + r")|[a-z][a-zà-ÿ'-]*(?:"
                   + "|".join(STREET_NL_ANY_CASE) + r"))[ \t]+[0-9]{1,5}"
                   r"(?:[A-Za-z]|[ \t][A-Za-z]\b|-[0-9]{1,4})?\b(?:[ \t]*,?[ \t]*" + _POSTCODE_NL + ")?", "[address]"),
    ("postcode_nl", r"\b" + _POSTCODE_NL + r"([ \t]+[A-Z][a-zà-ÿ'-]+)", r"[address]\1"),
    ("address_en", r"\b[0-9]{1,5}[A-Za-z]?[ \t]+(?:[A-Z][A-Za-z'-]+[ \t]+){1,3}" + _STREET_EN + r"\b", "[address]"),
    ("name_stated", r"(\b(?i:(?:my|his|her|our) name is|my name's|name:|mijn naam is|ik heet|je m'appelle|"
                    r"je m’appelle)[ \t]+)" + _NAME, r"\1[name]"),
    # a name ends a clause: "I am Sophie Jansen, ..." yes, "I'm Late Flight now" no
    ("name_intro_en", r"(\b(?i:i am|i'm|i’m)[ \t]+)" + _FULL_NAME
     + r"([ \t]*[,.!?;:]|[ \t]+(?i:and|from|here)\b|[ \t]*$)", r"\1[name]\2"),
    ("name_intro_nl", r"(\b(?i:ik ben)[ \t]+)" + _ONE_NAME + r"([ \t]*[,.!?;:]|[ \t]+(?i:en|uit|van|hier)\b|[ \t]*$)",
     r"\1[name]\2"),
    ("name_greeting", r"(\b(?i:hi|hello|hey|good morning|good afternoon|good evening|dear [a-z]+)[,!]?[ \t]+"
                      r"(?i:i'm|i’m|i am|this is)[ \t]+)" + _NAME, r"\1[name]"),
    ("name_from", r"(\b(?i:this is)[ \t]+)" + _NAME + r"([ \t]+(?i:from)\b)", r"\1[name]\2"),
    ("name_signoff", r"(\b(?i:kind regards|best regards|warm regards|regards|sincerely|cheers|greetings|"
                     r"met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?|groet(?:en|jes)?)[,.!]?\s+)"
                     + _NAME + r"([ \t]*[.!]?[ \t]*)$", r"\1[name]\2"),
)
RULE_NAMES = tuple(r[0] for r in RULES) + ("national_id",)

# a Dutch BSN: 9 digits (or 1234.56.782) whose weighted sum 9·d1 + 8·d2 + … + 2·d8 − d9 is a multiple of 11
NATIONAL_ID = r"\b(?:[0-9]{9}|[0-9]{4}\.[0-9]{2}\.[0-9]{3})\b"
_NATIONAL_ID_PY = re.compile(NATIONAL_ID, re.ASCII)   # ASCII \b, as RE2's
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def passes_11_check(number: str) -> bool:
    """The BSN 11-check ("elfproef") on the 9 digits of `number`."""
    digits = [int(c) for c in number if c.isdigit()]
    return len(digits) == 9 and sum(w * d for w, d in zip(_WEIGHTS, digits)) % 11 == 0


def _national_ids(texts: list[str | None]) -> list[str | None]:
    return [t if t is None else _NATIONAL_ID_PY.sub(lambda m: "[id]" if passes_11_check(m.group()) else m.group(), t)
            for t in texts]


def redact_series(values: Iterable[str | None] | pa.Array):
    """Redact every text of a pandas Series, list or pyarrow array (nulls stay null); returns the
    same kind (a Series keeps its index)."""
    import pandas as pd

    index = values.index if isinstance(values, pd.Series) else None
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(
        list(values), type=pa.string(), from_pandas=True)
    for _name, pattern, replacement in RULES:
        arr = pc.replace_substring_regex(arr, pattern=pattern, replacement=replacement)
    if pc.any(pc.match_substring_regex(arr, NATIONAL_ID)).as_py():   # the 11-check, in Python
        fixed = pa.array(_national_ids(arr.to_pylist()), type=pa.string())
        arr = pa.chunked_array([fixed]) if isinstance(arr, pa.ChunkedArray) else fixed
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return arr
    if index is not None:
        return pd.Series(arr.to_pylist(), index=index, dtype=object, name=values.name)
    return arr.to_pylist()


def redact_text(text: str | None) -> str | None:
    """One text with e-mails, phone numbers, handles, IP addresses, IBAN/card numbers, street
    addresses, national ids and cued names replaced."""
    if text is None:
        return None
    return redact_series([text])[0]


def redact_sql(expr: str, param) -> str:
    """DuckDB SQL applying `RULES`, then the BSN check, to the SQL expression `expr`; `param(value)`
    binds a pattern or replacement as a named parameter and returns its placeholder (see
    ingest.transform.Params)."""
    for _name, pattern, replacement in RULES:
        expr = f"regexp_replace({expr}, {param(pattern)}, {param(replacement)}, 'g')"
    digits = "regexp_replace(x, '[^0-9]', '', 'g')"
    check = " + ".join(f"{w} * CAST({digits}[{i}] AS INTEGER)" for i, w in enumerate(_WEIGHTS, 1))
    word = param(r"\b")
    valid = f"list_filter(regexp_extract_all(s, {param(NATIONAL_ID)}), lambda x: ({check}) % 11 = 0)"
    swap = (f"list_reduce({valid}, lambda acc, x: regexp_replace(acc, {word} || replace(x, '.', '\\.') || {word}, "
            f"{param('[id]')}, 'g'), s)")
    return f"(list_transform([{expr}], lambda s: {swap}))[1]"   # the lambda binds the text once
