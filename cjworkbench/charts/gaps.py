"""Hand-off charts: the switch matrix heatmap and the switch gap comparison with intervals."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .. import formats
from .names import name, named, raw_tip
from .page import narrow, panel_width, side_by_side
from .theme import (GREY, INK, PAIR, WIDE_SHARES, captioned, caution, duration_text, empty_chart, require, shown,
                    verdict_colour, verdict_of)


TIMES = ("median_seconds_to_outcome_with", "median_seconds_to_outcome_without")


def switch_matrix_chart(table: pd.DataFrame, *, title: str | None = None, labels=None) -> alt.VConcatChart:
    """Heatmap of `switch_matrix_table`: switches from (rows) to (columns), coloured by count,
    labelled with the count and the share of the row's switches."""
    require(table, ("from_value", "to_value", "n_switches"), chart="switch_matrix_chart",
            source="switch_matrix_table()")
    d = table.attrs.get("definition", {})
    dimension = d.get("by", d.get("dimension", "value"))
    title = title or f"Switches of {dimension}"
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title, f"No {dimension} switches for these filters."), table)
    df = df.assign(row_share=df["n_switches"] / df.groupby("from_value")["n_switches"].transform("sum"))
    df = named(df, ["from_value", "to_value"], labels)
    df["label"] = [f"{n:,.0f}\n{s:.0%}" for n, s in zip(df["n_switches"], df["row_share"])]
    df["dark"] = df["n_switches"] >= 0.6 * df["n_switches"].max()  # white text on dark cells
    df["median_time"] = (df["median_seconds"] if "median_seconds" in df.columns
                         else pd.Series(float("nan"), index=df.index)).map(duration_text)
    values = sorted(set(df["from_value"]) | set(df["to_value"]))
    tip = [alt.Tooltip("from_value:N", title="from"), alt.Tooltip("to_value:N", title="to"),
           *raw_tip(df, "from_value", "from, in the data"), *raw_tip(df, "to_value", "to, in the data"),
           alt.Tooltip("n_switches:Q", title="switches", format=","),
           alt.Tooltip("row_share:Q", title=f"share of switches from this {dimension}", format=".1%")]
    tip += [alt.Tooltip(f"{c}:Q", title=t, format=",") for c, t in (("n_journeys", "journeys"),
                                                                  ("n_customers", "customers")) if c in df.columns]
    tip.append(alt.Tooltip("median_time:N", title="median time to switch"))
    base = alt.Chart(df).encode(
        x=alt.X("to_value:N", title=f"to {dimension}", sort=values, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("from_value:N", title=f"from {dimension}", sort=values), tooltip=tip)
    rect = base.mark_rect().encode(color=alt.Color("n_switches:Q", title="switches",
                                                   scale=alt.Scale(scheme="blues")))
    text = base.mark_text(fontSize=10, lineBreak="\n").encode(
        text="label:N", color=alt.condition("datum.dark", alt.value("white"), alt.value("#333333")))
    chart = (rect + text).properties(width=max(200, 70 * len(values)), height=max(120, 40 * len(values)),
                                     title=alt.TitleParams(title, subtitle="Count and share of the row's switches"))
    return captioned(chart, table, keys=("switch_rule", "duration"))


def switch_gaps_chart(table: pd.DataFrame, *, title: str | None = None, labels=None,
                      width: int | None = None) -> alt.VConcatChart:
    """Outcome rate with vs without each switch (Wilson intervals), and the difference with its
    Newcombe interval: the hand-off gap, coloured better / worse when its interval excludes zero
    (`theme.VERDICT`). A switch seen in fewer than `theme.MIN_N` journeys, or whose interval is wider
    than 50 points, is drawn faded and dashed with "too few (n=…)" instead of its difference. On a page
    narrower than `page.NARROW_PX` (`width`) the panels are stacked, each naming its switches."""
    need = ("from_value", "to_value", "n_with", "rate_with", "rate_with_low", "rate_with_high", "n_without",
            "rate_without", "rate_without_low", "rate_without_high", "rate_diff", "rate_diff_low", "rate_diff_high")
    require(table, need, chart="switch_gaps_chart", source="switch_gaps_table()")
    d = table.attrs.get("definition", {})
    outcome = name(d["outcome_activity"], labels) if d.get("outcome_activity") else "the outcome"
    title = title or f"Reaching {outcome} with and without a switch"
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    df = named(df, ["from_value", "to_value"], labels)
    df = df.assign(switch=df["from_value"].astype(str) + " → " + df["to_value"].astype(str))
    p = df["p_value"] if "p_value" in df.columns else pd.Series(float("nan"), index=df.index)
    df = df.assign(**{f"pts{s}": df[f"rate_diff{s}"] * 100 for s in ("", "_low", "_high")},
                   caution=caution(df["n_with"], df["rate_diff_low"], df["rate_diff_high"], wide=WIDE_SHARES))
    df["verdict"] = [verdict_of(v, lo, hi, "higher") for v, lo, hi in
                     zip(df["rate_diff"], df["rate_diff_low"], df["rate_diff_high"])]
    df["diff_label"] = [c or f"{v * 100:+.1f} pts ({lo * 100:+.1f} to {hi * 100:+.1f})" + _p_text(pv) for c, v, lo, hi, pv
                        in zip(df["caution"], df["rate_diff"], df["rate_diff_low"], df["rate_diff_high"], p)]
    rows = []
    for which in ("with", "without"):
        part = df[["switch", "from_value", f"n_{which}", f"rate_{which}", f"rate_{which}_low", f"rate_{which}_high",
                   "caution"]]
        part = part.set_axis(["switch", "from_value", "n", "rate", "low", "high", "caution"], axis=1)
        group = "with the switch" if which == "with" else "without (stayed in " + part["from_value"].astype(str) + ")"
        rows.append(part.assign(group=group, which=which))
    long = pd.concat(rows, ignore_index=True)
    y = alt.Y("switch:N", title=None, sort=list(df["switch"]))
    tip = [alt.Tooltip("switch:N"), alt.Tooltip("group:N", title="journeys"),
           alt.Tooltip("n:Q", title="journeys compared", format=formats.VEGA["count"]),
           alt.Tooltip("rate:Q", title="outcome rate", format=formats.VEGA["share"]),
           alt.Tooltip("low:Q", title="interval low", format=formats.VEGA["share"]),
           alt.Tooltip("high:Q", title="interval high", format=formats.VEGA["share"]),
           alt.Tooltip("caution:N", title="read with care")]
    color = alt.Color("which:N", title=None,
                      scale=alt.Scale(domain=["with", "without"], range=list(PAIR)),
                      legend=alt.Legend(orient="bottom", labelLimit=320,
                                        labelExpr="datum.label == 'with' ? 'with the switch' : "
                                                  "'without: stayed in the from value'"))
    faded = alt.condition("datum.caution != ''", alt.value(0.3), alt.value(1.0))
    dashed = alt.condition("datum.caution != ''", alt.value([3, 3]), alt.value([1, 0]))
    base = alt.Chart(long).encode(y=y, yOffset=alt.YOffset("which:N", sort=["with", "without"]), tooltip=tip,
                                  opacity=faded)
    rates = (base.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title="outcome rate", axis=alt.Axis(format="%")),
                                                  x2="high:Q", color=color)
             + base.mark_point(filled=True, size=70).encode(x="rate:Q", color=color)).properties(
        width=panel_width(width, 300), height=max(80, 56 * len(df)), title="Outcome rate (95 % interval)")
    dtip = [alt.Tooltip("switch:N"), *raw_tip(df, "from_value", "from, in the data"),
            *raw_tip(df, "to_value", "to, in the data"), alt.Tooltip("diff_label:N", title="difference"),
            alt.Tooltip("verdict:N", title="the switch is"), alt.Tooltip("n_with:Q", title="journeys with it", format=",")]
    axis = alt.Axis() if narrow(width) else None   # stacked: each panel names its switches
    dbase = alt.Chart(df).encode(y=alt.Y("switch:N", title=None, sort=list(df["switch"]), axis=axis), tooltip=dtip,
                                 opacity=faded)
    colour = verdict_colour(title="With the switch, reaching it is", domain=["better", "worse", "not significant"])
    diffs = (alt.Chart().mark_rule(color=GREY, strokeDash=[3, 3]).encode(x=alt.datum(0))
             + dbase.mark_rule(strokeWidth=2).encode(
                 x=alt.X("pts_low:Q", title="difference, percentage points", axis=alt.Axis(format="+d", tickCount=5)),
                 x2="pts_high:Q", color=colour, strokeDash=dashed)
             + dbase.mark_point(filled=True, size=70).encode(x="pts:Q", color=colour)
             + dbase.mark_text(dy=-12, fontSize=10, color=INK).encode(x="pts:Q", text="diff_label:N")).properties(
        width=panel_width(width, 260), height=max(80, 56 * len(df)), title="With minus without")
    panels = [rates, diffs] + ([_times(df, y, color, width)] if all(c in df.columns for c in TIMES) else [])
    chart = side_by_side(*panels, width=width, title=title)
    return captioned(chart, table, keys=("comparison", "rate_diff"))


def _times(df: pd.DataFrame, y: alt.Y, color: alt.Color, width: int | None) -> alt.LayerChart:
    """Median time from the comparison point to the outcome, with vs without the switch, on an axis
    that reads in days, hours or minutes (`formats.duration_label_expr`)."""
    rows = [df[["switch", c, "caution"]].set_axis(["switch", "seconds", "caution"], axis=1).assign(which=w)
            for c, w in zip(TIMES, ("with", "without"))]
    long = pd.concat(rows, ignore_index=True).dropna(subset=["seconds"])
    long["time"] = long["seconds"].map(formats.duration)
    axis = alt.Axis(labelExpr=formats.duration_label_expr(long["seconds"].max()), tickCount=4)
    return alt.Chart(long).mark_bar().encode(
        y=y, yOffset=alt.YOffset("which:N", sort=["with", "without"]), color=color,
        opacity=alt.condition("datum.caution != ''", alt.value(0.3), alt.value(1.0)),
        x=alt.X("seconds:Q", title="median time to the outcome", axis=axis),
        tooltip=[alt.Tooltip("switch:N"), alt.Tooltip("which:N", title="journeys"),
                 alt.Tooltip("time:N", title="median time to the outcome")]).properties(
        width=panel_width(width, 200), height=max(80, 56 * len(df)), title="Time to the outcome")


def _p_text(p) -> str:
    if pd.isna(p):
        return ""
    text = formats.p_value(p)
    return f", p {text}" if text.startswith("<") else f", p = {text}"
