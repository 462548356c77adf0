"""The KPI scorecard: one line per KPI of `scorecard_table` with its value, target, change against
the previous period coloured better / worse by the KPI's direction, and a trend sparkline."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .. import formats
from .page import narrow
from .theme import INK, MUTED, VERDICT, captioned, empty_chart, ensure_theme, require

COLUMNS = ("kpi", "label", "estimate", "target", "change", "p_value", "better", "unit", "trend", "available",
           "reason", "direction")
COLOURS = {"better": VERDICT["better"], "worse": VERDICT["worse"], "no change": VERDICT["not significant"],
           "": VERDICT["not significant"]}   # the one palette of every page (`theme.VERDICT`)


def value_text(value, unit: str, *, signed: bool = False) -> str:
    """A KPI value in its unit (`cjworkbench.formats`): '23.4 %' (shares are fractions), '5 min',
    '0.41', a change in shares '+1.2 pts'; '' when unknown."""
    if formats.is_missing(value):
        return ""
    sign = "+" if signed and value > 0 else ""
    if unit == "%":
        return formats.points(value) if signed else formats.share(value)
    if unit == "seconds":
        return sign + formats.duration(value)
    if unit == "money":
        return f"{sign}{value:,.2f}"
    return f"{sign}{value:,.3g}" if abs(value) < 100 else f"{sign}{value:,.0f}"


def _p(p) -> str:
    """'= 0.03' or '< 0.001' (`formats.p_value`)."""
    text = formats.p_value(p)
    return text if text.startswith("<") else f"= {text}"


def _lines(table: pd.DataFrame) -> pd.DataFrame:
    hidden = table["suppressed"].fillna(False).astype(bool) if "suppressed" in table.columns else False
    df = table.loc[~hidden | ~table["available"].astype(bool)].reset_index(drop=True).copy()
    df.attrs = {}
    df["row"] = range(len(df))
    df["value_text"] = [value_text(r.estimate, r.unit) if r.available else "not available: " + r.reason.split(" (")[0]
                        for r in df.itertuples()]
    gaps = df["target_gap"] if "target_gap" in df.columns else [float("nan")] * len(df)
    df["target_text"] = [value_text(r.target, r.unit) + (f" ({value_text(g, r.unit, signed=True)})"
                                                         if not formats.is_missing(g) else "")
                         for r, g in zip(df.itertuples(), gaps)]
    df["change_text"] = [value_text(r.change, r.unit, signed=True) + (f"  (p {_p(r.p_value)})" if r.p_value == r.p_value
                                                                      and r.change == r.change else "")
                         for r in df.itertuples()]
    df["direction_text"] = [("better" if b else "worse") if b in (True, False) else
                            ("no change" if r.change == 0 else "") for b, r in zip(df["better"], df.itertuples())]
    df["met"] = [("" if r.target != r.target or "target_met" not in df or pd.isna(r.target_met)
                  else "✓" if r.target_met else "✗") for r in df.itertuples()]
    df["kpi_text"] = [f"{r.label} ({'higher' if r.direction == 'higher' else 'lower'} is better)"
                      for r in df.itertuples()]
    return df


def _column(df: pd.DataFrame, field: str, title: str, width: int, colour=None) -> alt.Chart:
    n = max(len(df), 1)
    y = alt.Y("y:Q", scale=alt.Scale(domain=[n, 0]), axis=None)
    enc = dict(y=y, text=f"{field}:N", tooltip=[alt.Tooltip("kpi_text:N", title="KPI"),
                                                 alt.Tooltip(f"{field}:N", title=title or "Target met"),
                                                 alt.Tooltip("reason:N", title="Note")])
    if colour is not None:
        enc["color"] = colour
    base = alt.Chart(df.assign(y=df["row"] + 0.5)).encode(x=alt.value(0), **enc)
    text = base.mark_text(align="left", fontSize=12, limit=max(width - 6, 14))
    if field == "value_text":   # a KPI not available: the mapping it needs, written whole across its empty row
        text = alt.layer(text.transform_filter("datum.available"),
                         base.transform_filter("!datum.available").mark_text(align="left", fontSize=12, color=MUTED))
    return text.properties(width=width, height=26 * n, title=title)


def _sparklines(df: pd.DataFrame, *, width: int = 140, row_px: int = 26, places=None, rows: float | None = None):
    """A trend line per available KPI, in its row (`places`: kpi -> (first row, rows it spans); default one
    row each) of a column `rows` rows high."""
    n = rows or max(len(df), 1)
    places = places or {r.kpi: (r.row, 1) for r in df.itertuples()}
    pts = []
    for r in df.itertuples():
        values = [v for v in (r.trend if isinstance(r.trend, (list, tuple)) else [])]
        ok = [v for v in values if v == v and v is not None]
        if not r.available or len(ok) < 2 or (hasattr(r, "suppressed") and r.suppressed is True):
            continue
        lo, hi = min(ok), max(ok)
        top, span = places[r.kpi]
        for i, v in enumerate(values):
            if v == v and v is not None:
                scaled = 0.5 if hi == lo else (v - lo) / (hi - lo)
                pts.append({"kpi": r.kpi, "step": i, "y": top + span * (0.85 - 0.7 * scaled),
                            "value": value_text(v, r.unit)})
    data = pd.DataFrame(pts, columns=["kpi", "step", "y", "value"])
    return alt.Chart(data, title="Trend").mark_line(point=alt.OverlayMarkDef(size=12), strokeWidth=1.5).encode(
        x=alt.X("step:Q", axis=None), y=alt.Y("y:Q", scale=alt.Scale(domain=[n, 0]), axis=None),
        detail="kpi:N", tooltip=[alt.Tooltip("kpi:N", title="KPI"), alt.Tooltip("value:N", title="Value")],
        color=alt.value("#4c78a8")).properties(width=width, height=int(row_px * n))


LINE_PX = 16   # a text line of the narrow scorecard


def _stacked(df: pd.DataFrame, width: int, colour) -> list[alt.Chart]:
    """A narrow page's scorecard: per KPI its name, value and target, and change, each wrapped onto as many
    lines as it needs (whole words, never cut), the trend beside them, instead of six columns a phone would
    shrink to nothing."""
    import textwrap

    chars = max(16, int((width - 4) / (12 * 0.62)))
    tips = ["kpi_text", "value_text", "target_text", "change_text", "reason", "direction_text"]
    lines, places, y = [], {}, 0.0
    for r in df.to_dict("records"):
        value = r["value_text"] + (f"   target {r['target_text']} {r['met']}".rstrip() if r["target_text"] else "")
        top = y
        for kind, text in (("name", r["kpi_text"]), ("value", value), ("change", r["change_text"])):
            for line in textwrap.wrap(str(text), chars, break_on_hyphens=False) if text else []:
                lines.append({"line": y + 0.5, "text": line, "kind": kind, **{k: r[k] for k in tips}})
                y += 1
        places[r["kpi"]] = (top, max(y - top, 1))
        y += 0.5   # a gap between KPIs
    data = pd.DataFrame(lines)
    base = alt.Chart(data).encode(x=alt.value(0), y=alt.Y("line:Q", scale=alt.Scale(domain=[y, 0]), axis=None),
                                  text="text:N",
                                  tooltip=[alt.Tooltip("kpi_text:N", title="KPI"), alt.Tooltip("value_text:N", title="Value"),
                                           alt.Tooltip("target_text:N", title="Target (gap)"),
                                           alt.Tooltip("change_text:N", title="Change vs previous"),
                                           alt.Tooltip("reason:N", title="Note")])
    text = dict(align="left", baseline="middle", fontSize=12)
    table = alt.layer(
        base.transform_filter("datum.kind == 'name'").mark_text(fontWeight="bold", color=INK, **text),
        base.transform_filter("datum.kind == 'value'").mark_text(color=INK, **text),
        base.transform_filter("datum.kind == 'change'").mark_text(**text).encode(color=colour),
    ).properties(width=width, height=int(LINE_PX * y))
    return [table, _sparklines(df, width=70, row_px=LINE_PX, places=places, rows=y)]


def scorecard_chart(table: pd.DataFrame, *, width: int | None = None):
    """The scorecard as a table-like chart: KPI, value, target (✓ met / ✗ missed), change against the
    previous period (blue better, orange worse, by the KPI's direction; its p-value) and a sparkline of
    the trend periods. KPIs that cannot be computed show the mapping they need. On a page narrower than
    `page.NARROW_PX` (`width`) each KPI takes three lines beside its trend instead of six columns."""
    require(table, COLUMNS, chart="scorecard_chart", source="scorecard_table")
    ensure_theme()
    df = _lines(table)
    if df.empty:
        return captioned(empty_chart("KPI scorecard", "No KPIs to show for these filters."), table)
    d = table.attrs.get("definition", {})
    colour = alt.Color("direction_text:N", title="Change is", scale=alt.Scale(
        domain=list(COLOURS)[:3], range=[COLOURS[k] for k in list(COLOURS)[:3]]), legend=None)
    panels = (_stacked(df, max(160, width - 110), colour) if narrow(width) else
              [_column(df, "kpi_text", "KPI", 300), _column(df, "value_text", "Value", 170),
               _column(df, "met", "", 20), _column(df, "target_text", "Target (gap)", 130),
               _column(df, "change_text", "Change vs previous", 190, colour), _sparklines(df)])
    chart = alt.hconcat(
        *panels, spacing=8, bounds="flush",   # a long "not available" line does not widen its column
        title=alt.TitleParams(f"KPI scorecard, {d.get('windows', {}).get('current', {}).get('label', 'this period')}",
                              subtitle="Change: blue is better, orange is worse, in each KPI's own direction; "
                                       f"trend: the last {len(d.get('trend_periods') or [])} periods.",
                              subtitleColor=MUTED, subtitleFontSize=11))
    return captioned(chart, _noted(table))


def _noted(table: pd.DataFrame) -> pd.DataFrame:
    """The table for the caption: KPIs that are not available are listed with their reason, so they
    do not count as groups suppressed for privacy."""
    info = table.attrs.get("suppression")
    if not info or "suppressed" not in table.columns:
        return table
    out = table.iloc[:0].copy()
    n = int((table["suppressed"].fillna(False).astype(bool) & table["available"].astype(bool)).sum())
    out.attrs = {**table.attrs, "suppression": {**info, "n_suppressed": n}}
    return out
