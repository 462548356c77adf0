"""Designed vs actual: the deviation chart (rate and impact with intervals) and the conformance
overview (journeys by fitness and completion)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .names import name, named, raw_tip
from .page import narrow, panel_width, row_height, side_by_side, wrapped, wrapped_axis
from .theme import (CATEGORY, GREY, INK, VERDICT, WIDE_SHARES, captioned, caution, empty_chart, require, shown,
                    verdict_colour, verdict_of)

DEVIATION_COLUMNS = ("category", "step", "n_journeys", "n_deviating", "deviation_rate", "deviation_rate_low",
                     "deviation_rate_high", "impact", "impact_low", "impact_high")
# outcome -> (impact axis title, tooltip format, axis format, factor applied to the impact)
IMPACT_UNITS = {"completion": ("completion, percentage points", "+.1f", "+d", 100.0),
                "time": ("median hours to the goal", "+.1f", "+d", 1 / 3600),
                "nps": ("NPS points", "+.1f", "+d", 1.0), "csat": ("CSAT points", "+.2f", "+.1f", 1.0),
                "ces": ("CES effort points", "+.2f", "+.1f", 1.0), "cost": ("cost per journey", "+.2f", "+.1f", 1.0)}
BETTER = {"completion": "higher", "time": "lower", "nps": "higher", "csat": "higher", "cost": "lower"}  # ces: a scale's own


def deviations_chart(table: pd.DataFrame, *, include_any: bool = True, title: str | None = None,
                     labels=None, width: int | None = None) -> alt.VConcatChart:
    """Per deviation and step of `deviations_table`: the share of journeys deviating (Wilson
    interval) beside the impact on the outcome vs conforming journeys (its interval, a zero line),
    coloured better / worse when the interval excludes zero (`theme.VERDICT`). Rows without any
    deviating journey are left out; with `by=`, one colour per group; fewer than `theme.MIN_N`
    deviating journeys: faded, with "too few (n=…)". On a page narrower than `page.NARROW_PX` (`width`)
    the impact panel sits under the rate panel, naming its rows too."""
    require(table, DEVIATION_COLUMNS, chart="deviations_chart", source="deviations_table()")
    d = table.attrs.get("definition", {})
    outcome = d.get("outcome", "completion")
    axis_title, fmt, axis_fmt, factor = IMPACT_UNITS.get(outcome, (f"impact on {outcome}", "+.2f", "+.1f", 1.0))
    title = title or (f"Deviations from the designed {name(d.get('journey', 'journey'), labels)} and their impact "
                      f"on {outcome}")
    group = d.get("by") if d.get("by") in table.columns else None
    df = shown(table)
    df = df[df["n_deviating"].fillna(0) > 0]
    if not include_any:
        df = df[df["step"] != "(any step)"]
    if df.empty:
        return captioned(empty_chart(title, "No deviating journeys for these filters."), table)
    df = named(df, ["step"], labels)
    df = df.assign(what=df["category"].str.replace("_", " ") + " · " + df["step"].astype(str),
                   **{f"effect{s}": df[f"impact{s}"] * factor for s in ("", "_low", "_high")},
                   caution=caution(df["n_deviating"], df["impact_low"], df["impact_high"],
                                   wide=WIDE_SHARES if outcome == "completion" else None))
    df["verdict"] = [verdict_of(v, lo, hi, BETTER.get(outcome)) for v, lo, hi in
                     zip(df["impact"], df["impact_low"], df["impact_high"])]
    df["what"] = wrapped(df["what"], width)   # a phone: names on several lines
    order = list(dict.fromkeys(df.sort_values(["category", "step"], kind="stable")["what"]))
    y = alt.Y("what:N", title=None, sort=order, axis=wrapped_axis(width, labelLimit=300))
    tip = ([alt.Tooltip(f"{group}:N")] if group else []) + [
        alt.Tooltip("category:N", title="deviation"), alt.Tooltip("step:N", title="step"), *raw_tip(df, "step"),
        alt.Tooltip("n_deviating:Q", title="deviating journeys", format=","),
        alt.Tooltip("n_journeys:Q", title="journeys", format=","),
        alt.Tooltip("deviation_rate:Q", title="rate", format=".1%"),
        alt.Tooltip("deviation_rate_low:Q", title="rate low", format=".1%"),
        alt.Tooltip("deviation_rate_high:Q", title="rate high", format=".1%"),
        alt.Tooltip("effect:Q", title=f"impact ({axis_title})", format=fmt),
        alt.Tooltip("effect_low:Q", title="impact low", format=fmt),
        alt.Tooltip("effect_high:Q", title="impact high", format=fmt), alt.Tooltip("verdict:N", title="impact is"),
        alt.Tooltip("caution:N", title="read with care")]
    enc = {"tooltip": tip, "opacity": alt.condition("datum.caution != ''", alt.value(0.3), alt.value(1.0))}
    if group:
        enc |= {"yOffset": alt.YOffset(f"{group}:N"), "color": alt.Color(f"{group}:N", title=group)}
    base = alt.Chart(df).encode(y=y, **enc)
    base_right = alt.Chart(df).encode(y=alt.Y("what:N", title=None, sort=order,
                                              axis=wrapped_axis(width, labelLimit=300) if narrow(width) else None), **enc)
    height = max(100, len(order) * (14 * max(1, df[group].nunique()) if group else
                                    row_height(df["what"], 38) if narrow(width) else 26))
    colour = {} if group else {"color": CATEGORY[0]}
    rate = (base.mark_rule(strokeWidth=2, **colour).encode(
        x=alt.X("deviation_rate_low:Q", title="share of journeys deviating", axis=alt.Axis(format="%")),
        x2="deviation_rate_high:Q")
        + base.mark_point(filled=True, size=60, **colour).encode(x="deviation_rate:Q")).properties(
        width=panel_width(width, 260), height=height, title="How often (95 % interval)")
    impact_colour = {} if group else {"color": verdict_colour(title="Impact is", domain=["better", "worse",
                                                                                         "not significant"])}
    zero = alt.Chart().mark_rule(color=GREY, strokeDash=[3, 3]).encode(x=alt.datum(0))
    impact = (zero + base_right.mark_rule(strokeWidth=2).encode(
        x=alt.X("effect_low:Q", title=axis_title, axis=alt.Axis(format=axis_fmt)), x2="effect_high:Q", **impact_colour)
        + base_right.mark_point(filled=True, size=60).encode(x="effect:Q", **impact_colour)
        + base_right.transform_filter("datum.caution != ''").mark_text(dy=-9, fontSize=9, color=INK).encode(
            x="effect:Q", text="caution:N")).properties(width=panel_width(width, 260), height=height,
                                                        title="Impact vs conforming journeys")
    chart = side_by_side(rate, impact, width=width, title=title)
    return captioned(chart, table, keys=("rate", "impact"))


def conformance_chart(table: pd.DataFrame, *, title: str | None = None, labels=None) -> alt.VConcatChart:
    """Journeys of `conformance_table` by fitness (share of required steps done in order),
    split by whether they reached the goal. Aggregated here: no journey-level row is embedded."""
    require(table, ("fitness", "completed"), chart="conformance_chart", source="conformance_table()")
    d = table.attrs.get("definition", {})
    title = title or f"How closely journeys follow the designed {name(d.get('journey', 'journey'), labels)}"
    df = shown(table)
    if "open_window" in df.columns:
        df = df[~df["open_window"].fillna(False).astype(bool)]
    if df.empty:
        return captioned(empty_chart(title), table)
    counts = (df.assign(fitness=df["fitness"].round(2),
                        outcome=df["completed"].map({True: "reached the goal", False: "did not reach it"}))
              .groupby(["fitness", "outcome"], as_index=False).size().rename(columns={"size": "n_journeys"}))
    counts["share"] = counts["n_journeys"] / counts["n_journeys"].sum()
    counts["fitness_label"] = counts["fitness"].map(lambda f: f"{f:.0%}")
    chart = alt.Chart(counts).mark_bar().encode(
        x=alt.X("fitness_label:O", title="fitness: required steps done in order",
                sort=list(dict.fromkeys(counts.sort_values("fitness")["fitness_label"])), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("n_journeys:Q", title="journeys", stack="zero"),
        color=alt.Color("outcome:N", title=None, scale=alt.Scale(domain=["reached the goal", "did not reach it"],
                                                                 range=[VERDICT["better"], "#d5dce6"])),
        tooltip=[alt.Tooltip("fitness_label:O", title="fitness"), alt.Tooltip("outcome:N", title="outcome"),
                 alt.Tooltip("n_journeys:Q", title="journeys", format=","),
                 alt.Tooltip("share:Q", title="share of all journeys", format=".1%")],
    ).properties(width=max(240, 70 * counts["fitness"].nunique()), height=240, title=alt.TitleParams(
        title, subtitle=f"{len(df):,} closed journeys; journeys whose window is still open are left out"))
    return captioned(chart, table, keys=("fitness",))
