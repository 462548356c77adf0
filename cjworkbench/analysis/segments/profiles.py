"""Segment breakdowns: the customers in scope split by any `by` (`breakdowns.resolve_by`: the
segment, a customer attribute, or a column or attribute of the customer's first event in scope;
numeric attributes in quartile bands), each group's share of the customers and its journeys,
purchases, revenue and mean scores per customer, with intervals."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from ...privacy import suppress_small
from ...scope import definition, scope
from ..stats import wilson_interval
from .breakdowns import NONE, resolve_by, with_group
from .segments import customer_features

MEANS = ("n_journeys", "n_purchases", "revenue")
COLUMNS = ["measure", "n_customers", "n_units", "value", "low", "high"]


def _groups(con, by: str, filters) -> tuple[pd.Series, str]:
    """The group of every customer in scope (index customer_id), and where it was read."""
    b = resolve_by(con, by)
    sc = scope(con, filters)
    if b.kind in ("segment", "customer attribute"):
        t = with_group(con, sc.customers().select("customer_id"), b)
        where = "the customer's " + ("segment" if b.kind == "segment" else f"attribute '{by}'")
    else:
        ev = sc.events()
        w = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])
        first = ev.mutate(k=ibis.row_number().over(w))
        first = first.filter(first.k == 0).select("customer_id", "seq", *([by] if b.kind == "event column" else []))
        t = with_group(con, first, b)
        where = f"{'events.' if b.kind == 'event column' else 'the attribute '}{by} of the customer's first event in scope"
    bands = f"; a number in quantile bands cut at {', '.join(f'{e:g}' for e in b.edges)}" if b.edges else ""
    s = t.select("customer_id", "group").execute().set_index("customer_id")["group"]
    return s, f"{where}{bands}; missing: {NONE}"


def segments_table(con, *, by: str = "segment", filters=None, as_of=None, level: float = 0.95) -> pd.DataFrame:
    """One row per (group of `by`, measure): `customers` (the group's share of the customers in scope,
    Wilson interval), then journeys, purchases and revenue per customer and the mean score per
    instrument (means with Student t intervals; `n_units`: customers with a value). Groups under the
    small-group rule are flagged `suppressed` (privacy.SMALL_GROUP_RULE)."""
    df = customer_features(con, filters=filters, as_of=as_of)
    group, rule = _groups(con, by, filters)
    df["group"] = group.reindex(df.index).fillna(NONE)
    scores = [c for c in df.columns if c.startswith("score_")]
    rows = []
    for name, g in df.groupby("group", sort=True):
        rows.append([name, "customers", len(g), len(df), len(g) / len(df), *wilson_interval(len(g), len(df), level=level)[1:]])
        for c in (*(MEANS if df["n_events"].any() else ()), *scores):
            rows.append([name, c.replace("score_", "score ") if c in scores else c.replace("n_", "") + " per customer",
                         len(g), *_mean(g[c].dropna(), level)])
    out = pd.DataFrame(rows, columns=[by, *COLUMNS])
    out = suppress_small(out.sort_values([by, "measure"], ignore_index=True), count="n_customers", keep=(by, "measure"))
    return definition(out, analysis="segments", by=by, by_rule=rule, level=level, filters=scope(con, filters).describe(),
                      intervals="customers: Wilson; per customer: Student t", as_of=as_of and str(as_of))


def _mean(x: pd.Series, level: float) -> tuple:
    if not len(x):
        return 0, np.nan, np.nan, np.nan
    m = float(x.mean())
    if len(x) < 2:
        return len(x), m, np.nan, np.nan
    from scipy import stats

    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return len(x), m, m - half, m + half
