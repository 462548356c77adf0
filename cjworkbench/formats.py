"""Numbers for people: one formatter per kind of value, used by charts, tables and reports alike.

The analyses return plain numbers (seconds, shares 0-1, counts, p-values); formatting is a view
concern and happens only here, so a duration reads the same in a tooltip, a table cell and a
report. A missing value (None, NaN, pandas NA) is always `MISSING` ("–").

Durations (`duration`), one rule: the largest unit the value reaches, after rounding —
under a minute in whole seconds ("59 s"), under an hour in whole minutes ("12 min"), under a day
in hours with one decimal ("4.5 hours"), else in days with one decimal ("3.2 days"); a trailing
".0" is dropped and one unit is singular ("1 day", "1 hour"). A value that rounds up to the next
unit is shown in it (59.7 s is "1 min", 23.97 hours is "1 day").

Vega-Lite twins of the same rules (`VEGA`, `duration_label_expr`) let chart axes and tooltips read
alike without a Python round trip.
"""

from __future__ import annotations

import math
import re

MISSING = "–"
MINUTE, HOUR, DAY = 60, 3_600, 86_400
CURRENCY = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}   # symbol before the amount; other codes after it
VEGA = {  # d3-format strings for Altair `format=` (axes, legends, tooltips)
    "share": ".1%",        # 0.173 -> 17.3%
    "share_axis": ".0%",   # axis ticks: 20%
    "count": ",.0f",       # 115266 -> 115,266
    "points": "+.1f",      # a difference already in percentage points: +2.1
    "score": ".2~f",       # 8.25, 7.5
    "ratio": ".2f",        # hazard ratios, effects
}


def is_missing(value) -> bool:
    """True for None, NaN and pandas' NA/NaT (anything that is not equal to itself or not a number)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):   # pandas.NA: its comparison has no truth value
        return True


def _whole(x: float) -> int:
    """Rounded half up (150 s is 3 min, not Python's banker's 2)."""
    return int(math.floor(x + 0.5))


def _tenths(seconds: float, size: int) -> str:
    """seconds / size to one decimal, half up, without a trailing ".0": "4.5", "1", "1,234.5"."""
    text = f"{math.floor(seconds * 10 / size + 0.5) / 10:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def duration(seconds) -> str:
    """Seconds as "59 s", "12 min", "4.5 hours", "3.2 days" (the module's rule); "–" when missing."""
    if is_missing(seconds):
        return MISSING
    s = float(seconds)
    sign, s = ("-" if s < 0 else ""), abs(s)
    if _whole(s) < MINUTE:
        return f"{sign}{_whole(s)} s"
    if _whole(s / MINUTE) < 60:
        return f"{sign}{_whole(s / MINUTE)} min"
    if math.floor(s * 10 / HOUR + 0.5) < 240:
        value = _tenths(s, HOUR)
        return f"{sign}{value} {'hour' if value == '1' else 'hours'}"
    value = _tenths(s, DAY)
    return f"{sign}{value} {'day' if value == '1' else 'days'}"


def share(value, digits: int = 1) -> str:
    """A share 0-1 as a percentage: 0.173 -> "17.3 %"."""
    if is_missing(value):
        return MISSING
    return f"{float(value) * 100:.{digits}f} %"


def points(diff, digits: int = 1) -> str:
    """A difference of two shares (0-1 scale) in percentage points, signed: 0.021 -> "+2.1 pts"."""
    if is_missing(diff):
        return MISSING
    v = float(diff) * 100
    if round(v, digits) == 0:   # no "+0.0" or "-0.0"
        return f"{0:.{digits}f} pts"
    return f"{v:+.{digits}f} pts"


def count(value) -> str:
    """A count with thousands separators: 115266 -> "115,266" (rounded to a whole number)."""
    if is_missing(value):
        return MISSING
    return f"{round(float(value)):,.0f}"


def number(value) -> str:
    """Any other number: whole or large ones with separators ("1,234"), ordinary ones with two
    decimals ("0.42"), tiny ones with two significant digits ("0.0012")."""
    if is_missing(value):
        return MISSING
    x = float(value)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == int(x) or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.2g}" if abs(x) < 0.01 else f"{x:,.2f}"


def p_value(p) -> str:
    """"< 0.001" below 0.001, three decimals below 0.01 ("0.004"), else two ("0.03", "0.45")."""
    if is_missing(p):
        return MISSING
    p = float(p)
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def yes_no(value) -> str:
    """True -> "yes", False -> "no", missing -> "–"."""
    if is_missing(value):
        return MISSING
    return "yes" if bool(value) else "no"


def money(value, unit: str | None = None) -> str:
    """An amount with two decimals and its currency: "€1,234.50", "-$12.00", "1,234.50 CHF"; without
    a unit just the number ("1,234.50")."""
    if is_missing(value):
        return MISSING
    x = float(value)
    sign, amount = ("-" if x < 0 else ""), f"{abs(x):,.2f}"
    code = (unit or "").strip().upper()
    if code in CURRENCY:
        return f"{sign}{CURRENCY[code]}{amount}"
    return f"{sign}{amount}" + (f" {code}" if code else "")


def duration_unit(max_seconds) -> tuple[str, int]:
    """The unit a duration axis reads in, from its largest value: ("days", 86400), ("hours", 3600),
    ("min", 60) or ("s", 1)."""
    m = 0.0 if is_missing(max_seconds) else abs(float(max_seconds))
    for name, size in (("days", DAY), ("hours", HOUR), ("min", MINUTE)):
        if m >= size:
            return name, size
    return "s", 1


def duration_label_expr(max_seconds, field: str = "datum.value") -> str:
    """A Vega `labelExpr` for an axis in seconds that reads in the unit of `duration_unit`:
    '3 days', '1.5 days' (ticks keep at most one decimal)."""
    name, size = duration_unit(max_seconds)
    return f"format({field} / {size}, ',.1~f') + ' {name}'"


# -- column titles and kinds (tables) ------------------------------------------------------------------

COLUMN_TITLES = {  # the one mapping from a result column to the words over it; others follow `column_title`
    "n_journeys": "Journeys", "n_customers": "Customers", "n_events": "Events", "n_answers": "Answers",
    "n_transitions": "Transitions", "n_steps": "Steps", "n_variants": "Journey variants", "volume": "Volume",
    "conversion_rate": "Conversion", "fcr_rate": "First-contact resolution", "throughput_seconds": "Throughput time",
    "handling_seconds": "Handling time", "wait_seconds": "Waiting time", "median_seconds": "Median time",
    "p90_seconds": "90th percentile time", "mean_seconds": "Mean time", "total_seconds": "Total time",
    "hours_lost": "Hours lost", "p_value": "p-value", "q_value": "q-value (corrected p)", "ph_p_value": "Proportional hazards p",
    "from_activity": "From", "to_activity": "To", "from_value": "From", "to_value": "To",
    "estimate": "Estimate", "low": "Low", "high": "High", "share": "Share", "rate_diff": "Difference",
    "cost_per_contact": "Cost per contact", "touchpoint": "Touchpoint", "kpi": "KPI",
    "n_previous": "Count, previous period", "n_current": "Count, this period",
}
ACRONYMS = {"nps": "NPS", "csat": "CSAT", "ces": "CES", "fcr": "FCR", "rfm": "RFM", "kpi": "KPI", "id": "ID",
            "sms": "SMS", "ivr": "IVR", "faq": "FAQ", "crm": "CRM", "url": "URL", "api": "API"}
_SUFFIX_WORDS = (("_low", "low"), ("_high", "high"), ("_mean", "mean"), ("_median", "median"))


def column_title(column: str) -> str:
    """The words over a column: `COLUMN_TITLES`, else from the vocabulary (`n_x` -> "X", `x_rate` ->
    "X", `x_seconds` -> "X time", `x_mean` -> "X (mean)", acronyms upper-case)."""
    column = str(column)
    if column in COLUMN_TITLES:
        return COLUMN_TITLES[column]
    for suffix, word in _SUFFIX_WORDS:
        if column.endswith(suffix) and len(column) > len(suffix):
            return f"{column_title(column[:-len(suffix)])} ({word})"
    name = column[2:] if column.startswith("n_") else column
    if name.endswith("_rate"):
        name = name[:-5]
    elif name.endswith("_seconds"):
        name = name[:-8] + "_time"
    words = [ACRONYMS.get(w, w) for w in name.split("_") if w]
    text = " ".join(words) or column
    return text[0].upper() + text[1:]


def column_kind(column: str) -> str:
    """How a numeric column reads, from its name: "duration" (`*_seconds`), "days" (`*_days`),
    "share" (`*_rate`, `share`, `share_*`, `*_share`, `prevalence`), "points" (`rate_diff`), "p_value", "count" (`n_*`, `volume`),
    "money" (`amount`, `cost*`, `monetary_value`) or "number"."""
    base = str(column)
    for suffix in ("_low", "_high"):
        base = base[:-len(suffix)] if base.endswith(suffix) else base
    if base.endswith("_seconds"):
        return "duration"
    if base.endswith("_days"):
        return "days"
    if base.endswith("p_value") or base == "q_value":
        return "p_value"
    if base.startswith("rate_diff") or base.endswith("_rate_diff"):
        return "points"
    if base.endswith("_rate") or base.startswith(("rate_", "share_")) or base.endswith("_share") \
            or base in ("share", "prevalence", "rate"):
        return "share"
    if base.startswith("n_") or base in ("volume", "cohort_size"):
        return "count"
    if base in ("amount", "monetary_value") or base.startswith("cost") or base.endswith("_amount"):
        return "money"
    return "number"


def value_text(value, kind: str, *, unit: str | None = None) -> str:
    """`value` read as `kind` (see `column_kind`); `unit` is the currency of "money"."""
    if kind == "days":
        return duration(None if is_missing(value) else float(value) * DAY)
    if kind == "money":
        return money(value, unit)
    return {"duration": duration, "share": share, "points": points, "p_value": p_value,
            "count": count}.get(kind, number)(value)


def period_name(label) -> str:
    """A period's label in words: '2026-10' -> 'October 2026'; other labels ('2026-W10', '2026') as they are."""
    import datetime as dt
    import re

    label = str(label)
    if re.fullmatch(r"\d{4}-\d{2}", label):
        return dt.date(int(label[:4]), int(label[5:]), 1).strftime("%B %Y")
    return label


# ---- names people read: the `labels:` design, else raw snake_case names humanised
NAME_COLUMNS = ("activity", "from_activity", "to_activity", "name", "touchpoint", "driver", "theme", "step",
                "variant", "from_value", "to_value", "item", "label", "first_deviation_step", "metric", "baseline")
PATH_SEPARATOR = " → "
_page_labels: dict[str, str] = {}


def use_labels(labels) -> None:
    """The page's display names (the database's `labels:` design; None or {}: none), read by `display_name`."""
    _page_labels.clear()
    _page_labels.update({str(k): str(v) for k, v in (labels or {}).items()})


def display_name(name, labels=None) -> str:
    """The name a person reads for a raw activity, touchpoint, driver or column name: `labels` (default:
    the page's, `use_labels`), else a snake_case name in words ("order_shipped" -> "Order shipped",
    "n_steps" -> "Steps", "nps" -> "NPS"); plain lower-case words start with a capital ("search" -> "Search",
    "contact centre" -> "Contact centre"); a name with capitals, digits or other signs stays as written
    ("Resolve ticket", "iPhone", "B2", "www.shop.nl"), as does a word without a vowel (a code: "xq"); a path
    "a → b" (or "nps @ delivery", "checkout: checkout_start") is named part by part, and "view_cart
    (repeated)" keeps its note."""
    if is_missing(name):
        return MISSING
    text = str(name)
    table = _page_labels if labels is None else labels
    if text in table:
        return str(table[text])
    for sep in (PATH_SEPARATOR, " · ", " @ ", ": "):   # a path, "nps @ delivery", "checkout: checkout_start"
        if sep in text:
            return sep.join(display_name(part, labels) for part in text.split(sep))
    head, _, note = text.partition(" (")
    if note.endswith(")") and head and " " not in head:   # "view_cart (repeated)": the name, then the note
        return f"{display_name(head, labels)} ({note}"
    if text in COLUMN_TITLES or text.startswith("n_"):
        return column_title(text)
    if text in ACRONYMS:
        return ACRONYMS[text]
    if text != text.lower():
        return text
    if "_" in text and text.replace("_", "").isalnum():
        return column_title(text)
    if _WORDS.fullmatch(text) and _VOWEL.search(text):
        text = " ".join(ACRONYMS.get(word, word) for word in text.split(" "))   # "effect on ces" -> "... CES"
        return text[0].upper() + text[1:]
    return text


# the values of a few result columns in words, where the name itself does not say it ("funnel" is a funnel step)
VALUE_WORDS = {
    "area": {"funnel": "Funnel step", "variant": "Journey variant", "transition": "Time between steps",
             "driver": "Survey driver", "score": "Survey score"},
    "metric": {"share": "Share of journeys", "top_box_rate": "Top-box rate", "low_effort_rate": "Low-effort rate",
               "mean_score": "Mean score", "median_seconds": "Median time"},
}


def value_name(column, value, labels=None) -> str:
    """A value of a name column as people read it: `VALUE_WORDS` of its column, else `display_name`."""
    words = VALUE_WORDS.get(str(column), {})
    return words[value] if isinstance(value, str) and value in words else display_name(value, labels)


_WORDS = re.compile(r"[^\W\d_]+(?:[ '-][^\W\d_]+)*")   # letters only, words joined by a space, hyphen or apostrophe
_VOWEL = re.compile(r"[aeiouyàáâäèéêëìíîïòóôöùúûü]")
