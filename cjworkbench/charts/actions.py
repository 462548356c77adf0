"""Next-best-action back-test chart: outcome rates of exposed vs comparable moments and the difference."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .. import formats
from .theme import CATEGORY, GREY, captioned, empty_chart, require, shown


def actions_chart(table: pd.DataFrame, *, title: str | None = None) -> alt.VConcatChart:
    """Per rule and comparison: the outcome rate of the exposed and the comparable moments, and the
    (matched or weighted) difference with its bootstrap interval, in percentage points."""
    need = ("rule", "comparison", "rate_exposed", "rate_control", "estimate", "low", "high", "n_exposed",
            "n_control", "n_triggers")
    require(table, need, chart="actions_chart", source="actions_table()")
    title = title or "Would the rule have helped? Outcome after the trigger (observational back-test)"
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title, "No trigger moments for these rules and filters."), table)
    df = df[[c for c in (*need, "p_value") if c in df.columns]]     # dates stay out of the spec
    df = df.assign(row=df["rule"].astype(str) + ": " + df["comparison"].astype(str))
    df = df.assign(**{f"pts{s}": df[c] * 100 for s, c in (("", "estimate"), ("_low", "low"), ("_high", "high"))})
    df["label"] = [formats.points(v) if pd.notna(v) else "" for v in df["estimate"]]
    if "p_value" in df.columns:
        df["p_text"] = df["p_value"].map(formats.p_value)
    order = list(df["row"])
    long = pd.concat([df[["row", "n_exposed", "rate_exposed"]].set_axis(["row", "n", "rate"], axis=1).assign(group="exposed"),
                      df[["row", "n_control", "rate_control"]].set_axis(["row", "n", "rate"], axis=1).assign(group="comparable")],
                     ignore_index=True)
    color = alt.Color("group:N", title=None, scale=alt.Scale(domain=["exposed", "comparable"],
                                                             range=[CATEGORY[1], CATEGORY[0]]),
                      legend=alt.Legend(orient="bottom"))
    rates = alt.Chart(long).mark_point(filled=True, size=80).encode(
        y=alt.Y("row:N", title=None, sort=order), x=alt.X("rate:Q", title="outcome rate", axis=alt.Axis(format="%")),
        color=color, tooltip=[alt.Tooltip("row:N", title="rule"), alt.Tooltip("group:N"),
                              alt.Tooltip("n:Q", title="moments", format=","),
                              alt.Tooltip("rate:Q", title="reached the outcome", format=".1%")]).properties(
        width=260, height=max(60, 44 * len(df)), title="Outcome rate")
    tip = [alt.Tooltip("row:N", title="rule"), alt.Tooltip("pts:Q", title="difference (pts)", format="+.1f"),
           alt.Tooltip("pts_low:Q", title="low", format="+.1f"), alt.Tooltip("pts_high:Q", title="high", format="+.1f"),
           alt.Tooltip("n_triggers:Q", title="triggers", format=",")]
    if "p_value" in df.columns:
        tip.append(alt.Tooltip("p_text:N", title="p-value"))
    base = alt.Chart(df).encode(y=alt.Y("row:N", title=None, sort=order, axis=None), tooltip=tip)
    diffs = (alt.Chart().mark_rule(color=GREY, strokeDash=[3, 3]).encode(x=alt.datum(0))
             + base.mark_rule(strokeWidth=2, color="#333333").encode(
                 x=alt.X("pts_low:Q", title="exposed minus comparable, percentage points"), x2="pts_high:Q")
             + base.mark_point(filled=True, size=80, color="#333333").encode(x="pts:Q")
             + base.mark_text(dy=-12, fontSize=10).encode(x="pts:Q", text="label:N")).properties(
        width=260, height=max(60, 44 * len(df)), title="Difference (matched or weighted)")
    chart = alt.hconcat(rates, diffs).properties(title=title)
    return captioned(chart, table, keys=("comparison", "caveat", "intervals"))
