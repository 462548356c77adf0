"""How a chart or table reaches the screen, with one switch for every context (the stack-notes renderer matrix).

- `"jupyter"`: `alt.JupyterChart` with its JavaScript bundled offline (JupyterLab and Voilà; tooltips
  and selections work; a redraw draws a new chart widget and closes the old one).
- `"svg"`: an SVG drawn by vl-convert in the kernel (papermill reports, nbconvert HTML, and a light
  live mode for Voilà).

Altair's `default` renderer (loads Vega from a CDN) and `mimetype` renderer (Vega-Lite 6 unknown to
JupyterLab and Voilà, crashes papermill) are never enabled.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import altair as alt
import pandas as pd

from . import formats
from .errors import RendererError, WorkbenchError, one_of  # noqa: F401  (re-exported)

RENDERERS = ("jupyter", "svg")
BUNDLE_ENV = "CJW_JUPYTERCHART_JS"  # a file with JupyterChart's offline bundle, written once by `cjw serve`
_offline = False


def check_renderer(renderer: str) -> str:
    if renderer not in RENDERERS:
        raise RendererError(one_of("renderer", renderer, RENDERERS))
    return renderer


def use_renderer(renderer: str) -> str:
    """Make `renderer` work in this kernel; a bare `chart` display always goes through vl-convert SVG.

    "jupyter" also bundles JupyterChart's JavaScript once per kernel (about 1.7 s), so nothing is
    fetched from esm.sh.
    """
    global _offline
    check_renderer(renderer)
    alt.renderers.enable("svg")
    if renderer == "jupyter" and not _offline:
        bundle = Path(os.environ.get(BUNDLE_ENV, "") or "/nonexistent")
        if bundle.is_file() and hasattr(alt.JupyterChart, "_esm"):  # the same bundle, built once per server
            alt.JupyterChart._esm, alt.JupyterChart._is_offline = bundle.read_text(encoding="utf-8"), True
        else:
            alt.JupyterChart.enable_offline()
        _offline = True
    return renderer


def write_offline_bundle(path: Path) -> Path:
    """Build JupyterChart's offline JavaScript once (what every kernel would build) and save it."""
    alt.JupyterChart.enable_offline()
    path.write_text(alt.JupyterChart._esm, encoding="utf-8")
    return path


def chart_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as SVG markup, drawn by vl-convert in this process (no browser, no network)."""
    import vl_convert as vlc

    version = "_".join(alt.SCHEMA_VERSION.split(".")[:2])  # 'v6.4.1' -> 'v6_4', as Altair does
    return vlc.vegalite_to_svg(chart.to_dict(validate=False), vl_version=version)  # builders' specs are tested


def static(chart: alt.TopLevelMixin):
    """A display object with the chart as `image/svg+xml`: what reports and exported HTML keep."""
    from IPython.display import SVG

    return SVG(chart_svg(chart))


def message_html(text: str) -> str:
    """A message for the page (a WorkbenchError's words), escaped; '' clears it."""
    if not text:
        return ""
    return (f'<div class="cjw-error" style="color:#8a1c1c;background:#fdecea;padding:6px 10px;border-radius:4px">'
            f"{html.escape(text)}</div>")


NAMED_COLUMNS = (*formats.NAME_COLUMNS, "measure", *formats.VALUE_WORDS)   # raw names (`linkage_effect_table`)
# On a page narrower than 720 px (`charts.page.NARROW_PX`) a table reads as one card per row, each value under
# its column's title, instead of columns a phone would squeeze to a word a line or scroll sideways.
TABLE_CSS = """<style>
.cjw-table-html { line-height: 1.4; }
.cjw-table-html th, .cjw-table-html td { vertical-align: top; }
@media (max-width: 719px) {
  .cjw-table-html, .cjw-table-html tbody, .cjw-table-html tr, .cjw-table-html td { display: block; width: 100%;
                                                                                  box-sizing: border-box; }
  .cjw-table-html thead { display: none; }
  .cjw-table-html tr { border: 1px solid #ddd; border-radius: 4px; margin: 0 0 8px 0; padding: 4px 0; }
  .cjw-table-html td { display: flex; gap: 12px; justify-content: space-between; text-align: right !important;
                       padding: 1px 10px !important; border: none !important; }
  .cjw-table-html td::before { content: attr(data-label); text-align: left; color: #666; flex: 0 0 auto; max-width: 45%; }
}
</style>"""


# a table of figures in several units (what changed: one row a metric): how its value and change columns read
METRIC_KINDS = {"conversion": ("share", "points"), "share": ("share", "points"), "top_box_rate": ("share", "points"),
                "low_effort_rate": ("share", "points"), "median_seconds": ("duration", "duration")}
ROW_VALUES = {"previous": 0, "current": 0, "change": 1, "low": 1, "high": 1}


def row_kinds(column, metrics) -> list[str] | None:
    """Per row, how `column` reads when a `metric` column says each row's unit (`METRIC_KINDS`); None when
    `column` is not one of a figure's values (`ROW_VALUES`)."""
    if str(column) not in ROW_VALUES:
        return None
    return [METRIC_KINDS.get(str(m), ("number", "number"))[ROW_VALUES[str(column)]] for m in metrics]


def _cell_texts(column, values: pd.Series, unit: str | None) -> tuple[list[str], bool]:
    """The column's values as text (`cjworkbench.formats`), and whether they are numbers (right-aligned)."""
    if pd.api.types.is_bool_dtype(values) or (values.dtype == object and values.dropna().map(type).eq(bool).all()
                                              and values.notna().any()):
        return [formats.yes_no(v) for v in values], False
    if pd.api.types.is_datetime64_any_dtype(values):
        return [formats.MISSING if pd.isna(v) else (v.strftime("%Y-%m-%d") if v == v.normalize() else
                                                    v.strftime("%Y-%m-%d %H:%M")) for v in values], False
    if pd.api.types.is_numeric_dtype(values):
        kind = formats.column_kind(column)
        if kind == "number" and pd.api.types.is_integer_dtype(values):
            kind = "count"
        return [formats.value_text(v, kind, unit=unit) for v in values], True
    if str(column) in NAMED_COLUMNS:   # raw activity / touchpoint / driver / measure names, as people read them
        return [formats.value_name(column, v) for v in values], False
    return [formats.MISSING if formats.is_missing(v) else str(v) for v in values], False


def table_html(df) -> str:
    """A small table for the page: headers in words (`formats.column_title`), each value read by its
    column (shares as %, durations in days/hours/min, p-values, yes/no, counts with separators),
    numbers right-aligned under right-aligned headers, raw names in words (`formats.value_name`), one card
    per row on a phone (`TABLE_CSS`); under it the privacy note and, folded under "How is this calculated?",
    the result's definition. `df` itself is not changed."""
    from .privacy import suppression_note

    definition = df.attrs.get("definition") or {}
    shown = df.drop(columns=[c for c in ("suppressed",) if c in df.columns])
    head, columns = [], []
    for c in shown.columns:
        texts, numeric = _cell_texts(c, shown[c], definition.get("currency"))
        kinds = row_kinds(c, shown["metric"]) if "metric" in shown.columns and numeric else None
        if kinds:   # one row a figure in its own unit (what changed): 89.0 %, -14.0 pts, 4 s
            texts = [formats.value_text(v, k) for v, k in zip(shown[c], kinds)]
        align = f' style="text-align: {"right" if numeric else "left"}; padding: 2px 10px"'
        title = html.escape(formats.column_title(c))
        head.append(f"<th{align}>{title}</th>")
        meaning = definition.get("measures") if c == "measure" and isinstance(definition.get("measures"), dict) else {}
        columns.append([f'<td{align} data-label="{title}"' + (f' title="{html.escape(str(meaning[raw]))}"' if raw in meaning else "")
                        + f">{html.escape(t)}</td>" for t, raw in zip(texts, shown[c])])
    body = "".join(f"<tr>{''.join(cells)}</tr>" for cells in zip(*columns)) if columns else ""
    table = (TABLE_CSS + f'<table class="cjw-table-html" style="border-collapse: collapse">'
             f"<thead><tr>{''.join(head)}</tr></thead><tbody>{body}</tbody></table>")
    from .charts.theme import definition_sentences

    return table + method_html([suppression_note(df)], definition_sentences(definition) if definition else [])


def method_html(notes, method) -> str:
    """Under a chart, a table or the headline band: the `notes` in sight (what is hidden, what is cut),
    the `method` sentences folded under "How is this calculated?" (one click away, never ten grey lines
    under every chart). '' when both are empty."""
    notes, method = " ".join(n for n in notes if n), " ".join(m for m in method if m)
    style = "color:#666;font-size:smaller;line-height:1.4;max-width:60em;margin:2px 0 6px 0"
    return ((f'<p class="cjw-note" style="{style}">{html.escape(notes)}</p>' if notes else "")
            + (f'<details class="cjw-method" style="{style}"><summary>How is this calculated?</summary>'
               f'<p style="margin:4px 0">{html.escape(method)}</p></details>' if method else ""))
