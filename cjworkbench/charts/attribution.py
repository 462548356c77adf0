"""Attribution chart: attributed conversions per channel (or touchpoint) with bootstrap intervals."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .names import name, named, raw_tip
from .theme import CATEGORY, captioned, empty_chart, require, shown

MODEL_LABELS = {"first": "first touch", "last": "last touch", "linear": "linear", "time_decay": "time decay",
                "position": "position (40/20/40)", "markov": "Markov removal effect", "shapley": "Shapley"}


def attribution_chart(table: pd.DataFrame, *, title: str | None = None, labels=None) -> alt.VConcatChart:
    """Horizontal bars of attributed conversions per channel (one colour per model when several are
    compared), each with its interval as a rule."""
    d = table.attrs.get("definition", {}) if isinstance(table, pd.DataFrame) else {}
    unit = d.get("touch", "channel")
    require(table, ("model", unit, "estimate", "share", "low", "high"), chart="attribution_chart",
            source="attribution_table()")
    title = title or f"What each {unit} is worth: conversions attributed ({name(d.get('conversion', 'conversion'), labels)})"
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title, "No conversion paths for these filters."), table)
    df = named(df.assign(model_label=df["model"].map(lambda m: MODEL_LABELS.get(m, m))), [unit], labels)
    order = (df.groupby(unit)["estimate"].sum().sort_values(ascending=False).index.tolist())
    models = list(dict.fromkeys(df["model_label"]))
    tip = [alt.Tooltip(f"{unit}:N", title=unit), *raw_tip(df, unit), alt.Tooltip("model_label:N", title="model"),
           alt.Tooltip("estimate:Q", title="attributed conversions", format=",.1f"),
           alt.Tooltip("share:Q", title="share", format=".1%"),
           alt.Tooltip("low:Q", title="low", format=",.1f"), alt.Tooltip("high:Q", title="high", format=",.1f")]
    tip += [alt.Tooltip(f"{c}:Q", title=t, format=f) for c, t, f in (
        ("n_journeys", "paths touching it", ","), ("n_customers", "customers", ","),
        ("removal_effect", "removal effect", ".1%")) if c in df.columns and df[c].notna().any()]
    color = alt.Color("model_label:N", title="model", sort=models,
                      scale=alt.Scale(domain=models, range=CATEGORY[:len(models)]),
                      legend=alt.Legend(orient="bottom") if len(models) > 1 else None)
    base = alt.Chart(df).encode(y=alt.Y(f"{unit}:N", title=None, sort=order), tooltip=tip)
    if len(models) > 1:
        base = base.encode(yOffset=alt.YOffset("model_label:N", sort=models))
    bars = base.mark_bar(opacity=0.85).encode(
        x=alt.X("estimate:Q", title="attributed conversions"), color=color)
    rules = base.mark_rule(color="#333333").encode(x="low:Q", x2="high:Q")
    height = max(120, len(order) * (14 * len(models) + 10))
    chart = (bars + rules).properties(width=460, height=height, title=alt.TitleParams(
        title, subtitle="Bars: attributed conversions; lines: bootstrap interval"))
    return captioned(chart, table, keys=("lookback_days", "markov_order", "half_life_days", "intervals"))
