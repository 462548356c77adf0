"""Voice-of-the-customer charts: score trends with interval bands, driver importance, theme
impact and sentiment by group. They read columns by name and ignore extra ones, so tables that
grow new columns keep working."""

from __future__ import annotations

import re

import altair as alt
import pandas as pd

from ..deprecation import deprecated_alias, renamed_kwargs
from .. import formats
from .names import named, raw_tip
from .page import narrow, panel_width, row_height, side_by_side, wrapped, wrapped_axis
from .theme import (CATEGORY, GREY, VERDICT, ChartError, captioned, caution, empty_chart, period_label, require,
                    shown, verdict_colour, verdict_of)

NOT_GROUPS = {"period", "instrument", "measure", "metric", "small", "suppressed", "label", "direction", "scale",
              "method", "unit", "kind", "statement", "reference"}
INSTRUMENTS = {"nps": "NPS", "csat": "CSAT", "ces": "CES effort", "review": "review stars"}


def _groups(df: pd.DataFrame, by) -> list[str]:
    """Group columns: `by` (a name or names), else the text columns that are not measures."""
    if by is not None:
        names = [by] if isinstance(by, str) else list(by)
        require(df, names, chart="this chart", source="the analysis with these group columns (by=)")
        return names
    def text(col: pd.Series) -> bool:
        return (pd.api.types.is_string_dtype(col) or col.dtype == object
                or isinstance(col.dtype, pd.CategoricalDtype)) and not pd.api.types.is_datetime64_any_dtype(col)

    return [c for c in df.columns if c not in NOT_GROUPS and text(df[c])]


def _with_group(df: pd.DataFrame, groups: list[str], labels=None) -> pd.DataFrame:
    df = named(df, groups, labels)
    label = df[groups].astype(str).agg(" · ".join, axis=1) if groups else pd.Series("all", index=df.index)
    return df.assign(group=label)


@renamed_kwargs(group="by")
def scores_chart(table: pd.DataFrame, *, by=None, title: str | None = None, labels=None) -> alt.VConcatChart:
    """Score (`estimate`) per period of `scores_table` as a line with its interval as a band
    (`low`..`high`), one colour per group (`by`). Small groups (`small`: n_answers below the table's
    min_n) are drawn as hollow points and flagged in the tooltip; suppressed groups (privacy) are
    left out and counted in the caption."""
    require(table, ("period", "estimate", "low", "high", "n_answers"), chart="scores_chart",
            source="scores_table(period=...)")
    instrument = _instrument(table)
    title = title or f"{INSTRUMENTS.get(instrument, instrument or 'Score')} over time"
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    groups = _groups(df, by)
    df = _with_group(df, groups, labels)
    period = table.attrs.get("definition", {}).get("period")
    df["period"] = df["period"].map(lambda v: period_label(v, period if isinstance(period, str) else None))
    df["small"] = df["small"].fillna(False).astype(bool) if "small" in df.columns else False
    df["sample"] = df["small"].map({True: "small sample: read with care", False: "ok"})
    df = df.rename(columns={"estimate": "score"})[["group", "period", "score", "low", "high", "n_answers", "small",
                                                   "sample"]]
    periods = sorted(df["period"].unique())
    x = alt.X("period:O", title=None, sort=periods, axis=alt.Axis(labelAngle=-40, labelOverlap="greedy"))
    colour = alt.Color("group:N", title=" · ".join(groups) or None, legend=None if not groups else alt.Legend())
    tip = [alt.Tooltip("group:N", title=" · ".join(groups) or "group"), alt.Tooltip("period:O", title="period"),
           alt.Tooltip("score:Q", title="score", format=".2~f"), alt.Tooltip("low:Q", title="low", format=".2~f"),
           alt.Tooltip("high:Q", title="high", format=".2~f"), alt.Tooltip("n_answers:Q", title="answers", format=","),
           alt.Tooltip("sample:N", title="sample")]
    base = alt.Chart(df).encode(x=x, color=colour, tooltip=tip)
    band = base.mark_area(opacity=0.18).encode(y=alt.Y("low:Q", title=_score_title(instrument)), y2="high:Q")
    line = base.mark_line().encode(y="score:Q")
    points = alt.Chart(df).mark_point(size=45, filled=True, strokeWidth=1.5).encode(
        x=x, y="score:Q", tooltip=tip, stroke=alt.Stroke("group:N", legend=None),
        fill=alt.condition("datum.small", alt.value("white"), alt.Fill("group:N", legend=None)))
    chart = (band + line + points).properties(width=max(320, 28 * len(periods)), height=260, title=alt.TitleParams(
        title, subtitle="Line: score; band: its interval; hollow points: small samples"))
    return captioned(chart, table, keys=("interval", "score_rule"))


score_trend_chart = deprecated_alias(scores_chart, "score_trend_chart")


def _instrument(table: pd.DataFrame) -> str | None:
    if "instrument" in table.columns and table["instrument"].nunique() == 1:
        return str(table["instrument"].iloc[0])
    return table.attrs.get("definition", {}).get("instrument")


def _score_title(instrument) -> str:
    return {"nps": "NPS (-100 to 100)", "csat": "CSAT", "ces": "CES effort"}.get(instrument, "score")


def drivers_chart(table: pd.DataFrame, *, title: str = "What drives the score", labels=None,
                  width: int | None = None) -> alt.VConcatChart:
    """Driver importance (relative weight: share of the explained variance, with its interval)
    beside the effect of each driver on the outcome (with its interval and a zero line); drivers
    flagged `moment_of_truth` (else: whose interval excludes zero) coloured by the effect's sign
    (`theme.VERDICT`: blue raises the score, orange lowers it), the others grey; drivers by their
    display names (`labels`), the raw name in the tooltip. On a page narrower than `page.NARROW_PX`
    (`width`) the effect panel sits under the importance panel, naming its drivers too."""
    require(table, ("driver", "relative_weight", "rw_low", "rw_high", "effect", "low", "high"),
            chart="drivers_chart", source="drivers_table()")
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    df = named(df.sort_values("relative_weight", ascending=False, kind="stable"), ["driver"], labels)
    order = list(df["driver"].astype(str))
    extra = [c for c in ("p_value", "n_answers", "prevalence", "rank") if c in df.columns]
    if "moment_of_truth" in df.columns:
        flag, what = df["moment_of_truth"].fillna(False).astype(bool), " (moment of truth)"
    else:  # no verdict in the table: colour by whether the effect's interval excludes zero
        flag, what = (df["low"] > 0) | (df["high"] < 0), ""
    kinds = [f"raises the score{what}", f"lowers the score{what}", "no clear effect"]
    df = df[["driver", "driver_raw", "relative_weight", "rw_low", "rw_high", "effect", "low", "high"] + extra].assign(
        moment=[kinds[2] if not f else kinds[0] if e > 0 else kinds[1] for f, e in zip(flag, df["effect"])])
    if "p_value" in df.columns:
        df = df.assign(p_text=df["p_value"].map(formats.p_value))
    tip = [alt.Tooltip("driver:N"), *raw_tip(df, "driver"),
           alt.Tooltip("relative_weight:Q", title="relative weight", format=".1%"),
           alt.Tooltip("rw_low:Q", title="weight low", format=".1%"),
           alt.Tooltip("rw_high:Q", title="weight high", format=".1%"),
           alt.Tooltip("effect:Q", title="effect", format="+.3~f"),
           alt.Tooltip("low:Q", title="effect low", format="+.3~f"),
           alt.Tooltip("high:Q", title="effect high", format="+.3~f")]
    tip += [alt.Tooltip("p_text:N", title="p-value") if c == "p_value" else
            alt.Tooltip(f"{c}:Q", title=formats.column_title(c),
                        format={"prevalence": formats.VEGA["share"]}.get(c, ",")) for c in extra]
    if narrow(width):   # a phone: names on several lines
        df = df.assign(driver=wrapped(df["driver"], width))
        order = list(df["driver"])
    height = max(100, row_height(df["driver"], 40 if narrow(width) else 28) * len(df))
    left = alt.Chart(df).encode(y=alt.Y("driver:N", title=None, sort=order, axis=wrapped_axis(width)), tooltip=tip)
    weight = (left.mark_bar(color=CATEGORY[0], opacity=0.85).encode(
        x=alt.X("relative_weight:Q", title="share of explained variance", axis=alt.Axis(format="%")))
        + left.mark_rule(color="#333333").encode(x="rw_low:Q", x2="rw_high:Q")).properties(
        width=panel_width(width, 260), height=height, title="Importance (relative weight, 95 % interval)")
    colour = verdict_colour("moment", title=None, domain=kinds)
    right = alt.Chart(df).encode(y=alt.Y("driver:N", title=None, sort=order, axis=wrapped_axis(width) if narrow(width) else None),
                                 tooltip=tip, color=colour)
    zero = alt.Chart().mark_rule(color=GREY, strokeDash=[3, 3]).encode(x=alt.datum(0))
    effect = (zero + right.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title="effect on the outcome"),
                                                           x2="high:Q")
              + right.mark_point(filled=True, size=60).encode(x="effect:Q")).properties(
        width=panel_width(width, 260), height=height, title="Effect (95 % interval)")
    chart = side_by_side(weight, effect, width=width, title=title, colour=None)
    return captioned(chart, table, keys=("model", "method"))


def theme_impact_chart(table: pd.DataFrame, *, title: str = "Impact of each theme on the score",
                       labels=None) -> alt.VConcatChart:
    """Impact of each theme with its interval (score of all answers minus the score without the
    theme): most harmful themes on top, a zero line, the number of answers in the tooltip; coloured
    by `theme.VERDICT` when the interval excludes zero; fewer than `theme.MIN_N` answers: faded."""
    require(table, ("theme", "impact", "low", "high", "n_theme"), chart="theme_impact_chart",
            source="theme_impact_table()")
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    df = df.sort_values("impact", kind="stable")
    extra = [c for c in df.columns if c not in ("theme", "impact", "low", "high", "n_theme")
             and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    kinds = ["raises the score", "lowers the score", "no clear impact"]
    df = named(df[["theme", "impact", "low", "high", "n_theme"] + extra], ["theme"], labels).assign(
        direction=lambda x: [kinds[["better", "worse"].index(v)] if v in ("better", "worse") else kinds[2]
                             for v in map(verdict_of, x["impact"], x["low"], x["high"])],
        caution=lambda x: caution(x["n_theme"]))
    tip = [alt.Tooltip("theme:N", title="theme"), *raw_tip(df, "theme"),
           alt.Tooltip("impact:Q", title="impact", format="+.2f"),
           alt.Tooltip("low:Q", title="interval low", format="+.2f"),
           alt.Tooltip("high:Q", title="interval high", format="+.2f"),
           alt.Tooltip("n_theme:Q", title="answers with the theme", format=","),
           alt.Tooltip("caution:N", title="read with care")]
    tip += [alt.Tooltip(f"{c}:Q", title=formats.column_title(c), format=",.4~g") for c in extra]
    base = alt.Chart(df).encode(y=alt.Y("theme:N", title=None, sort=list(df["theme"].astype(str))), tooltip=tip,
                                opacity=alt.condition("datum.caution != ''", alt.value(0.3), alt.value(1.0)))
    colour = verdict_colour("direction", title=None, domain=kinds)
    zero = alt.Chart().mark_rule(color=GREY, strokeDash=[3, 3]).encode(x=alt.datum(0))
    chart = (zero + base.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title="impact"), x2="high:Q", color=colour)
             + base.mark_point(filled=True, size=70).encode(x="impact:Q", color=colour)).properties(
        width=360, height=max(100, 26 * len(df)), title=alt.TitleParams(
            title, subtitle="Score of all answers minus the score of the answers without the theme"))
    return captioned(chart, table, keys=("impact", "instrument", "interval"))


_SHARE = re.compile(r"^(?:share_|pct_|n_)?(negative|neutral|positive)(?:_share|_rate)?$")
MEANS = ("mean_compound", "compound_mean", "mean_sentiment", "sentiment_mean", "compound", "sentiment", "mean")


@renamed_kwargs(group="by")
def sentiment_chart(table: pd.DataFrame, *, by=None, title: str = "Sentiment by group",
                    labels=None) -> alt.VConcatChart:
    """Sentiment per group: 100 % stacked bars when the table has negative / neutral / positive
    shares (e.g. `share_negative`), else the mean compound score with its interval (`low`/`high`)."""
    if not isinstance(table, pd.DataFrame):
        require(table, (), chart="sentiment_chart", source="sentiment_table()")
    shares = {m.group(1): c for c in table.columns if (m := _SHARE.match(str(c))) and not str(c).startswith("n_")}
    mean = next((c for c in MEANS if c in table.columns), None)
    if len(shares) < 3 and mean is None:
        raise ChartError("sentiment_chart needs negative/neutral/positive share columns (share_negative, ...) or a "
                         f"mean score column (one of {', '.join(MEANS)}); got {', '.join(map(str, table.columns))}.")
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    groups = [g for g in _groups(df, by) if g not in shares.values()]
    df = _with_group(df, groups, labels)
    order = list(dict.fromkeys(df["group"]))
    y = alt.Y("group:N", title=" · ".join(groups) or None, sort=order)
    n_tip = [alt.Tooltip("n_answers:Q", title="answers", format=",")] if "n_answers" in df.columns else []
    if len(shares) == 3:
        long = df.melt(id_vars=["group"] + (["n_answers"] if "n_answers" in df.columns else []),
                       value_vars=[shares[k] for k in ("negative", "neutral", "positive")],
                       var_name="label", value_name="share")
        long["label"] = long["label"].map({v: k for k, v in shares.items()})
        long["order"] = long["label"].map({"negative": 0, "neutral": 1, "positive": 2})
        chart = alt.Chart(long).mark_bar().encode(
            y=y, x=alt.X("share:Q", title="share of comments", stack="normalize", axis=alt.Axis(format="%")),
            color=alt.Color("label:N", title=None, scale=alt.Scale(domain=["negative", "neutral", "positive"],
                                                                  range=[VERDICT["worse"], "#cfcfcf",
                                                                         VERDICT["better"]])),
            order=alt.Order("order:Q"),
            tooltip=[alt.Tooltip("group:N"), alt.Tooltip("label:N", title="sentiment"),
                     alt.Tooltip("share:Q", format=".1%")] + n_tip)
    else:
        pairs = (("low", "high"), (f"{mean}_low", f"{mean}_high"), ("mean_low", "mean_high"))
        lo, hi = next(((a, b) for a, b in pairs if a in df.columns and b in df.columns), (None, None))
        df = df.assign(score=df[mean])
        base = alt.Chart(df[["group", "score"] + ([lo, hi] if lo else []) + (["n_answers"] if "n_answers" in df.columns
                                                                              else [])]
                         ).encode(y=y, tooltip=[alt.Tooltip("group:N"), alt.Tooltip("score:Q", format="+.3f")] + n_tip)
        chart = base.mark_point(filled=True, size=70).encode(
            x=alt.X("score:Q", title="mean sentiment (-1 negative to +1 positive)", scale=alt.Scale(domain=[-1, 1])))
        if lo:
            chart = base.mark_rule(strokeWidth=2).encode(x=f"{lo}:Q", x2=f"{hi}:Q") + chart
    chart = chart.properties(width=360, height=max(80, 26 * len(order)), title=title)
    return captioned(chart, table, keys=("model", "labels"))
