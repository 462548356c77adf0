"""How a chart or table reaches the screen, with one switch for every context (the stack-notes renderer matrix).

- `"jupyter"`: `alt.JupyterChart` with its JavaScript bundled offline (JupyterLab and Voilà; tooltips
  and selections work, and a redraw only swaps the spec).
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


def _number(x: float) -> str:
    """1,234 for large or whole numbers, 0.42 for ordinary ones, 0.0012 for tiny ones (p-values)."""
    if x != x or x in (float("inf"), float("-inf")):
        return ""
    if x == int(x) or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.2g}" if abs(x) < 0.01 else f"{x:,.2f}"


def table_html(df) -> str:
    """A small table for the page: readable headers, counts without decimals, and under it the privacy
    note and the result's definition (as under every chart)."""
    import pandas as pd

    from .privacy import suppression_note

    shown = df.drop(columns=[c for c in ("suppressed",) if c in df.columns])
    shown = shown.rename(columns=lambda c: str(c).replace("_", " "))
    for c in shown.columns:  # counts with thousands separators; a missing one (nullable Int64) blank
        if pd.api.types.is_integer_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c]):
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:,}")
    table = shown.to_html(index=False, border=0, na_rep="", classes="cjw-table-html", float_format=_number)
    from .charts.theme import definition_sentences

    notes = [suppression_note(df)] + (definition_sentences(df.attrs["definition"]) if df.attrs.get("definition") else [])
    text = " ".join(n for n in notes if n)
    return table + (f'<p style="color:#666;font-size:smaller;max-width:60em">{html.escape(text)}</p>' if text else "")
