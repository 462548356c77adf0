"""Funnel charts: units reaching each step with the drop-off, time to convert, and where the
drop-offs went next."""

from __future__ import annotations

import textwrap

import altair as alt
import pandas as pd

from ..deprecation import deprecated_alias
from .names import name, named
from .bars import share_bars
from .theme import CATEGORY, INK, VERDICT, ChartError, captioned, empty_chart, require, shown

FUNNEL_COLUMNS = ("step", "label", "previous_step", "n_entered", "conversion_from_start",
                  "conversion_from_previous", "n_dropped", "median_seconds_to_step", "p90_seconds_to_step",
                  "optional", "suppressed")
PARTS = ("reached", "dropped before this step")


def _by(table: pd.DataFrame) -> str | None:
    extra = [c for c in table.columns if c not in FUNNEL_COLUMNS]
    if len(extra) > 1:
        raise ChartError(f"funnel_chart draws one `by` column; this table has {', '.join(extra)}.")
    return extra[0] if extra else None


def funnel_chart(table: pd.DataFrame, *, title: str = "Funnel", labels=None) -> alt.VConcatChart:
    """Bars of `funnel_table`: units reaching each step (dark) with the units lost since the
    previous step on top (light), labelled with conversion from the start and from the previous
    step; one panel per `by` value."""
    require(table, ("step", "label", "n_entered", "n_dropped", "conversion_from_start",
                    "conversion_from_previous"), chart="funnel_chart", source="funnel_table()")
    group = _by(table)
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    df = df.assign(step_label=df["step"].astype(str) + ". " + df["label"].map(lambda v: name(v, labels)))
    df["step_text"] = df["step_label"].map(lambda t: "\n".join(textwrap.wrap(t, 16)))   # axis lines on a phone
    df["label_text"] = [
        "100 %" if s == df["step"].min() else f"{a:.1%} of start\n{b:.1%} of previous"
        for s, a, b in zip(df["step"], df["conversion_from_start"], df["conversion_from_previous"])]
    df["top"] = df["n_entered"] + df["n_dropped"]
    keys = ["step", "step_label", "step_text", "label_text", "top", "n_entered", "n_dropped", "conversion_from_start",
            "conversion_from_previous"] + ([group] if group else [])
    long = df[keys].melt(id_vars=[k for k in keys if k not in ("n_entered", "n_dropped")],
                         value_vars=["n_entered", "n_dropped"], var_name="part", value_name="n")
    long["part"] = long["part"].map({"n_entered": PARTS[0], "n_dropped": PARTS[1]})
    long["part_order"] = long["part"].map({PARTS[0]: 0, PARTS[1]: 1})
    tip = ([alt.Tooltip(f"{group}:N")] if group else []) + [
        alt.Tooltip("step_label:N", title="step"), alt.Tooltip("part:N", title="units"),
        alt.Tooltip("n:Q", title="count", format=","),
        alt.Tooltip("conversion_from_start:Q", title="conversion from start", format=".1%"),
        alt.Tooltip("conversion_from_previous:Q", title="conversion from previous", format=".1%")]
    x = alt.X("step_text:N", title=None, sort=list(dict.fromkeys(df.sort_values("step")["step_text"])),
              axis=alt.Axis(labelAngle=0, labelLimit=150, labelExpr="split(datum.label, '\\n')"))
    bars = alt.Chart().mark_bar().encode(
        x=x, y=alt.Y("n:Q", title="units", stack="zero", axis=alt.Axis(format="~s")),
        color=alt.Color("part:N", title=None, scale=alt.Scale(domain=list(PARTS), range=[CATEGORY[0], "#d5dce6"]),
                        legend=alt.Legend(orient="bottom")),
        order=alt.Order("part_order:Q"), tooltip=tip)
    text = alt.Chart().transform_filter(f"datum.part == '{PARTS[0]}'").mark_text(
        dy=-6, fontSize=10, baseline="bottom", lineBreak="\n").encode(x=x, y="top:Q", text="label_text:N")
    width = max(320, 150 * df["step"].nunique())
    layer = alt.layer(bars, text, data=long).properties(width=width, height=180 if group else 260)
    chart = (layer.facet(row=alt.Row(f"{group}:N", title=group)) if group else layer).properties(
        title=alt.TitleParams(title, subtitle="Dark: units that reached the step; light: lost since the previous step"))
    return captioned(chart, table, keys=("optional", "exclude"), notes=[_steps_note(table, labels)])


def _steps_note(table: pd.DataFrame, labels=None) -> str:
    steps = table.attrs.get("definition", {}).get("steps") or []
    parts = []
    for s in steps:
        if isinstance(s, dict):
            cond = ", ".join(f"{k} {'/'.join(map(str, v)) if isinstance(v, list) else v}"
                             for k, v in s.items() if k != "label")
            parts.append(f"{name(s.get('label'), labels)} ({cond})" if cond and cond != f"activity {s.get('label')}"
                         else name(s.get("label"), labels))
    return f"Steps: {' → '.join(parts)}." if parts else ""


def funnel_times_chart(table: pd.DataFrame, *, title: str = "Time to convert", labels=None) -> alt.VConcatChart:
    """Bars of `funnel_times_table`: share of converted units per time bin (entry to last step),
    with the cumulative share as a line on the same 0-100 % axis."""
    require(table, ("bin", "lower_seconds", "n_converted", "share", "cumulative_share"),
            chart="funnel_times_chart", source="funnel_times_table()")
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    x = alt.X("bin:N", title="time from entry to the last step", sort=list(df.sort_values("lower_seconds")["bin"]),
              axis=alt.Axis(labelAngle=0))
    tip = [alt.Tooltip("bin:N", title="time"), alt.Tooltip("n_converted:Q", title="converted units", format=","),
           alt.Tooltip("share:Q", title="share", format=".1%"),
           alt.Tooltip("cumulative_share:Q", title="converted by then", format=".1%")]
    base = alt.Chart(df).encode(x=x, tooltip=tip)
    bars = base.mark_bar(color=CATEGORY[0]).encode(
        y=alt.Y("share:Q", title="share of converted units", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])))
    line = base.mark_line(color=INK, point=alt.OverlayMarkDef(color=INK)).encode(y="cumulative_share:Q")
    chart = (bars + line).properties(width=max(320, 60 * len(df)), height=220, title=alt.TitleParams(
        title, subtitle="Bars: share converting in each time band; line: share converted by the end of the band"))
    return captioned(chart, table, keys=("bin_rule",), notes=[_steps_note(table, labels)])


def funnel_dropoff_next_chart(table: pd.DataFrame, *, title: str | None = None, labels=None) -> alt.VConcatChart:
    """Bars of `funnel_dropoff_next_table`: what the units that dropped off did next."""
    require(table, ("next_activity", "n_dropped", "share"), chart="funnel_dropoff_next_chart",
            source="funnel_dropoff_next_table()")
    d = table.attrs.get("definition", {})
    if title is None:
        title = f"After dropping off before step {d.get('at_step', '?')}, units went to"
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    chart = share_bars(named(df, ["next_activity"], labels), label="next_activity", count="n_dropped",
                       label_title="next", count_title="units", x_title="share of the drop-offs", rest="(end)",
                       colour=VERDICT["worse"], title=title)   # where the lost units went: the worse colour
    return captioned(chart, table, keys=("next_rule",), notes=[_steps_note(table, labels)])


dropoff_next_chart = deprecated_alias(funnel_dropoff_next_chart, "dropoff_next_chart")
