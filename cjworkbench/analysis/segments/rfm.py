"""RFM: recency, frequency, T and monetary value per customer, with scores and tiers.

The four numbers follow lifetimes' `summary_data_from_transaction_data` (daily periods, first
purchase excluded) exactly, so its models can be fed from this table:
- purchases are events with a non-NULL `amount` (or of `activity`), in business calendar days; the
  purchases of one customer on one day form one period whose value is the sum of their amounts;
  purchases after `as_of` are ignored; `as_of` defaults to the day of the latest purchase;
- frequency = number of purchase days - 1 (repeat periods); recency = days from the first to the
  last purchase day; T = days from the first purchase day to `as_of`;
- monetary_value = mean value of the repeat purchase days (the first day excluded), 0 without any.
Scores 1-5 (quintiles): 1 + floor(5 x percent rank), percent rank = (rank - 1) / (customers - 1)
with tied values sharing the lowest rank, so equal values always get equal scores;
r_score ranks days since the last purchase (T - recency, fewer is better), f_score frequency,
m_score monetary_value. Tiers: the first matching rule of TIERS.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from ...scope import FilterError, _date, _values, definition, epoch, scope

DAY = 86_400
TIERS = (
    ("champions", "r_score >= 4 and f_score >= 4 and m_score >= 4"),
    ("loyal", "r_score >= 3 and f_score >= 4"),
    ("new", "frequency = 0 and r_score >= 4"),
    ("at risk", "r_score <= 2 and f_score >= 4"),
    ("hibernating", "r_score <= 2"),
    ("needs attention", "everyone else"),
)


def _score(col, *, reverse: bool = False):
    order = ibis.desc(col) if reverse else col
    pr = ibis.percent_rank().over(ibis.window(order_by=order))
    return ibis.least(5, (pr * 5).floor().cast("int64") + 1)


def rfm_table(con, *, as_of=None, activity=None, filters=None) -> pd.DataFrame:
    """One row per customer with a purchase: first / last purchase day, frequency, recency, T,
    monetary_value (lifetimes' definitions, see the module docstring), RFM scores and tier."""
    sc = scope(con, filters, unit="customer")
    ev = sc.events()
    if activity is None:
        p = ev.filter(ev.amount.notnull())
    else:
        p = ev.filter(ev.activity.isin([str(a) for a in _values(activity)]))
    p = p.mutate(day=p.event_date.cast("timestamp"))   # the purchase's business day
    if as_of is not None:
        end = ibis.timestamp(_as_of(as_of))
        p = p.filter(p.day <= end)
    else:
        end = p.day.max().as_scalar()
    days = p.group_by(["customer_id", "day"]).aggregate(value=p.amount.fill_null(0).sum())
    days = days.mutate(first_day=days.day.min().over(ibis.window(group_by="customer_id")))
    c = days.group_by("customer_id").aggregate(
        first_purchase_date=days.day.min(), last_purchase_date=days.day.max(), n_days=days.count(),
        monetary_value=days.value.mean(where=days.day > days.first_day))
    c = c.mutate(frequency=(c.n_days - 1).cast("float64"),
                 recency=(epoch(c.last_purchase_date) - epoch(c.first_purchase_date)) / DAY,
                 T=(epoch(end) - epoch(c.first_purchase_date)) / DAY,
                 monetary_value=c.monetary_value.fill_null(0.0))
    c = c.mutate(days_since_last=c.T - c.recency)
    c = c.mutate(r_score=_score(c.days_since_last, reverse=True), f_score=_score(c.frequency),
                 m_score=_score(c.monetary_value))
    c = c.mutate(rfm_score=c.r_score.cast("string") + c.f_score.cast("string") + c.m_score.cast("string"),
                 tier=_tier(c))
    cols = ["customer_id", "first_purchase_date", "last_purchase_date", "frequency", "recency", "T",
            "monetary_value", "days_since_last", "r_score", "f_score", "m_score", "rfm_score", "tier"]
    df = c.select(cols).order_by("customer_id").execute()
    for col in ("first_purchase_date", "last_purchase_date"):
        df[col] = pd.to_datetime(df[col]).dt.date
    return definition(df, analysis="rfm", as_of=str(_as_of(as_of)) if as_of is not None else "latest purchase day",
                      purchases=f"events with activity in {list(_values(activity))}" if activity is not None
                      else "events with a non-NULL amount", period="business calendar day",
                      definitions=__doc__.split("\n", 2)[2].strip(), tiers=dict(TIERS),
                      filters=sc.describe())


def _tier(c):
    r, f, m = c.r_score, c.f_score, c.m_score
    return ibis.cases(((r >= 4) & (f >= 4) & (m >= 4), "champions"), ((r >= 3) & (f >= 4), "loyal"),
                      ((c.frequency == 0) & (r >= 4), "new"), ((r <= 2) & (f >= 4), "at risk"),
                      (r <= 2, "hibernating"), else_="needs attention")


def _as_of(value) -> dt.date:
    if isinstance(value, str) and len(value) > 10:
        try:
            return dt.datetime.fromisoformat(value).date()
        except ValueError:
            raise FilterError(f"as_of must be a date like 1998-06-30, got '{value}'.") from None
    return _date(value, "as_of")
