"""How a chart fits a live page: the width of its container, and panels that stack on a phone.

On a page (JupyterLab, Voilà) a single or layered chart takes its container's width (`fit_to_page`),
its titles and axis labels cut to that width. A builder that takes `width` gets the page's width
class from the dashboard (`controls.panel.width_class`: None on a wide page and in reports): on a
narrow page (`narrow`) its side-by-side panels are stacked (`side_by_side`), each `panel_width` wide.
Reports keep the desktop layout at fixed sizes (vl-convert draws a number of pixels).
"""

from __future__ import annotations

import altair as alt

from .theme import uncaptioned

PAGE_LEGEND = {"orient": "bottom", "direction": "horizontal",   # one entry a line on a phone
               "labelLimit": 220,
               "columns": alt.ExprRef("containerSize()[0] < 560 ? 1 : 3")}
# On a page, long titles and axis labels are cut (with "…", the tooltip keeps the whole) to the
# container's width rather than squeezing the plot to nothing on a phone (Vega expression
# `containerSize()`: the width of the element the chart is drawn in).
PAGE_TITLE_LIMIT = alt.ExprRef("max(200, containerSize()[0] - 20)")
PAGE_LABEL_LIMIT = alt.ExprRef("max(70, min(260, containerSize()[0] * 0.35))")


# Below this page width (px) panels drawn side by side on a wide page are stacked, each as wide as the
# page (`side_by_side`); a chart taking `width` gets the page's width on a live page (None: wide, and
# reports, which keep the desktop layout at fixed sizes).
NARROW_PX = 720


def narrow(width) -> bool:
    """Whether a chart drawn for `width` px (None: a wide page or a report) is on a narrow page."""
    return width is not None and width < NARROW_PX


def panel_width(width, default: int) -> int:
    """A panel's plot width: `default` on a wide page, else what `width` leaves beside the axis labels
    (PAGE_LABEL_LIMIT: 35 % of the page) and paddings."""
    if not narrow(width):
        return default
    return max(120, int(width) - int(min(260, max(70, 0.35 * width))) - 40)


def side_by_side(*panels, width=None, title=None, colour: str | None = "independent"):
    """`panels` next to each other (`alt.hconcat`) on a wide page and in reports, one above the other
    (`alt.vconcat`) on a narrow page (`narrow(width)`), where a phone would otherwise shrink them."""
    if narrow(width):   # a panel's title no wider than the panel (it would widen the chart past the page)
        panels = [p.properties(title=alt.TitleParams(p.title, limit=max(80, p.width), anchor="start"))
                  if isinstance(p.title, str) and isinstance(p.width, int) else p for p in panels]
    chart = (alt.vconcat if narrow(width) else alt.hconcat)(*panels)
    if colour:
        chart = chart.resolve_scale(color=colour)
    return chart.properties(title=title) if title else chart


def wrapped(values, width) -> list[str]:
    """On a narrow page, each name broken into lines (joined by a newline) that fit the axis labels' room
    (PAGE_LABEL_LIMIT, about 7 px a character), for an axis made by `wrapped_axis`; else the names as they are."""
    import textwrap

    if not narrow(width):
        return [str(v) for v in values]
    chars = max(12, int(min(260, max(70, 0.35 * width)) / 7))
    return ["\n".join(textwrap.wrap(str(v), chars, break_on_hyphens=False)[:4]) or str(v) for v in values]


def wrapped_axis(width, **options):
    """A band axis showing `wrapped` names on several lines on a narrow page (None: `options` as given)."""
    if not narrow(width):
        return alt.Axis(**options)
    return alt.Axis(labelExpr="split(datum.label, '\\n')", labelBaseline="middle", labelLineHeight=12, **options)


def _limit_labels(obj) -> None:
    """Cap every axis' and legend's own `labelLimit` (in place) by the container's width, as
    PAGE_LABEL_LIMIT does for the rest."""
    if isinstance(obj, alt.SchemaBase):
        n = obj._kwds.get("labelLimit") if isinstance(obj, (alt.Axis, alt.Legend)) else None
        if isinstance(n, (int, float)) and not isinstance(n, bool):
            share = 0.35 if isinstance(obj, alt.Axis) else 0.8
            obj._kwds["labelLimit"] = alt.ExprRef(f"max(70, min({n}, containerSize()[0] * {share}))")
        for value in obj._kwds.values():
            _limit_labels(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _limit_labels(value)


def fit_to_page(chart, width: int | None = None) -> tuple[object, list[str]]:
    """(chart, caption lines) for a live page: the chart without its caption (`uncaptioned`; the lines
    handed back for the page to show), a single or layered chart taking the width of its container
    (Vega-Lite `width="container"`, redrawn when the window resizes) with its legends below it and its
    titles and axis labels cut to the container's width. Concatenated and faceted charts keep their sizes
    (Vega-Lite sizes only single and layered views to their container): on a narrow page (`width`, the
    page's width class) their builders stack the panels at that width (`side_by_side`) and here their
    titles, labels and one-entry-a-line legends are cut to it; reports keep fixed widths (vl-convert
    needs a number)."""
    inner, notes, method = uncaptioned(chart)
    lines = [*notes, *method]
    if isinstance(inner, alt.Chart) and (inner.encoding is alt.Undefined or all(
            getattr(inner.encoding, k, alt.Undefined) is alt.Undefined for k in ("row", "column", "facet"))) \
            or isinstance(inner, alt.LayerChart):
        inner = inner.copy(deep=True).properties(width="container",
                                                 autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
        inner = inner.configure_legend(**PAGE_LEGEND).configure_title(limit=PAGE_TITLE_LIMIT).configure_axis(
            labelLimit=PAGE_LABEL_LIMIT)
        _limit_labels(inner)
    elif narrow(width):   # fixed sizes (containerSize() is 0 for them): the page's width, a legend entry a line
        label = int(min(260, max(70, 0.35 * width)))
        inner = inner.copy(deep=True).configure_legend(orient="bottom", direction="horizontal", columns=1,
                                                       labelLimit=min(220, width - 60)).configure_title(
            limit=max(120, width - 20)).configure_axis(labelLimit=label)
    return inner, lines
