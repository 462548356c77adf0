"""Periods: the one set of calendar periods every analysis accepts (`PERIODS`, with the Ibis
`truncate` unit of each in `TRUNCATE`; weeks from Monday), always applied to business dates (the
DATE columns `event_date`, `feedback_date`, ... : each timestamp's date in the business time zone,
`ingest.local_time`), never to the UTC timestamps; and report windows: the calendar
day / week / month / quarter / year containing `as_of` (up to and including it), and a baseline's
same stretch of the previous period, of the period six months earlier, or of the period a year
earlier (cut to that period's end)."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import NamedTuple

from .errors import one_of
from .errors import FilterError

PERIODS = ("day", "week", "month", "quarter", "year")  # the one set: retention, scores, themes, changes ...
TRUNCATE = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}  # Ibis truncate units (of dates)
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


def check_period(period: str, error: type[Exception] = FilterError) -> str:
    """`period` if it is one of PERIODS, else `error` ("Unknown period 'months'. Expected one of: ...")."""
    if period not in PERIODS:
        raise error(one_of("period", period, PERIODS))
    return period


def period_start(date, period: str):
    """The first day (DATE) of the `period` containing each business date `date` (an Ibis date
    expression): THE truncation of a period. DuckDB and Spark truncate a DATE to a TIMESTAMP while
    Ibis types the result DATE, so it goes through TIMESTAMP explicitly to come back a DATE."""
    return date.truncate(TRUNCATE[check_period(period)]).cast("timestamp").cast("date")


def _period_start(day: dt.date, period: str) -> dt.date:
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    months = _MONTHS[period]
    return day.replace(month=(day.month - 1) // months * months + 1, day=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.month - 1 + months, 12)
    return day.replace(year=day.year + year, month=month + 1)


def _same_day(day: dt.date, months: int) -> dt.date:
    """The same day of the month `months` later (earlier when negative), cut to that month's end."""
    first = _add_months(day.replace(day=1), months)
    return first.replace(day=min(day.day, calendar.monthrange(first.year, first.month)[1]))


def _label(start: dt.date, period: str) -> str:
    if period == "day":
        return start.isoformat()
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return {"month": f"{start:%Y-%m}", "quarter": f"{start.year}-Q{(start.month - 1) // 3 + 1}",
            "year": f"{start.year}"}[period]


def period_window(period: str, as_of, baseline: str | None = None) -> Window:
    """The current window (`baseline=None`: period start .. `as_of`) or a baseline's same stretch."""
    check_period(period)
    as_of = as_date(as_of, "as_of")
    start = _period_start(as_of, period)
    if baseline is None:
        return Window("current", start, as_of, _label(start, period))
    if baseline not in BASELINES:
        raise FilterError(one_of("baseline", baseline, BASELINES))
    if period == "day":
        b_start = as_of - dt.timedelta(days=1) if baseline == "previous" else _same_day(as_of, -_SHIFT[baseline])
        b_full_end = b_start
    elif period == "week":
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


def as_date(value, name: str) -> dt.date:
    """A date from a date, datetime or ISO text; a FilterError naming `name` otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise FilterError(f"{name} must be a date like 2026-01-31, got '{value}'.") from None
