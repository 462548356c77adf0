"""Conversion paths: each customer's touches (channel or touchpoint) leading up to a conversion.

PATH_RULE: a customer's scoped events in (event_ts, seq) order are cut at every `conversion`
event; the touches of a path are the events with a non-NULL `unit` value (channel or touchpoint)
after the previous conversion, at most `lookback_days` before the conversion, up to and including
the conversion event itself (its own channel is the converting touch). Consecutive touches with
the same value are one touch (web, web, email, web -> web, email, web), timed at the latest of
them. Touches after a customer's last conversion form one non-converting path (the same lookback,
counted back from its last touch). A path without any touch is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from ...errors import did_you_mean, one_of
from ...cache import remember
from ...scope import FilterError, as_filters, epoch, scope

UNITS = ("channel", "touchpoint")
DAY = 86_400.0
PATH_RULE = ("a customer's events are cut at each conversion event; a path's touches are the events with a "
             "non-NULL unit value after the previous conversion and at most lookback_days before the conversion, "
             "the conversion event included; repeats of the same value in a row count once; touches after the "
             "last conversion form one non-converting path")


@dataclass(frozen=True)
class Paths:
    """Paths as flat arrays: touch `codes` (into `channels`) and `age_days` (days before the path's
    end) per touch, `start` offsets per path (len n_paths + 1), `converted` per path, `customer` per path."""

    channels: tuple[str, ...]
    codes: np.ndarray
    age_days: np.ndarray
    start: np.ndarray
    converted: np.ndarray
    customer: np.ndarray

    @property
    def n_paths(self) -> int:
        return len(self.converted)

    def path(self, i: int) -> list[str]:
        return [self.channels[c] for c in self.codes[self.start[i]:self.start[i + 1]]]

    @classmethod
    def from_lists(cls, paths, converted, ages=None) -> "Paths":
        """Paths from lists of channel names (hand-made fixtures); `ages` in days per touch."""
        channels = tuple(sorted({c for p in paths for c in p}))
        index = {c: i for i, c in enumerate(channels)}
        codes = np.array([index[c] for p in paths for c in p], dtype=np.int64)
        age = (np.array([a for p in ages for a in p], float) if ages is not None
               else np.zeros(len(codes)))
        start = np.concatenate([[0], np.cumsum([len(p) for p in paths])]).astype(np.int64)
        return cls(channels, codes, age, start, np.asarray(converted, bool), np.arange(len(paths)))


def check_activity(con, activity: str, what: str = "conversion") -> str:
    """`activity` if some event has it, else a FilterError naming the nearest real activities."""
    if not isinstance(activity, str) or not activity:
        raise FilterError(f"{what} must be an activity name such as 'checkout_confirmed', got {activity!r}.")
    ev = con.table("events")
    if ev.filter(ev.activity == activity).limit(1).count().execute():
        return activity
    known = ev.select("activity").distinct().order_by("activity").limit(10_000).execute()["activity"].tolist()
    shown = ", ".join(map(str, known[:20])) + (", …" if len(known) > 20 else "")
    raise FilterError(f"Unknown {what} activity '{activity}': no event has it. Expected one of: {shown}."
                      + did_you_mean(activity, [str(k) for k in known]))


def default_conversion(con, filters=None) -> str:
    """The most common last activity of the scoped journeys (ties: the alphabetically first)."""
    st, _ = scope(con, filters).steps()
    last = st.filter(st.next_activity.isnull())
    top = (last.group_by("activity").aggregate(n=last.count())
           .order_by([ibis.desc("n"), "activity"]).limit(1).execute())
    if top.empty:
        raise FilterError("No journeys in scope, so there is no default conversion activity: widen the filters "
                          "or name the conversion activity.")
    return str(top["activity"].iloc[0])


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise FilterError(one_of("unit", unit, UNITS))
    return unit


def touch_rows(con, *, conversion: str, unit: str = "channel", lookback_days: float = 30,
               filters=None) -> pd.DataFrame:
    """One row per (collapsed) touch: customer_id, path_no, value, age_seconds, converted."""
    ev = scope(con, filters, unit="customer").events()
    t = ev.filter(ev[unit].notnull() | (ev.activity == conversion))
    t = t.select("customer_id", "event_ts", "seq", value=t[unit], conv=(t.activity == conversion).cast("int64"))
    # collapse runs first (a run's last event stands for it; a conversion always stays): fewer rows after
    # one window pass (one sort) for both: the collapse keeps every conversion, so the conversions
    # strictly before an event are the same before and after it
    w = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])
    cum = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"], rows=(None, 0))
    t = t.mutate(next_value=t.value.lead().over(w), path_no=t.conv.sum().over(cum) - t.conv)
    t = t.filter((t.conv == 1) | t.next_value.isnull() | (t.next_value != t.value))
    ends = t.group_by(["customer_id", "path_no"]).aggregate(
        end_ts=t.event_ts.max(where=t.conv == 1), last_touch_ts=t.event_ts.max(where=t.value.notnull()))
    ends = ends.mutate(converted=ends.end_ts.notnull(), end_ts=ends.end_ts.fill_null(ends.last_touch_ts))
    x = t.filter(t.value.notnull()).join(ends, ["customer_id", "path_no"])
    x = x.mutate(age_seconds=epoch(x.end_ts) - epoch(x.event_ts))
    x = x.filter(x.age_seconds <= float(lookback_days) * DAY)
    return x.select("customer_id", "path_no", "event_ts", "seq", "value", "age_seconds", "converted").execute()


def build_paths(con, *, conversion: str, unit: str = "channel", lookback_days: float = 30,
                filters=None) -> Paths:
    """The conversion paths in scope as `Paths` (see PATH_RULE), built once per connection and arguments."""
    check_unit(unit)
    if not isinstance(lookback_days, (int, float)) or isinstance(lookback_days, bool) or lookback_days <= 0:
        raise FilterError(f"lookback_days must be a positive number of days, got {lookback_days!r}.")
    key = ("attribution.paths", conversion, unit, float(lookback_days), repr(as_filters(filters)))
    # kept per connection (and shared by dashboard kernels, `cjworkbench.cache`): every model, Markov
    # order and resample count of the same paths reads them instead of cutting the events again
    return remember(con, "result", key, lambda: paths_from_rows(touch_rows(
        con, conversion=conversion, unit=unit, lookback_days=lookback_days, filters=filters)))


def paths_from_rows(rows: pd.DataFrame) -> Paths:
    rows = rows.sort_values(["customer_id", "path_no", "event_ts", "seq"], kind="stable", ignore_index=True)
    channels = tuple(sorted(rows["value"].astype(str).unique()))
    codes = pd.Categorical(rows["value"].astype(str), categories=channels).codes.astype(np.int64)
    cid, no = rows["customer_id"].to_numpy(), rows["path_no"].to_numpy()
    new = np.ones(len(rows), bool)
    new[1:] = (cid[1:] != cid[:-1]) | (no[1:] != no[:-1])
    first = np.flatnonzero(new)
    start = np.append(first, len(rows)).astype(np.int64)
    return Paths(channels, codes, rows["age_seconds"].to_numpy(float) / DAY, start,
                 rows["converted"].to_numpy(bool)[first], rows["customer_id"].to_numpy()[first])
