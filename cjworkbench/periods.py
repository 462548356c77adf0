"""Report periods: the calendar week / month / quarter / year containing `as_of` (up to and
including it), and a baseline's same stretch of the previous period, of the period six months
earlier, or of the period a year earlier (cut to that period's end)."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from .errors import one_of
from .scope import FilterError, _date

PERIODS = ("week", "month", "quarter", "year")
BASELINES = ("previous", "six_months", "year")
_MONTHS = {"month": 1, "quarter": 3, "year": 12}
_SHIFT = {"previous": None, "six_months": 6, "year": 12}   # months back (None: one period)
_WEEKS = {"previous": 1, "six_months": 26, "year": 52}


class Window(NamedTuple):
    """A stretch of dates (both inclusive) and the label of the period it belongs to."""

    name: str
    start: dt.date
    end: dt.date
    label: str


def _period_start(day: dt.date, period: str) -> dt.date:
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    months = _MONTHS[period]
    return day.replace(month=(day.month - 1) // months * months + 1, day=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.month - 1 + months, 12)
    return day.replace(year=day.year + year, month=month + 1)


def _label(start: dt.date, period: str) -> str:
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return {"month": f"{start:%Y-%m}", "quarter": f"{start.year}-Q{(start.month - 1) // 3 + 1}",
            "year": f"{start.year}"}[period]


def period_window(period: str, as_of, baseline: str | None = None) -> Window:
    """The current window (`baseline=None`: period start .. `as_of`) or a baseline's same stretch."""
    if period not in PERIODS:
        raise FilterError(one_of("period", period, PERIODS))
    as_of = _date(as_of, "as_of")
    start = _period_start(as_of, period)
    if baseline is None:
        return Window("current", start, as_of, _label(start, period))
    if baseline not in BASELINES:
        raise FilterError(one_of("baseline", baseline, BASELINES))
    if period == "week":
        b_start = start - dt.timedelta(weeks=_WEEKS[baseline])
        b_full_end = b_start + dt.timedelta(days=6)
    else:
        months = _SHIFT[baseline] or _MONTHS[period]
        if months < _MONTHS[period]:
            raise FilterError(f"baseline '{baseline}' overlaps the {period} itself; use 'previous' or 'year'.")
        b_start = _add_months(start, -months)
        b_full_end = _add_months(b_start, _MONTHS[period]) - dt.timedelta(days=1)
    full = as_of == _period_start(as_of + dt.timedelta(days=1), period) - dt.timedelta(days=1)
    b_end = b_full_end if full else min(b_start + (as_of - start), b_full_end)
    return Window(baseline, b_start, b_end, _label(b_start, period))
