"""Ranked horizontal bars whose names sit above each bar, so a long name (a journey, a path) reads
whole at any width: on a 390 px phone an axis label would be cut to "Order place…", a line above
the bar takes the chart's whole width (and is cut only beyond it, with "…"; the tooltip keeps all)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .page import CHAR_EM, narrow
from .theme import GREY, INK

ROW_PX = 38   # one bar and the line of text above it
LINE_PX = 13  # another line of a name above its bar (a narrow page)


def name_lines(values, width) -> tuple[list[str], int]:
    """Names to write above bars: on a narrow page (`width`) each broken into lines (joined by a newline) that
    fit the plot, whole words; (the names, the most lines one takes)."""
    import textwrap

    if not narrow(width):
        return [str(v) for v in values], 1
    chars = max(16, int((width - 60) / (11 * CHAR_EM)))
    out = ["\n".join(textwrap.wrap(str(v), chars, break_on_hyphens=False)) or str(v) for v in values]
    return out, max((t.count("\n") + 1 for t in out), default=1)


def row_px(lines: int) -> int:
    """A row's height for a name of `lines` lines above its bar."""
    return max(ROW_PX, LINE_PX * lines + 26)


def stacked_names(base: alt.Chart, field: str, lines: int) -> tuple[dict, alt.Chart]:
    """On a narrow page: (the offset that puts a bar, and the text at its end, at the bottom of its row; the
    names written from the top of their rows, `field` holding `name_lines`), for rows `row_px(lines)` high."""
    offset, y = {"yOffset": row_px(lines) / 2 - 10}, base.encoding.y.copy(deep=True)
    y._kwds.update(axis=None, bandPosition=0)   # the top of the row
    names = base.mark_text(align="left", baseline="top", yOffset=2, fontSize=11, color=INK, lineBreak="\n",
                           lineHeight=LINE_PX).encode(y=y, x=alt.value(0), text=f"{field}:N")
    return offset, names


def share_bars(df: pd.DataFrame, *, label: str, count: str, label_title: str, count_title: str,
               x_title: str, rest, colour: str, title: str, tips=(), width: int | None = None) -> alt.LayerChart:
    """Bars of `share` per `label` in the rows' order, each named above its bar and labelled with its
    percentage at its end; rows whose `label` equals `rest` (such as `(end)`), or whose boolean
    column `rest` (named by a list of one column, `["other"]`) is true, in grey. `tips`: more tooltips. On a
    narrow page (`width`) a long name takes several lines (`name_lines`)."""
    names, lines = name_lines(df[label], width)
    df = df.assign(share_text=df["share"].map(lambda s: f"{s:.1%}"), name_text=names)
    grey = alt.datum[rest[0]] if isinstance(rest, list) else alt.datum[label] == rest
    tooltip = ([alt.Tooltip(f"{label}:N", title=label_title)]
               + ([alt.Tooltip(f"{label}_raw:N", title="in the data")] if f"{label}_raw" in df.columns else [])
               + [alt.Tooltip(f"{count}:Q", title=count_title, format=","), *tips,
                  alt.Tooltip("share:Q", title="share", format=".1%")])
    base = alt.Chart(df).encode(y=alt.Y(f"{label}:N", title=None, sort=list(df[label]), axis=None), tooltip=tooltip)
    shift, names = (stacked_names(base, "name_text", lines) if narrow(width) else (
        {"yOffset": 6}, base.mark_text(align="left", baseline="bottom", yOffset=-1, fontSize=11, color=INK,
                                       limit=alt.ExprRef("max(60, width - 4)")).encode(x=alt.value(0), text="name_text:N")))
    bars = base.mark_bar(size=12, **shift).encode(
        x=alt.X("share:Q", title=x_title, axis=alt.Axis(format="%")),
        color=alt.condition(grey, alt.value(GREY), alt.value(colour)))
    ends = base.mark_text(align="left", dx=3, fontSize=10, **shift).encode(x="share:Q", text="share_text:N")
    return (bars + ends + names).properties(width=360, height=row_px(lines) * len(df), title=title)
