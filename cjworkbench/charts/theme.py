"""How every chart looks and says what it shows: one Altair theme and the definition caption.

The theme is registered and enabled on first use (`use_theme()`, called by every chart builder),
never at import; a theme the user enabled on purpose is left alone. Each chart ends with
`captioned()`, which puts the result's definition (`table.attrs["definition"]`) under the chart in
plain words: unit, window, order mode, period, filters, tie rule, plus how many small groups were
suppressed for privacy (see `cjworkbench.privacy`).
"""

from __future__ import annotations

import textwrap

import altair as alt
import pandas as pd

from .. import formats
from ..errors import ChartError, WorkbenchError  # noqa: F401  (re-exported)
from ..privacy import suppression_note

THEME = "cjworkbench"
FONT = "Helvetica, Arial, sans-serif"
CATEGORY = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d",
            "#ff9da6", "#bab0ac"]
GREY = "#9e9e9e"
INK = "#333333"
MUTED = "#666666"
def theme_config() -> dict:
    """The workbench theme: quiet axes, readable titles, a colour-blind-safe category palette."""
    return {"config": {
        "font": FONT,
        "view": {"stroke": None, "continuousWidth": 560, "continuousHeight": 320},
        "title": {"fontSize": 15, "fontWeight": "bold", "anchor": "start", "color": INK, "offset": 10},
        "axis": {"labelFontSize": 11, "titleFontSize": 12, "titleFontWeight": "normal", "titleColor": INK,
                 "labelColor": MUTED, "gridColor": "#ececec", "domainColor": "#cccccc", "tickColor": "#cccccc",
                 "labelLimit": 260},
        "legend": {"labelFontSize": 11, "titleFontSize": 11, "titleFontWeight": "normal", "orient": "right",
                   "labelLimit": 320},   # Vega's 160 px cut "raises the score (moment of truth)"
        "header": {"labelFontSize": 12, "titleFontSize": 12},
        "range": {"category": CATEGORY, "heatmap": {"scheme": "blues"}, "ramp": {"scheme": "blues"}},
        "bar": {"color": CATEGORY[0]}, "line": {"color": CATEGORY[0], "strokeWidth": 2},
        "point": {"color": CATEGORY[0], "filled": True, "size": 60},
        "text": {"font": FONT, "fontSize": 11, "color": INK},
        "concat": {"spacing": 24},
    }}


def use_theme(*, enable: bool = True) -> str:
    """Register the workbench theme (once) and enable it; returns its name."""
    if THEME not in alt.theme.names():
        alt.theme.register(THEME, enable=False)(theme_config)
    if enable:
        alt.theme.enable(THEME)
    return THEME


def ensure_theme() -> None:
    """Enable the workbench theme unless the user already chose another one."""
    use_theme(enable=alt.theme.active in ("default", THEME))


# The one better/worse palette of every page (what changed, funnels and gaps, the scorecard, the headline
# band, impacts and effects): blue is better, orange is worse (told apart with red-green colour
# blindness, and dark enough for text on white: contrast 5.9 and 4.9), grey is a change that is not
# significant (or a direction nobody set), light grey is no data. A legend or the text beside a mark
# always says which is which.
VERDICT = {"better": "#2166ac", "worse": "#b35806", "not significant": "#767676", "no data": "#d9d9d9"}
PAIR = ("#7b3294", "#4d4d4d")   # two groups compared (with / without, exposed / comparable): not better/worse


def verdict_colour(field: str = "verdict", *, title: str | None = "Change is", domain=None, legend=True) -> alt.Color:
    """A colour encoding of `field` (values: keys of VERDICT, or `domain` labels in the same order)."""
    keys = list(VERDICT)[:len(domain)] if domain else list(VERDICT)
    scale = alt.Scale(domain=list(domain or keys), range=[VERDICT[k] for k in keys])
    return alt.Color(f"{field}:N", title=title, scale=scale,
                     legend=alt.Legend(orient="bottom") if legend is True else legend)


def verdict_of(change, low=None, high=None, better: str | None = "higher") -> str:
    """'better' / 'worse' when the interval [low, high] excludes zero (no interval: any change),
    in the direction `better` ("higher" / "lower"); 'not significant' otherwise; 'no data' without a change."""
    if change is None or change != change:
        return "no data"
    clear = low is None or high is None or low != low or high != high or low > 0 or high < 0
    if not clear or change == 0 or better not in ("higher", "lower"):
        return "not significant"
    return "better" if (change > 0) == (better == "higher") else "worse"


# A group this small, or whose interval is wider than the chart's `wide` (for a difference of two
# shares: 0.5, i.e. 50 points of a 200-point range), is drawn faded and labelled "too few (n=…)"
# instead of as a confident mark; its numbers stay in the table and the tooltip says why.
MIN_N = 30
WIDE_SHARES = 0.5


def caution(n, low=None, high=None, *, wide: float | None = None) -> list[str]:
    """Per row: '' for a group to read as drawn, 'too few (n=12)' under MIN_N, 'interval too wide
    (n=85)' when `high - low` exceeds `wide`."""
    n = list(pd.Series(n, dtype="float64"))
    widths = (list(pd.Series(high, dtype="float64").to_numpy() - pd.Series(low, dtype="float64").to_numpy())
              if wide is not None and low is not None and high is not None else [float("nan")] * len(n))
    return [f"too few (n={int(k):,})" if k == k and k < MIN_N else
            f"interval too wide (n={int(k) if k == k else 0:,})" if w == w and w > wide else ""
            for k, w in zip(n, widths)]


# -- the caption ---------------------------------------------------------------------------------

_LABELS = {  # definition key -> words; keys in this order, when present
    "unit": "Unit", "period": "Period", "mode": "Counted", "order": "Order", "window": "Window",
    "outcome_activity": "Outcome activity", "outcome": "Outcome", "by": "By",
    "loops": "Loops", "anchor": "Anchor", "journey": "Designed journey", "level": "Intervals",
}
_RULES = {"unit": "unit_rule", "order": "order_rule", "outcome": "outcome_rule", "by": "by_rule"}


def _words(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(f"{k} {_words(v)}" for k, v in value.items())
    return str(value)


def filters_text(filters: dict | None) -> str:
    """'segment = Premium; channel in app, web' or 'none'."""
    if not filters:
        return "none"
    parts = []
    for key, value in filters.items():
        if isinstance(value, dict):
            parts += [f"{key}.{k} = {_words(v)}" for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            parts.append(f"{key} in {_words(value)}")
        else:
            parts.append(f"{key} = {value}")
    return "; ".join(parts)


def definition_sentences(definition: dict | None, *, keys: tuple[str, ...] = ()) -> list[str]:
    """The definition as short sentences: the standard items, then `keys` (their value in words)."""
    d = dict(definition or {})
    out = []
    for key, label in _LABELS.items():
        if key not in d or d[key] in (None, "", [], {}):
            continue
        value = d[key]
        if key == "level":
            value = f"{float(value):.0%} confidence"
        elif key == "window" and value != "unbounded":
            value = f"{value} from entry"
        rule = d.get(_RULES.get(key, ""), "")
        out.append(f"{label}: {_words(value)}" + (f" ({str(rule).rstrip('.')})" if rule else "") + ".")
    out += [f"{k.replace('_', ' ').capitalize()}: {_words(d[k])}." for k in keys
            if d.get(k) not in (None, "", [], {})]
    out.append(f"Filters: {filters_text(d.get('filters'))}.")
    if d.get("tie_rule"):
        out.append(f"Ties: {d['tie_rule']}.")
    if d.get("time_zone"):
        out.append(f"Dates in {d['time_zone']}.")
    return [s[:-1] if s.endswith("..") else s for s in out]


def definition_caption(definition: dict | None, *, keys: tuple[str, ...] = (), notes=(),
                       width: int = 110) -> list[str]:
    """Caption lines (wrapped at `width` characters) for a result's definition plus `notes`."""
    sentences = [n for n in notes if n] + definition_sentences(definition, keys=keys)
    return textwrap.wrap(" ".join(sentences), width=width, break_on_hyphens=False) or [""]


def captioned(chart, table: pd.DataFrame, *, keys: tuple[str, ...] = (), notes=(), width: int = 110):
    """`chart` with the definition of `table` (and its privacy note) as a caption under it."""
    ensure_theme()
    notes = [n for n in (*notes, suppression_note(table)) if n]
    lines = definition_caption(table.attrs.get("definition"), keys=keys, notes=notes, width=width)
    caption = alt.TitleParams(text=lines, orient="bottom", anchor="start", fontSize=10, fontWeight="normal",
                              color=MUTED, offset=14, lineHeight=13)
    # a page shows the notes under the chart and folds the method (`uncaptioned`, `display.method_html`)
    parts = {"notes": notes, "method": definition_sentences(table.attrs.get("definition"), keys=keys)}
    return alt.vconcat(chart, title=caption, usermeta={"cjw_caption": parts})


def uncaptioned(chart) -> tuple[object, list[str], list[str]]:
    """(the chart without its caption, the caption's notes, its method sentences) of a `captioned()`
    chart, so a page can keep the notes in sight and fold the method; any other chart as it is."""
    lines = _caption_lines(chart)
    if lines is None:
        return chart, [], []
    parts = chart.usermeta.get("cjw_caption", {}) if isinstance(chart.usermeta, dict) else {}
    inner = chart.vconcat[0]
    if chart.data is not alt.Undefined and inner.data is alt.Undefined:
        inner = inner.properties(data=chart.data)  # Altair moved the shared data up to the vconcat
    return inner, list(parts.get("notes", [])), list(parts.get("method", lines))


def _caption_lines(chart) -> list[str] | None:
    """The caption lines of a `captioned()` chart (a one-chart vconcat titled at the bottom), else None."""
    title = getattr(chart, "title", alt.Undefined)
    if (isinstance(chart, alt.VConcatChart) and len(chart.vconcat) == 1 and isinstance(title, alt.TitleParams)
            and title.orient == "bottom"):
        return [title.text] if isinstance(title.text, str) else list(title.text)
    return None


# -- helpers every chart uses -----------------------------------------------------------------------

def require(table: pd.DataFrame, columns, *, chart: str, source: str) -> None:
    """Raise a ChartError naming the missing columns and the function whose table `chart` expects."""
    if not isinstance(table, pd.DataFrame):
        raise ChartError(f"{chart} expects the DataFrame returned by {source}, got {type(table).__name__}.")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        what = table.attrs.get("definition", {}).get("analysis")
        hint = f" (this table is from the '{what}' analysis)" if what else ""
        raise ChartError(f"{chart} needs the columns of {source}; missing: {', '.join(missing)}{hint}. "
                         f"Pass the result of {source} unchanged (column names as returned).")


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """The rows a chart draws: suppressed small groups are left out (the caption counts them).
    The copy carries no `attrs`: pandas deep-copies them on every operation, which made
    serialising a chart several times slower; the caption reads them from the table itself."""
    keep = ~table["suppressed"].fillna(False).astype(bool) if "suppressed" in table.columns else slice(None)
    out = table.loc[keep].copy()
    out.attrs = {}
    return out


def duration_text(seconds) -> str:
    """'59 s', '12 min', '4.5 hours', '3.2 days' ('–' when unknown): `cjworkbench.formats.duration`."""
    return formats.duration(seconds)


def period_label(value, period: str | None = "month") -> str:
    """'2025-03' (month), '2025-Q1' (quarter), '2025' (year), '2025-03-03' (week, day, other);
    text that is not a date is returned as is. Labels, not dates, reach the browser, so no time
    zone can move a period."""
    if not hasattr(value, "isoformat"):
        try:
            value = pd.Timestamp(str(value))
        except (ValueError, TypeError):
            return str(value)
    ts = pd.Timestamp(value)
    if period == "month":
        return ts.strftime("%Y-%m")
    if period == "quarter":
        return f"{ts.year}-Q{ts.quarter}"
    if period == "year":
        return str(ts.year)
    return ts.strftime("%Y-%m-%d")


def empty_chart(title: str, message: str = "No rows for these filters.") -> alt.Chart:
    """A chart that says there is nothing to draw (dashboards show it instead of an error)."""
    return alt.Chart(pd.DataFrame({"message": [message]}), title=title).mark_text(
        fontSize=13, color=MUTED, align="left").encode(text="message:N").properties(width=400, height=40)
