"""Retention charts: the cohort heatmap and the lifecycle (new / returning / resurrecting /
dormant customers per period). Dates are shown as period labels (business dates), never re-parsed by the
browser, so no time zone can shift a month."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .theme import CATEGORY, VERDICT, captioned, empty_chart, period_label, require, shown

STATUSES = (("n_new", "new"), ("n_returning", "returning"), ("n_resurrecting", "resurrecting"),
            ("n_dormant", "dormant"))


def retention_chart(table: pd.DataFrame, *, last: int = 24, labels: bool | None = None,
                    title: str = "Customers still active, by first period") -> alt.VConcatChart:
    """Cohort heatmap of `retention_table`: rows = cohorts (period of the first event), columns =
    periods since, colour = share of the cohort active. Only the `last` cohorts and the first
    `last` periods are drawn (said in the caption), so weekly cohorts stay an aggregate of at
    most last² cells. `labels` writes the percentages in the cells (default: up to 150 cells)."""
    require(table, ("cohort_date", "period_offset", "n_cohort_customers", "n_customers", "retention_rate"),
            chart="retention_chart", source="retention_table()")
    d = table.attrs.get("definition", {})
    period = d.get("period", "month")
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    df = df.assign(cohort=df["cohort_date"].map(lambda v: period_label(v, period)),
                   cohort_size=df["n_cohort_customers"])
    df = df[["cohort", "period_offset", "cohort_size", "n_customers", "retention_rate"]]
    all_cohorts = sorted(df["cohort"].unique())
    cut = len(all_cohorts) > last or df["period_offset"].max() >= last
    df = df[df["cohort"].isin(all_cohorts[-last:]) & (df["period_offset"] < last)].copy()
    note = (f"Showing the latest {min(last, len(all_cohorts))} of {len(all_cohorts)} cohorts and their first "
            f"{last} {period}s." if cut else "")
    df["text"] = df["retention_rate"].map(lambda r: f"{r:.0%}")
    labels = len(df) <= 150 if labels is None else labels
    cohorts = sorted(df["cohort"].unique())
    base = alt.Chart(df).encode(
        x=alt.X("period_offset:O", title=f"{period}s since the first {period}", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("cohort:O", title=f"first {period} (cohort)", sort=cohorts),
        tooltip=[alt.Tooltip("cohort:O", title="cohort"), alt.Tooltip("period_offset:O", title=f"{period}s since"),
                 alt.Tooltip("cohort_size:Q", title="customers in the cohort", format=","),
                 alt.Tooltip("n_customers:Q", title="active customers", format=","),
                 alt.Tooltip("retention_rate:Q", title="retention", format=".1%")])
    # the first period is 100 % by definition: the colours span the later periods' range (the first is
    # drawn darkest), so a cohort at 8 % and one at 15 % look different
    later = df.loc[df["period_offset"] > 0, "retention_rate"]
    top = min(1.0, float(later.max())) if len(later) and later.max() > 0 else 1.0
    rect = base.mark_rect().encode(color=alt.Color("retention_rate:Q", title="active",
                                                   scale=alt.Scale(scheme="blues", domain=[0, top], clamp=True),
                                                   legend=alt.Legend(format="%")))
    n_cols = df["period_offset"].nunique()
    chart = rect
    if labels:
        chart = rect + base.mark_text(fontSize=9).encode(
            text="text:N", color=alt.condition(f"datum.retention_rate > {0.6 * top:.4f}", alt.value("white"),
                                               alt.value("#333333")))
    chart = chart.properties(width=max(240, min(34 * n_cols, 900)), height=max(160, min(20 * len(cohorts), 700)),
                             title=title)
    return captioned(chart, table, keys=("cohort", "active"), notes=[note])


def lifecycle_chart(table: pd.DataFrame, *, title: str = "Customer lifecycle") -> alt.VConcatChart:
    """Stacked bars of `lifecycle_table` per period: new, returning and resurrecting customers
    above zero, dormant customers (lost since the previous period) below."""
    require(table, ("period_date",) + tuple(c for c, _ in STATUSES), chart="lifecycle_chart",
            source="lifecycle_table()")
    period = table.attrs.get("definition", {}).get("period", "month")
    df = shown(table)
    if df.empty:
        return captioned(empty_chart(title), table)
    df = df.assign(period=df["period_date"].map(lambda v: period_label(v, period)))
    long = df.melt(id_vars=["period"], value_vars=[c for c, _ in STATUSES], var_name="status", value_name="n")
    long["status"] = long["status"].map(dict(STATUSES))
    long["order"] = long["status"].map({s: i for i, (_, s) in enumerate(STATUSES)})
    colours = [CATEGORY[4], CATEGORY[0], CATEGORY[5], VERDICT["worse"]]   # dormant: the worse colour of every page
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("period:O", title=None, sort=sorted(long["period"].unique())),
        y=alt.Y("n:Q", title="customers", stack="zero"),
        color=alt.Color("status:N", title=None, scale=alt.Scale(domain=[s for _, s in STATUSES], range=colours)),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip("period:O", title=period), alt.Tooltip("status:N", title="status"),
                 alt.Tooltip("n:Q", title="customers", format=",")],
    ).properties(width=max(300, 26 * df["period"].nunique()), height=260, title=alt.TitleParams(
        title, subtitle="Above zero: active customers by status; below: dormant (active the period before, not now)"))
    return captioned(chart, table, keys=("statuses",))
