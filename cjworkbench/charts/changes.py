"""What changed: the ranked rows of `changes_table` as change ± interval."""

from __future__ import annotations

import altair as alt
import pandas as pd

from ..narrative import changes_summary
from .. import formats
from .names import name
from .page import panel_width, row_height, wrapped, wrapped_axis
from .theme import VERDICT, captioned, empty_chart, ensure_theme, require

COLUMNS = ("rank", "area", "item", "metric", "baseline", "change", "low", "high", "significant", "better")
_UNITS = {"conversion": "points", "share": "points", "top_box_rate": "points", "low_effort_rate": "points",
          "nps": "NPS points", "median_seconds": "hours (median)", "mean_score": "score (mean)"}


def _lower(words: str) -> str:
    """'Effect on CES' -> 'effect on CES' (inside a sentence); 'NPS' stays."""
    return words[0].lower() + words[1:] if words[1:2].islower() else words


def changes_chart(table, *, top: int = 15, labels=None, width: int | None = None):
    """The `top` ranked rows of `changes_table` as change ± interval, one panel per unit (rates in
    percentage points, times in hours), coloured better / worse (`theme.VERDICT`; grey: either way),
    faded when not significant; items by their display names (`labels`). On a page narrower than
    `page.NARROW_PX` (`width`) the panels take the page's width and each row's name wraps onto lines."""
    require(table, COLUMNS, chart="changes_chart", source="changes_table")
    ensure_theme()
    df = table.head(top).copy()
    if df.empty:
        return captioned(empty_chart("What changed", "No figures to compare for this period."), table)
    scale = df["metric"].isin(["conversion", "share", "top_box_rate", "low_effort_rate"]).map({True: 100, False: 1})
    scale = scale.where(df["metric"] != "median_seconds", 1 / 3600)
    for col in ("change", "low", "high"):
        df[col] = df[col] * scale
    df["unit"] = [_UNITS.get(m, _lower(formats.value_name("metric", m))) for m in df["metric"]]
    df["item_raw"] = df["item"].astype(str)
    df["item"] = [name(i, labels) for i in df["item"]]
    df["label"] = wrapped([f"{r.rank}. {r.item} ({_lower(formats.value_name('metric', r.metric))}, vs "
                           f"{r.baseline.replace('_', ' ')})"
                           for r in df.itertuples()], width, wide_chars=62)   # whole, in the labels' 420 px
    worse = (df["better"] == "higher") == (df["change"] < 0)
    df["direction"] = worse.map({True: "worse", False: "better"}).where(df["better"].isin(["higher", "lower"]),
                                                                         "either way")
    df["p_text"] = df["p_value"].map(formats.p_value)
    df["significance"] = df["significant"].map({True: "significant", False: "not significant"})
    panels = []
    for unit, part in df.groupby("unit", sort=False):
        base = alt.Chart(part).encode(y=alt.Y("label:N", sort=list(part["label"]), title=None,
                                                      axis=wrapped_axis(width, lines=True, labelLimit=420)))
        tips = [alt.Tooltip("item:N", title="Item"), alt.Tooltip("item_raw:N", title="in the data"),
                alt.Tooltip("metric:N", title="Metric"),
                alt.Tooltip("change:Q", title=f"Change ({unit})", format=",.2f"),
                alt.Tooltip("low:Q", title="Low", format=",.2f"), alt.Tooltip("high:Q", title="High", format=",.2f"),
                alt.Tooltip("p_text:N", title="p-value"), alt.Tooltip("n_current:Q", title="count now", format=","),
                alt.Tooltip("n_previous:Q", title="count before", format=",")]
        colour = alt.Color("direction:N", title="Change is", scale=alt.Scale(
            domain=["better", "worse", "either way"],
            range=[VERDICT["better"], VERDICT["worse"], VERDICT["not significant"]]))
        opacity = alt.Opacity("significance:N", title=None, scale=alt.Scale(
            domain=["significant", "not significant"], range=[1.0, 0.35]))
        rule = base.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title=f"Change in {unit}"), x2="high:Q",
                                                   color=colour, opacity=opacity, tooltip=tips)
        dot = base.mark_point(filled=True, size=70).encode(x="change:Q", color=colour, opacity=opacity, tooltip=tips)
        zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="#666666", strokeDash=[4, 3]).encode(x="zero:Q")
        panels.append(alt.layer(zero, rule, dot).properties(width=panel_width(width, 420),
                                                            height=max(40, row_height(df["label"], 30) * len(part))))
    d = table.attrs.get("definition", {})
    in_words = table.assign(item=[name(i, labels) for i in table["item"]],   # the summary in words too
                            area=[formats.value_name("area", a) for a in table["area"]])
    title = alt.TitleParams(f"What changed in {d.get('current', {}).get('label', 'the period')}: the {len(df)} "
                            f"top-ranked figures", subtitle=[line.lstrip("- ") for line in
                                                             changes_summary(in_words, top=2).splitlines()],
                            subtitleFontSize=11, subtitleColor="#666666")
    chart = alt.vconcat(*panels, title=title).resolve_scale(x="independent")
    skipped = "; ".join(f"{k} ({v})" for k, v in (d.get("skipped") or {}).items())
    return captioned(chart, table, notes=[f"Significance: {d.get('rules', {}).get('significance', '')}.",
                                          f"Not compared: {skipped}." if skipped else ""])
