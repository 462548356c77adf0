"""Next-best-action back-test chart: outcome rates of exposed vs comparable moments and the difference."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .. import formats
from .names import name
from .page import narrow, panel_width, row_height, side_by_side, wrapped, wrapped_axis
from .theme import (GREY, INK, PAIR, WIDE_SHARES, captioned, caution, empty_chart, require, shown, verdict_colour,
                    verdict_of)


def actions_chart(table: pd.DataFrame, *, title: str | None = None, labels=None, width: int | None = None
                  ) -> alt.VConcatChart:
    """Per rule and comparison: the outcome rate of the exposed and the comparable moments, and the
    (matched or weighted) difference with its bootstrap interval, in percentage points, coloured better
    / worse when the interval excludes zero (`theme.VERDICT`); fewer than `theme.MIN_N` exposed moments
    or an interval wider than 50 points: faded, dashed, "too few (n=…)". The two panels sit side by side,
    or one above the other, each with its rules named, on a page narrower than `page.NARROW_PX` (`width`)."""
    need = ("rule", "comparison", "rate_exposed", "rate_control", "estimate", "low", "high", "n_exposed",
            "n_control", "n_triggers")
    require(table, need, chart="actions_chart", source="actions_table()")
    title = title or "Would the rule have helped? Outcome after the trigger (observational back-test)"
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title, "No trigger moments for these rules and filters."), table)
    df = df[[c for c in (*need, "p_value") if c in df.columns]]     # dates stay out of the spec
    df = df.assign(row=df["rule"].map(lambda r: name(r, labels)) + ": " + df["comparison"].astype(str))
    df = df.assign(**{f"pts{s}": df[c] * 100 for s, c in (("", "estimate"), ("_low", "low"), ("_high", "high"))})
    df["caution"] = caution(df["n_exposed"], df["low"], df["high"], wide=WIDE_SHARES)
    df["verdict"] = [verdict_of(v, lo, hi, "higher") for v, lo, hi in zip(df["estimate"], df["low"], df["high"])]
    df["label"] = [c or (formats.points(v) if pd.notna(v) else "") for c, v in zip(df["caution"], df["estimate"])]
    if "p_value" in df.columns:
        df["p_text"] = df["p_value"].map(formats.p_value)
    df = df.assign(rule_text=df["row"], row=wrapped(df["row"], width))   # a phone: names on several lines
    order = list(df["row"])
    cols = ["row", "rule_text", "n", "rate", "caution"]
    long = pd.concat([df[["row", "rule_text", "n_exposed", "rate_exposed", "caution"]].set_axis(cols, axis=1)
                      .assign(group="exposed"),
                      df[["row", "rule_text", "n_control", "rate_control", "caution"]].set_axis(cols, axis=1)
                      .assign(group="comparable")], ignore_index=True)
    faded = alt.condition("datum.caution != ''", alt.value(0.3), alt.value(1.0))
    color = alt.Color("group:N", title=None, scale=alt.Scale(domain=["exposed", "comparable"], range=list(PAIR)),
                      legend=alt.Legend(orient="bottom"))
    rates = alt.Chart(long).mark_point(filled=True, size=80).encode(
        y=alt.Y("row:N", title=None, sort=order, axis=wrapped_axis(width)), x=alt.X("rate:Q", title="outcome rate", axis=alt.Axis(format="%")),
        color=color, opacity=faded, tooltip=[alt.Tooltip("rule_text:N", title="rule"), alt.Tooltip("group:N"),
                              alt.Tooltip("n:Q", title="moments", format=","),
                              alt.Tooltip("rate:Q", title="reached the outcome", format=".1%")]).properties(
        width=panel_width(width, 260), height=max(60, row_height(df["row"], 44) * len(df)), title="Outcome rate")
    tip = [alt.Tooltip("rule_text:N", title="rule"), alt.Tooltip("pts:Q", title="difference (pts)", format="+.1f"),
           alt.Tooltip("pts_low:Q", title="low", format="+.1f"), alt.Tooltip("pts_high:Q", title="high", format="+.1f"),
           alt.Tooltip("n_triggers:Q", title="triggers", format=","), alt.Tooltip("verdict:N", title="the rule's moments are"),
           alt.Tooltip("caution:N", title="read with care")]
    if "p_value" in df.columns:
        tip.append(alt.Tooltip("p_text:N", title="p-value"))
    axis = wrapped_axis(width) if narrow(width) else None   # stacked: each panel names its rows
    base = alt.Chart(df).encode(y=alt.Y("row:N", title=None, sort=order, axis=axis), tooltip=tip, opacity=faded)
    colour = verdict_colour(title="Outcome after the trigger is", domain=["better", "worse", "not significant"])
    dashed = alt.condition("datum.caution != ''", alt.value([3, 3]), alt.value([1, 0]))
    diffs = (alt.Chart().mark_rule(color=GREY, strokeDash=[3, 3]).encode(x=alt.datum(0))
             + base.mark_rule(strokeWidth=2).encode(
                 x=alt.X("pts_low:Q", title="exposed minus comparable, percentage points"), x2="pts_high:Q",
                 color=colour, strokeDash=dashed)
             + base.mark_point(filled=True, size=80).encode(x="pts:Q", color=colour)
             + base.mark_text(dy=-12, fontSize=10, color=INK).encode(x="pts:Q", text="label:N")).properties(
        width=panel_width(width, 260), height=max(60, row_height(df["row"], 44) * len(df)), title="Difference (matched or weighted)")
    chart = side_by_side(rates, diffs, width=width, title=title)
    return captioned(chart, table, keys=("comparison", "caveat", "intervals"))
