"""Names inside charts as people read them: the same display names the tables and the headline use.

A chart takes `labels` (raw name -> display name: the database's `labels:` design, which a dashboard
passes in; None: none) and shows every activity, touchpoint, channel, driver, theme and path by
`formats.display_name` ("order_shipped" -> "Order shipped", a path step by step) in its axes,
legends, marks and tooltips. The raw name stays in the tooltip ("in the data: order_shipped"),
because that is what an analyst types into a filter, a URL or a funnel's steps.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from .. import formats

RAW = "_raw"   # suffix of the column that keeps the raw names


def name(value, labels=None) -> str:
    """One raw name (or a path 'a → b') in words: `formats.display_name` with `labels` (None: none)."""
    return formats.display_name(value, labels or {})


def named(df: pd.DataFrame, columns, labels=None) -> pd.DataFrame:
    """`df` with each of `columns` it has in display names; the raw names kept in `<column>_raw`."""
    out = df.copy()
    for column in columns:
        if column in out.columns:
            raw = out[column].astype(object)   # a categorical column would refuse the new names
            mapping = {v: name(v, labels) for v in pd.unique(raw.dropna())}
            out[column + RAW] = raw.astype(object).where(raw.notna(), formats.MISSING).astype(str)
            out[column] = raw.map(mapping).where(raw.notna(), formats.MISSING)
    return out


def raw_tip(df: pd.DataFrame, column: str, title: str = "in the data") -> list[alt.Tooltip]:
    """[the raw-name tooltip of `column`] when any of its names reads differently, else []."""
    if column + RAW not in df.columns or df[column + RAW].astype(str).equals(df[column].astype(str)):
        return []
    return [alt.Tooltip(f"{column}{RAW}:N", title=title)]
