"""Journey charts: the step matrix heatmap, the variants bar, the paths (flows) around an anchor
and the hotspot ranking. The process map has its own module (`process_map.py`)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from ..deprecation import deprecated_alias
from .names import name, named, raw_tip
from .bars import name_lines, row_px, share_bars, stacked_names
from .page import narrow
from .theme import CATEGORY, GREY, captioned, duration_text, empty_chart, require, shown

END = "(end)"


def step_matrix_chart(table: pd.DataFrame, *, top: int = 15, title: str = "What happens at each step",
                      labels=None) -> alt.VConcatChart:
    """Heatmap of `step_matrix_table`: share of journeys whose k-th step is each activity; the
    `top` activities by total share, each step's remaining activities summed into '(other)'."""
    require(table, ("step", "activity", "n_journeys", "share"), chart="step_matrix_chart",
            source="step_matrix_table()")
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    totals = df[df["activity"] != END].groupby("activity")["share"].sum().sort_values(ascending=False, kind="stable")
    kept = list(totals.index[:top])
    df = df.assign(activity=df["activity"].where(df["activity"].isin(kept + [END]), "(other)"))
    df = df.groupby(["step", "activity"], as_index=False)[["n_journeys", "share"]].sum()
    order = kept + (["(other)"] if "(other)" in set(df["activity"]) else []) + [END]
    df = named(df.assign(label=df["share"].map(lambda s: f"{s:.0%}" if s >= 0.05 else "")), ["activity"], labels)
    order = [name(a, labels) for a in order]
    base = alt.Chart(df).encode(
        x=alt.X("step:O", title="step in the journey", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("activity:N", title=None, sort=order),
        tooltip=[alt.Tooltip("step:O", title="step"), alt.Tooltip("activity:N", title="activity"),
                 *raw_tip(df, "activity"), alt.Tooltip("n_journeys:Q", title="journeys", format=","),
                 alt.Tooltip("share:Q", title="share of journeys", format=".1%")])
    rect = base.mark_rect().encode(color=alt.Color("share:Q", title="share of journeys",
                                                   scale=alt.Scale(scheme="blues", domain=[0, 1]),
                                                   legend=alt.Legend(format="%")))
    text = base.mark_text(fontSize=10).encode(
        text="label:N", color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("#333333")))
    chart = (rect + text).properties(
        width=max(240, 46 * df["step"].nunique()), height=max(160, 20 * len(order)),
        title=alt.TitleParams(title, subtitle="Each column sums to 100 %: '(end)' = journeys already finished"))
    return captioned(chart, table, keys=("max_steps",))


def variants_chart(table: pd.DataFrame, *, title: str = "Most common journeys", labels=None,
                   width: int | None = None) -> alt.VConcatChart:
    """Horizontal bars of `variants_table`: share of journeys following each activity sequence;
    the 'other (N variants)' row in grey."""
    require(table, ("rank", "variant", "n_journeys", "share"), chart="variants_chart", source="variants_table()")
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    df = named(df.assign(other=df["variant"].str.startswith("other (")), ["variant"], labels)
    extra = [alt.Tooltip("rank:Q", title="rank")] + [
        alt.Tooltip(f"{c}:Q", title=t, format=",") for c, t in (("n_customers", "customers"), ("n_steps", "steps"))
        if c in df.columns]
    chart = share_bars(df.sort_values("rank", kind="stable"), label="variant", count="n_journeys", label_title="journey",
                       count_title="journeys", x_title="share of journeys", rest=["other"], colour=CATEGORY[0],
                       title=title, tips=extra, width=width)
    return captioned(chart, table, keys=("n_variants",))


def paths_around_chart(table: pd.DataFrame, *, title: str | None = None, labels=None,
                       width: int | None = None) -> alt.VConcatChart:
    """Flows around an anchor (`paths_around_table`): share of journeys taking each path after
    (or before) the first anchor event; on a narrow page (`width`) long paths take several lines."""
    require(table, ("variant", "n_journeys", "share"), chart="paths_around_chart", source="paths_around_table()")
    d = table.attrs.get("definition", {})
    if title is None:
        anchor = name(d["anchor"], labels) if d.get("anchor") else "the anchor"
        title = f"Paths {'before' if 'before' in d.get('analysis', '') else 'after'} {anchor}"
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    chart = share_bars(named(df, ["variant"], labels), label="variant", count="n_journeys", label_title="path",
                       count_title="journeys", x_title="share of journeys with the anchor", rest=END,
                       colour=CATEGORY[0], title=title, width=width)
    return captioned(chart, table, keys=("max_steps",))


paths_chart = deprecated_alias(paths_around_chart, "paths_chart")


HOTSPOT_KINDS = {"transition": "a hand-off", "activity": "an activity", "rework": "rework"}   # the legend's words


def hotspots_chart(table: pd.DataFrame, *, title: str = "Where time is lost", labels=None,
                   width: int | None = None) -> alt.VConcatChart:
    """Ranked bars of `hotspots_table`: hours lost per transition, activity or rework loop. On a narrow page
    (`width`) each name is written whole above its bar (`bars.name_lines`) instead of cut beside it."""
    require(table, ("rank", "kind", "name", "volume", "hours_lost"), chart="hotspots_chart",
            source="hotspots_table()")
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    median = df["median_seconds"] if "median_seconds" in df.columns else pd.Series(float("nan"), index=df.index)
    df = df.assign(median_time=median.map(duration_text), label=df["hours_lost"].map(lambda h: f"{h:,.0f} h"),
                   kind_text=df["kind"].map(HOTSPOT_KINDS).fillna(df["kind"]))
    df = named(df, ["name"], labels)
    above = narrow(width)
    names, lines = name_lines(df["name"], width)
    df = df.assign(name_text=names)
    base = alt.Chart(df).encode(
        y=alt.Y("name:N", title=None, sort=list(df.sort_values("rank", kind="stable")["name"]),
                axis=None if above else alt.Axis(labelLimit=320)),
        x=alt.X("hours_lost:Q", title="hours lost"),
        tooltip=[alt.Tooltip("rank:Q", title="rank"), alt.Tooltip("kind_text:N", title="kind"),
                 alt.Tooltip("name:N", title="where"), *raw_tip(df, "name"),
                 alt.Tooltip("volume:Q", title="volume", format=","),
                 alt.Tooltip("hours_lost:Q", title="hours lost", format=",.0f"),
                 alt.Tooltip("median_time:N", title="median wait")])
    kinds = alt.Scale(domain=list(HOTSPOT_KINDS.values()), range=[CATEGORY[0], CATEGORY[4], CATEGORY[5]])
    shift, names = stacked_names(base, "name_text", lines) if above else ({}, None)
    bars = base.mark_bar(**({"size": 12} if above else {}), **shift).encode(
        color=alt.Color("kind_text:N", title="Time lost in", scale=kinds))   # kinds: not a verdict
    layers = [bars, base.mark_text(align="left", dx=3, fontSize=10, **shift).encode(text="label:N")]
    layers += [names] if above else []
    chart = alt.layer(*layers).properties(width=360, height=max(120, (row_px(lines) if above else 22) * len(df)),
                                          title=title)
    return captioned(chart, table, keys=("ranking",))
