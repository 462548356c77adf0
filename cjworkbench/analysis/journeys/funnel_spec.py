"""A funnel's definition: its steps (activity names or small predicates), order mode, window,
unit, optional and excluded steps, entry dates and grouping (`by`), checked before any query is built,
and `RULES`, the semantics every funnel result repeats in its definition."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from ...contract import FIELDS
from ...errors import one_of
from ...scope import Filters, FilterError, _date, as_filters

ORDERS = ("ordered", "strict", "any")
UNITS = ("journey", "customer", "session", "attempt")
STEP_COLUMNS = tuple(c for c in FIELDS["events"] if c != "event_ts") + ("source",)
BY = ("activity", "touchpoint", "channel", "department", "device", "stage", "source", "segment")
TIME_BINS = (60, 300, 900, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400)
NONE = "(none)"
NO_END = 2 ** 31 - 1   # end_pos of a unit that runs to the end of its events (fits an INT row number)
_PER = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?|w|weeks?)\s*")
RULES = {
    "entry": "a unit enters at its first step-1 event whose business date is in start_date..end_date "
             "(inclusive); the date range applies to step 1 only",
    "ordered": "each step is the earliest matching event after the previous step's event; other events "
               "may come between",
    "strict": "each step is the event that immediately follows the previous step's event in the unit's "
              "event order (after filters); nothing may come between",
    "any": "steps 2..n may happen in any order after the entry event; a step is reached once all "
           "required steps up to it have happened, at the time the last of them happened",
    "window": "a step counts only if its event is at most `window` seconds after the entry event "
              "(inclusive); times are epoch-second differences",
    "journey": "one unit per journey (journey_id, else customer_id)",
    "customer": "one unit per customer: the customer's events of all journeys in one sequence",
    "session": "one unit per visit: a customer's events across sources, split after 30 minutes without an event",
    "attempt": "every step-1 event in the date range starts an attempt of its journey; the attempt "
               "runs until the next step-1 event of the journey (any date), exclusive, or the window's end",
    "optional": "an optional step counts units that did it after the previous required step and within "
                "the window (its n_dropped: units that skipped it); skipping it never blocks later steps, "
                "whose previous step is the nearest required one (in strict order a later step may follow "
                "either the optional step or the step before it)",
    "exclude": "the first excluded event after entry ends the unit: steps whose event comes at or after "
               "it do not count, so the unit is dropped at the first step not reached before it",
}


@dataclass(frozen=True)
class Step:
    label: str
    where: tuple[tuple[str, tuple], ...]   # (canonical column, allowed values)
    optional: bool = False


@dataclass(frozen=True)
class Funnel:
    steps: tuple[Step, ...]
    order: str
    window: float | None
    unit: str
    exclude: tuple[Step, ...]
    entry_dates: tuple[dt.date | None, dt.date | None]   # (start_date, end_date) of step 1's event
    by: str | None
    filters: Filters


def parse_window(window) -> float | None:
    """Seconds in a window such as '7d', '24h', '30min', '90s', 3600 or a timedelta; None = unbounded."""
    if window is None:
        return None
    if isinstance(window, dt.timedelta):
        seconds = window.total_seconds()
    elif isinstance(window, (int, float)) and not isinstance(window, bool):
        seconds = float(window)
    else:
        m = _DURATION.fullmatch(str(window).lower())
        if not m:
            raise FilterError(f"window must be a duration like '7d', '24h', '30min', '90s' or a number "
                              f"of seconds, got '{window}'.")
        seconds = float(m[1]) * _PER[m[2][0]]
    if not math.isfinite(seconds) or seconds < 0:
        raise FilterError(f"window must be zero or more seconds, got '{window}'.")
    return seconds


def _step(item, what: str = "step") -> Step:
    """A step from an activity name or a predicate dict (equality or list membership, and `label`)."""
    if isinstance(item, str):
        return Step(item, (("activity", (item,)),))
    if not isinstance(item, dict) or not set(item) - {"label"}:
        raise FilterError(f"A {what} must be an activity name or a dict like {{'activity': 'pay', "
                          f"'channel': 'app'}}, got {item!r}.")
    where = []
    for key, value in item.items():
        if key == "label":
            continue
        if key not in STEP_COLUMNS:
            raise FilterError(one_of(f"{what} column", key, STEP_COLUMNS))
        values = tuple(value) if isinstance(value, (list, tuple, set, frozenset)) else (value,)
        kind = (int, float) if key == "amount" else str
        if not values or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
            raise FilterError(f"{what} column '{key}' needs {'numbers' if key == 'amount' else 'text'} "
                              f"(one value or a non-empty list), got {value!r}.")
        where.append((key, values))
    text = " & ".join(f"{k}={'|'.join(map(str, v))}" for k, v in where)
    return Step(str(item.get("label") or text), tuple(where))


def _step_number(steps: tuple[Step, ...], item, what: str) -> int:
    """1-based number of a step given by number or label."""
    labels = [s.label for s in steps]
    if isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= len(steps):
        return item
    if isinstance(item, str) and labels.count(item) == 1:
        return labels.index(item) + 1
    if isinstance(item, str) and labels.count(item) > 1:
        raise FilterError(f"{what} '{item}' names several steps: give its number (1..{len(steps)}).")
    raise FilterError(one_of(what, item, [*range(1, len(steps) + 1), *labels]))


def _funnel(*, steps, order="ordered", window=None, unit="journey", filters=None, optional=(),
            exclude=(), start_date=None, end_date=None, by=None) -> Funnel:
    """Validate the options of a funnel (every value is checked before a query is built)."""
    for name, value, allowed in (("order", order, ORDERS), ("unit", unit, UNITS)):
        if value not in allowed:
            raise FilterError(one_of(name, value, allowed))
    if by is not None and (not isinstance(by, str) or not by):   # any other name: an attribute, checked with
        raise FilterError(one_of("by", by, BY))                  # the data (analysis/segments/breakdowns.py)
    if isinstance(steps, (str, dict)) or not steps:
        raise FilterError("steps must be a non-empty list of activity names or predicate dicts.")
    parsed = tuple(_step(s) for s in steps)
    skip = {_step_number(parsed, o, "optional step") for o in _listed(optional)}
    if skip & {1, len(parsed)}:
        raise FilterError(f"The first and last steps cannot be optional (steps 1 and {len(parsed)}).")
    parsed = tuple(Step(s.label, s.where, k in skip) for k, s in enumerate(parsed, 1))
    return Funnel(parsed, order, parse_window(window), unit,
                  tuple(_step(x, "excluded step") for x in _listed(exclude)),
                  (start_date and _date(start_date, "start_date"), end_date and _date(end_date, "end_date")),
                  by, as_filters(filters))


def _listed(value) -> list:
    return [] if value is None else [value] if isinstance(value, (str, int, dict)) else list(value)


def _previous(f: Funnel, k: int) -> int:
    """The nearest required step before step k (steps count from 1; step 1 is never optional)."""
    return max(j for j in range(1, k) if not f.steps[j - 1].optional)
