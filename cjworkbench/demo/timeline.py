"""The demo's clock: the two-year window, Amsterdam local time and realistic times of day.

Generation happens in UTC epoch seconds (int64 arrays); each export converts to its silo's
convention when it is written. The EU summer-time rule (last Sunday of March and of October,
01:00 UTC) is tabulated once, so converting millions of timestamps is one `searchsorted`
rather than a zoneinfo call per value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np

ZONE = "Europe/Amsterdam"
HOUR = 3600
DAY = 86_400

# relative weight of each local hour 0..23
_WEB = [2, 1, .6, .4, .4, .6, 1.5, 3, 4, 4.5, 5, 5, 5.5, 5, 5, 5, 5.5, 6, 7, 8.5, 9, 8, 6, 3.5]
_OFFICE = [0, 0, 0, 0, 0, 0, 0, .5, 4, 6, 6.5, 6, 5, 5.5, 5.5, 5, 4.5, 4, 3, 2.5, 2, 1, 0, 0]
_DAYTIME = [0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 5, 5, 5, 5, 5, 5, 5, 5, 4, 3, 2, 1, 0, 0]
HOURS = {name: np.array(w) / sum(w) for name, w in
         (("web", _WEB), ("office", _OFFICE), ("daytime", _DAYTIME))}


@dataclass(frozen=True)
class Window:
    """Two years of history ending with `end_date` (inclusive), in UTC epoch seconds."""

    start: int  # local midnight two years before the day after end_date
    end: int  # local midnight after end_date (exclusive)
    drift: int  # local midnight DRIFT_MONTHS before `end`
    end_date: dt.date

    @property
    def start_date(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.start, ZoneInfo(ZONE)).date()


def window(end_date: str | dt.date, drift_months: int) -> Window:
    """The history window for `end_date` ("YYYY-MM-DD"), with the drift cut-off."""
    end = dt.date.fromisoformat(str(end_date))
    after = end + dt.timedelta(days=1)
    return Window(start=local_midnight(_add_months(after, -24)), end=local_midnight(after),
                  drift=local_midnight(_add_months(after, -drift_months)), end_date=end)


def local_midnight(day: dt.date) -> int:
    """UTC epoch seconds of 00:00 Amsterdam time on `day`."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(ZONE)).timestamp())


def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    return dt.date(day.year + y, m + 1, min(day.day, 28))


@cache
def switches() -> np.ndarray:
    """UTC instants summer time starts/ends, alternating, 1980-2100 (EU rule, 01:00 UTC)."""
    out = []
    for year in range(1980, 2101):
        for month in (3, 10):
            last = dt.date(year, month, 31)
            sunday = last - dt.timedelta(days=(last.weekday() + 1) % 7)
            out.append(int(dt.datetime(sunday.year, month, sunday.day, 1, tzinfo=dt.UTC).timestamp()))
    return np.array(out, dtype=np.int64)


def utc_offset(ts: np.ndarray) -> np.ndarray:
    """Amsterdam's UTC offset in seconds (3600 or 7200) at each UTC instant."""
    inside = np.searchsorted(switches(), ts, side="right") % 2 == 1
    return np.where(inside, 2 * HOUR, HOUR)


def to_local(ts: np.ndarray) -> np.ndarray:
    """UTC epoch seconds -> Amsterdam wall-clock seconds (as if the wall clock were UTC)."""
    return ts + utc_offset(ts)


def to_utc(local: np.ndarray) -> np.ndarray:
    """Amsterdam wall-clock seconds -> UTC; times in the spring gap move an hour on."""
    return local - utc_offset(local - HOUR)


def clock_changes(win: Window) -> dict[str, list[int]]:
    """UTC instants (01:00) inside the window when summer time starts ("spring") and ends ("autumn")."""
    out = {"spring": [], "autumn": []}
    for s in switches():
        if win.start <= s < win.end:
            month = dt.datetime.fromtimestamp(int(s), dt.UTC).month
            out["spring" if month == 3 else "autumn"].append(int(s))
    return out


def random_times(rng: np.random.Generator, lo, hi, hours: str = "web", size: int | None = None) -> np.ndarray:
    """One UTC time per unit in [lo, hi): a uniform day, then a local hour drawn from `hours`."""
    lo, hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
    n = size if size is not None else max(lo.size, hi.size)
    lo, hi = np.broadcast_to(lo, n), np.broadcast_to(hi, n)
    t = lo + (rng.random(n) * np.maximum(hi - lo, 1)).astype(np.int64)
    local = to_local(t)
    sec = rng.choice(24, size=n, p=HOURS[hours]) * HOUR + rng.integers(0, HOUR, n)
    out = to_utc(local - local % DAY + sec)
    return np.clip(out, lo, np.maximum(hi - 1, lo))


def after(rng: np.random.Generator, t, lo_s: float, hi_s: float) -> np.ndarray:
    """`t` plus a uniform delay of lo_s..hi_s seconds."""
    t = np.asarray(t, np.int64)
    return t + rng.uniform(lo_s, hi_s, t.size).astype(np.int64)
