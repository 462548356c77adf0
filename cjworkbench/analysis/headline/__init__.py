"""The headline of a page: the few figures that answer its question, each read from the table the
page itself shows (`headline_table(con, page, filters=..., **options)`).

One row per figure: its `value`, the `previous` business period's value and the `change` with its
interval (`low`, `high`) and `p_value` where the underlying analysis computes them, which way is
`better` ("higher" / "lower") and the `verdict` ("better", "worse", "no clear change": significant
at the 5 % level or not). A figure that cannot be computed (an input the database lacks, a group
under `k_min` customers, no difference that stands out) is a row with `available` False and its
`reason`, never a zero. Figures come from the same functions, with the same options, as the page's
charts, so the headline and the chart below it always agree.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from ...cache import remember
from ...formats import display_name
from ...privacy import suppress_small
from ...errors import HeadlineError, WorkbenchError, one_of
from ...scope import Filters

# the pages in the order a manager reads them (the report index lists them so)
PAGES = ("overview", "what_changed", "funnels_and_gaps", "voc", "personas_and_segments", "journey_explorer",
         "designed_vs_actual", "actions")
COLUMNS = ["figure", "label", "value", "previous", "change", "low", "high", "p_value", "kind", "better", "verdict",
           "detail", "period", "source", "available", "reason"]
KINDS = ("share", "points", "duration", "score", "count", "number", "money")
ALPHA = 0.05   # the significance level of the verdict (the analyses' default 95 % intervals)


def figure(name: str, label: str, value, *, kind: str = "number", previous=math.nan, change=math.nan,
           low=math.nan, high=math.nan, p_value=math.nan, better: str | None = None, detail: str = "",
           period: str = "", source: str = "", difference: bool = False) -> dict:
    """One computed figure; `verdict` follows from the change, its p-value and `better`.
    `difference=True`: the value is itself a difference against a comparison group (a hand-off gap, a
    theme's impact), with `low`, `high` and `p_value` its own, and the verdict reads it."""
    if kind not in KINDS:
        raise HeadlineError(one_of("figure kind", kind, KINDS))
    return {"figure": name, "label": label, "value": _num(value), "previous": _num(previous),
            "change": _num(change), "low": _num(low), "high": _num(high), "p_value": _num(p_value),
            "kind": kind, "better": better,
            "verdict": verdict(value if difference else change, p_value, better, low=low, high=high),
            "detail": detail, "period": period, "source": source, "available": True, "reason": ""}


def missing(name: str, label: str, reason: str, *, source: str = "") -> dict:
    """A figure left out, with why (never a zero in its place)."""
    return {"figure": name, "label": label, "value": math.nan, "previous": math.nan, "change": math.nan,
            "low": math.nan, "high": math.nan, "p_value": math.nan, "kind": "number", "better": None, "verdict": "",
            "detail": "", "period": "", "source": source, "available": False, "reason": reason}


def _num(v) -> float:
    try:
        return float(v) if v is not None and v == v else math.nan
    except (TypeError, ValueError):
        return math.nan


def verdict(change, p_value, better: str | None, *, low=math.nan, high=math.nan) -> str:
    """'better' / 'worse' when the change is significant (p < ALPHA, else an interval excluding zero),
    'no clear change' otherwise; '' without a change or a direction."""
    change, p, low, high = _num(change), _num(p_value), _num(low), _num(high)
    if change != change or better not in ("higher", "lower"):
        return ""
    significant = p < ALPHA if p == p else (low > 0 or high < 0) if low == low and high == high else False
    if not significant or change == 0:
        return "no clear change"
    return "better" if (change > 0) == (better == "higher") else "worse"


def table_result(con, table, filters, **options) -> pd.DataFrame:
    """`table(con, filters=filters, **options)`, computed once per connection for the same filters and
    options (the key a dashboard view uses), so a headline and the chart beneath it share one query."""
    key = (table.__name__, repr((filters, sorted(options.items()))))
    return remember(con, "result", key, lambda: table(con, filters=filters, **options))


def windows(con, filters: Filters | None, period: str = "month"):
    """(current, previous) business-date windows (`periods.period_window`): the period containing the
    filters' end date, else the last day with events, and the period before it."""
    from ...periods import period_window
    from ...scope import scope

    as_of = filters.end_date if filters is not None and filters.end_date else None
    if as_of is None:
        as_of = scope(con, None).events().event_date.max().execute()
        if as_of is None or as_of != as_of:
            raise HeadlineError("The database has no events, so there is no period to compare.")
    return period_window(period, as_of), period_window(period, as_of, "previous")


def within(filters: Filters | None, window) -> Filters:
    """The filters with their dates replaced by `window`'s."""
    return dataclasses.replace(filters or Filters(), start_date=window.start, end_date=window.end)


def headline_table(con, *, page: str, filters=None, k_min: int = 10, **options) -> pd.DataFrame:
    """The headline figures of `page` (one of PAGES) over `filters`; `options` are the page's own (the
    funnel's steps, the instrument, the designs, ...), passed to the same tables its charts show.
    Figures whose groups count fewer than `k_min` customers are left out with that reason."""
    from .pages import FIGURES

    if page not in PAGES:
        raise HeadlineError(one_of("page", page, PAGES))
    rows = FIGURES[page](con, filters, k_min, dict(options))
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["definition"] = {
        "analysis": "headline", "page": page, "k_min": k_min,
        "verdict_rule": f"better / worse when the change is significant at the {ALPHA:.0%} level (its p-value, "
                        "else its 95 % interval excluding zero), in the direction the figure improves; "
                        "otherwise no clear change",
        "period_rule": "the business month containing the end date (else the last day with events) against the "
                       "month before, by business date (periods.period_window)",
        "filters": (filters or Filters()).describe()}
    return df


def pick(options: dict, *names) -> dict:
    """The options a table takes, as the page's view passes them (None included: the same key, one query)."""
    return {k: options[k] for k in names if k in options}


def kept(df: pd.DataFrame, k_min: int, count: str) -> pd.DataFrame:
    """The rows of `df` counting at least `k_min` customers (`count`), as the page's view keeps them."""
    if df.empty:
        return df
    out = suppress_small(df, k=k_min, count=count)
    return out[~out["suppressed"]]


def labels_of(con) -> dict:
    """The database's `labels:` design (raw name -> display name; {} without one), read once per connection."""
    from ...designs.store import design, has_design

    return remember(con, "object", "labels", lambda: design(con, "labels") if has_design(con, "labels") else {})


def name_of(con, raw) -> str:
    """`raw` (an activity, channel, theme ...) as people read it: the `labels:` design, else in words."""
    return display_name(raw, labels_of(con))


def attempt(name: str, label: str, build, *, source: str = "") -> list[dict]:
    """`build()`'s figures, or one missing figure saying why (a WorkbenchError's own words)."""
    try:
        return build()
    except WorkbenchError as exc:
        return [missing(name, label, str(exc), source=source)]
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:   # a database unlike any tested: the
        # headline says so and the page's own views show their messages, instead of the page failing
        return [missing(name, label, f"This figure could not be computed on this database ({type(exc).__name__}).",
                        source=source)]


__all__ = ["ALPHA", "COLUMNS", "HeadlineError", "KINDS", "PAGES", "attempt", "figure", "headline_table",
           "kept", "labels_of", "missing", "name_of", "pick", "table_result", "verdict", "windows", "within"]
