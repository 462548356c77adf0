"""Ranked horizontal bars whose names sit above each bar, so a long name (a journey, a path) reads
whole at any width: on a 390 px phone an axis label would be cut to "Order place…", a line above
the bar takes the chart's whole width (and is cut only beyond it, with "…"; the tooltip keeps all)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .theme import GREY, INK

ROW_PX = 38   # one bar and the line of text above it


def share_bars(df: pd.DataFrame, *, label: str, count: str, label_title: str, count_title: str,
               x_title: str, rest, colour: str, title: str, tips=()) -> alt.LayerChart:
    """Bars of `share` per `label` in the rows' order, each named above its bar and labelled with its
    percentage at its end; rows whose `label` equals `rest` (such as `(end)`), or whose boolean
    column `rest` (named by a list of one column, `["other"]`) is true, in grey. `tips`: more tooltips."""
    df = df.assign(share_text=df["share"].map(lambda s: f"{s:.1%}"))
    grey = alt.datum[rest[0]] if isinstance(rest, list) else alt.datum[label] == rest
    tooltip = ([alt.Tooltip(f"{label}:N", title=label_title)]
               + ([alt.Tooltip(f"{label}_raw:N", title="in the data")] if f"{label}_raw" in df.columns else [])
               + [alt.Tooltip(f"{count}:Q", title=count_title, format=","), *tips,
                  alt.Tooltip("share:Q", title="share", format=".1%")])
    base = alt.Chart(df).encode(y=alt.Y(f"{label}:N", title=None, sort=list(df[label]), axis=None), tooltip=tooltip)
    bars = base.mark_bar(size=12, yOffset=6).encode(
        x=alt.X("share:Q", title=x_title, axis=alt.Axis(format="%")),
        color=alt.condition(grey, alt.value(GREY), alt.value(colour)))
    ends = base.mark_text(align="left", dx=3, yOffset=6, fontSize=10).encode(x="share:Q", text="share_text:N")
    names = base.mark_text(align="left", baseline="bottom", yOffset=-1, fontSize=11, color=INK,
                           limit=alt.ExprRef("max(60, width - 4)")).encode(x=alt.value(0), text=f"{label}:N")
    return (bars + ends + names).properties(width=360, height=ROW_PX * len(df), title=title)
