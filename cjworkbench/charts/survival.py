"""Time-to-event charts: Kaplan-Meier curves per group and Cox hazard ratios with their check."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .. import formats
from .names import name, named, raw_tip
from .theme import GREY, captioned, empty_chart, require, shown


def survival_chart(table: pd.DataFrame, *, title: str | None = None, max_days: float | None = None,
                   labels=None) -> alt.VConcatChart:
    """Step lines of the share still without the outcome against days since the start, one per
    group, with the pointwise interval as a band; medians in the tooltip."""
    require(table, ("group", "time_days", "estimate", "low", "high", "n_at_risk"), chart="survival_chart",
            source="survival_table()")
    d = table.attrs.get("definition", {})
    what = name(d["event"], labels) if d.get("event") else "churn"
    title = title or f"Time to {what}: share of customers still without it"
    df = shown(table)
    if max_days is not None:
        df = df[df["time_days"] <= max_days]
    if df.empty:
        return captioned(empty_chart(title, "No customers for these filters."), table)
    df = named(df.assign(low=df["low"].fillna(df["estimate"]), high=df["high"].fillna(df["estimate"])), ["group"],
               labels)
    groups = sorted(df["group"].astype(str).unique())
    tip = [alt.Tooltip("group:N", title=d.get("by") or "group"), *raw_tip(df, "group"),
           alt.Tooltip("time_days:Q", title="days", format=",.1f"),
           alt.Tooltip("estimate:Q", title="still without it", format=".1%"),
           alt.Tooltip("low:Q", title="low", format=".1%"), alt.Tooltip("high:Q", title="high", format=".1%"),
           alt.Tooltip("n_at_risk:Q", title="at risk", format=",")]
    if "median_days" in df.columns:
        tip.append(alt.Tooltip("median_days:Q", title="median days", format=",.1f"))
    color = alt.Color("group:N", title=d.get("by") or None, sort=groups,
                      legend=alt.Legend(orient="bottom", labelLimit=320) if len(groups) > 1 else None)
    base = alt.Chart(df).encode(x=alt.X("time_days:Q", title="days since the start"), color=color, tooltip=tip)
    band = base.mark_area(opacity=0.15, interpolate="step-after").encode(y="low:Q", y2="high:Q")
    line = base.mark_line(interpolate="step-after").encode(
        y=alt.Y("estimate:Q", title="share still without it", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])))
    chart = (band + line).properties(width=520, height=300, title=alt.TitleParams(
        title, subtitle="Kaplan-Meier estimate with its pointwise interval; censored customers count until they leave view"))
    return captioned(chart, table, keys=("stop", "censoring", "curve"))


def hazard_chart(table: pd.DataFrame, *, title: str | None = None, labels=None) -> alt.VConcatChart:
    """Hazard ratio of each group against the reference (log scale) with its interval; groups whose
    proportional-hazards check fails (ph_p_value < 0.05) are drawn hollow."""
    require(table, ("group", "estimate", "low", "high", "p_value", "ph_p_value", "n_customers"),
            chart="hazard_chart", source="hazard_table()")
    d = table.attrs.get("definition", {})
    event = name(d["event"], labels) if d.get("event") else "churn"
    title = title or f"How fast each group reaches {event} (hazard ratio vs {name(d.get('reference'), labels)})"
    df = shown(table)
    df = df[df["low"].notna()]
    if df.empty:
        return captioned(empty_chart(title, "One group only: nothing to compare."), table)
    df = named(df, ["group"], labels)
    df = df.assign(ph_ok=df["ph_p_value"].isna() | (df["ph_p_value"] >= 0.05),
                   p_text=df["p_value"].map(formats.p_value), ph_p_text=df["ph_p_value"].map(formats.p_value))
    tip = [alt.Tooltip("group:N"), *raw_tip(df, "group"), alt.Tooltip("estimate:Q", title="hazard ratio", format=".2f"),
           alt.Tooltip("low:Q", title="low", format=".2f"), alt.Tooltip("high:Q", title="high", format=".2f"),
           alt.Tooltip("p_text:N", title="p-value"),
           alt.Tooltip("ph_p_text:N", title="proportional hazards check p"),
           alt.Tooltip("median_days:Q", title="median days", format=",.1f"),
           alt.Tooltip("n_customers:Q", title="customers", format=","),
           alt.Tooltip("n_events:Q", title="events", format=",")]
    y = alt.Y("group:N", title=None, sort=list(df["group"]))
    scale = alt.Scale(type="log")
    axis_title = "hazard ratio (log scale; above 1: reaches it sooner)"
    base = alt.Chart(df).encode(y=y, tooltip=tip)
    ref = alt.Chart().mark_rule(color=GREY, strokeDash=[3, 3]).encode(x=alt.datum(1))
    spans = base.mark_rule(strokeWidth=2, color="#333333").encode(
        x=alt.X("low:Q", title=axis_title, scale=scale), x2="high:Q")
    points = base.mark_point(size=80, color="#333333").encode(
        x=alt.X("estimate:Q", scale=scale),
        fill=alt.condition("datum.ph_ok", alt.value("#333333"), alt.value("white")))
    chart = (ref + spans + points).properties(width=420, height=max(80, 36 * len(df)), title=alt.TitleParams(
        title, subtitle="Hollow: hazards not proportional (Schoenfeld check p < 0.05), read the curves instead"))
    return captioned(chart, table, keys=("reference", "model"))
