"""How a chart fits a live page: the width of its container, and panels that stack on a phone.

On a page (JupyterLab, Voilà) a single or layered chart takes its container's width (`fit_to_page`),
its titles in whole lines and its labels limited for the page's width class (phone or `WIDE_PX`). A builder that takes `width` gets the page's width
class from the dashboard (`controls.panel.width_class`: None on a wide page and in reports): on a
narrow page (`narrow`) its side-by-side panels are stacked (`side_by_side`), each `panel_width` wide.
Reports keep the desktop layout at fixed sizes (vl-convert draws a number of pixels).
"""

from __future__ import annotations

import os
import re

import altair as alt

from .theme import uncaptioned

PAGE_LEGEND = {"orient": "bottom", "direction": "horizontal"}   # below the chart; one entry a line on a phone
# A chart on a page is laid out for the page's width class, in fixed numbers: the phone's width, else
# WIDE_PX, the chart column of the narrowest wide page. (Limits read from the container, Vega's
# `containerSize()`, were 0 when a chart was drawn into a box not yet laid out: every label cut to 70 px.)
WIDE_PX = 680


# Below this page width (px) panels drawn side by side on a wide page are stacked, each as wide as the
# page (`side_by_side`); a chart taking `width` gets the page's width on a live page (None: wide, and
# reports, which keep the desktop layout at fixed sizes).
NARROW_PX = 720


# A page a phone asks for (its user agent or `Sec-CH-UA-Mobile: ?1`, which `cjw serve` hands the kernel:
# `dashboards.PHONE_HEADERS`) draws its first charts for PHONE_PX, the chart column of the narrowest common
# phone (360 px wide: ~326 px), instead of the desktop layout redrawn a second later. The browser's own
# figure then redraws them only when it is narrower, or FIT_SLACK px or more wider, than what they were drawn for.
PHONE_AGENT = re.compile(r"Mobi|iPhone|iPod|Windows Phone|Android.+Mobile")
PHONE_PX = 320
FIT_SLACK = 80


def phone_request(environ=None) -> bool:
    """Whether the dashboard's page was asked for by a phone (the request's headers, as Voilà hands them
    to the kernel: HTTP_SEC_CH_UA_MOBILE, HTTP_USER_AGENT)."""
    env = os.environ if environ is None else environ
    return env.get("HTTP_SEC_CH_UA_MOBILE", "").strip() == "?1" or bool(PHONE_AGENT.search(env.get("HTTP_USER_AGENT", "")))


def redraw_for(drawn: int | None, width: int | None) -> bool:
    """Whether charts drawn for the width class `drawn` must be redrawn for `width` (None: a wide page): a
    change between wide and narrow, a narrower page, or one FIT_SLACK px or more wider."""
    if drawn is None or width is None:
        return drawn != width
    return not drawn <= width < drawn + FIT_SLACK


def narrow(width) -> bool:
    """Whether a chart drawn for `width` px (None: a wide page or a report) is on a narrow page."""
    return width is not None and width < NARROW_PX


def label_px(width) -> int:
    """The room of an axis' labels on a page `width` px wide: 35 % of it, from 70 to 260 px."""
    return int(min(260, max(70, 0.35 * width)))


def panel_width(width, default: int) -> int:
    """A panel's plot width: `default` on a wide page, else what `width` leaves beside the axis labels
    (`label_px`: 35 % of the page) and paddings."""
    if not narrow(width):
        return default
    return max(120, int(width) - label_px(width) - 40)


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


def wrapped(values, width, *, wide_chars: int | None = None) -> list[str]:
    """On a narrow page, each name broken into lines (joined by a newline) that fit the axis labels' room
    (`label_px`, about 7 px a character), for an axis made by `wrapped_axis`; on a wide page broken at
    `wide_chars` (None: the names as they are)."""
    import textwrap

    if not narrow(width) and not wide_chars:
        return [str(v) for v in values]
    chars = max(12, int(label_px(width) / 7)) if narrow(width) else wide_chars
    return ["\n".join(textwrap.wrap(str(v), chars, break_on_hyphens=False)) or str(v) for v in values]


def row_height(names, minimum: int) -> int:
    """A band's height for `wrapped` names: `minimum` px, or 12 px a line of the longest name and a margin."""
    return max(minimum, 12 * max((str(n).count("\n") + 1 for n in names), default=1) + 10)


def wrapped_axis(width, *, lines: bool = False, **options):
    """A band axis showing `wrapped` names on several lines on a narrow page, or on any with `lines` (else
    `options` as given)."""
    if not narrow(width) and not lines:
        return alt.Axis(**options)
    return alt.Axis(labelExpr="split(datum.label, '\\n')", labelBaseline="middle", labelLineHeight=12, **options)


def _limit_labels(obj, page: int) -> None:
    """Cap every axis' and legend's own `labelLimit` (in place) by a page `page` px wide, as `label_px`
    does for the rest (a legend: 80 % of it)."""
    if isinstance(obj, alt.SchemaBase):
        n = obj._kwds.get("labelLimit") if isinstance(obj, (alt.Axis, alt.Legend)) else None
        if isinstance(n, (int, float)) and not isinstance(n, bool):
            obj._kwds["labelLimit"] = min(n, label_px(page) if isinstance(obj, alt.Axis) else int(0.8 * page))
        for value in obj._kwds.values():
            _limit_labels(value, page)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _limit_labels(value, page)


# the width of a character, as a share of the font size, a little over Helvetica's average (so a wrapped line
# is never cut); a title (15 px bold) and a subtitle (11 px) as the theme draws them
CHAR_EM, BOLD_EM = 0.58, 0.64
TITLE_PX, SUBTITLE_PX = 15, 11


def title_lines(text, px: int, font_px: int = TITLE_PX, *, bold: bool = True) -> list[str]:
    """`text` (a string or lines) broken into lines no wider than `px` at `font_px`, words kept whole."""
    import textwrap

    chars = max(12, int(px / (font_px * (BOLD_EM if bold else CHAR_EM))))
    parts = [text] if isinstance(text, str) else list(text)
    return [line for part in parts for line in (textwrap.wrap(str(part), chars, break_on_hyphens=False) or [""])]


def wrap_titles(obj, px: int) -> None:
    """Break every chart title and subtitle in `obj` (in place) into lines that fit: a panel's own width, else
    `px`, so the page shows whole words instead of text cut with "…"."""
    if isinstance(obj, (list, tuple)):
        for value in obj:
            wrap_titles(value, px)
        return
    if not isinstance(obj, alt.SchemaBase):
        return
    own = obj._kwds.get("width")
    room = int(own) - 10 if isinstance(own, (int, float)) and not isinstance(own, bool) and own > 60 else px
    title = obj._kwds.get("title", alt.Undefined)
    if isinstance(title, (str, list)) and title:
        obj._kwds["title"] = alt.TitleParams(title_lines(title, room))
    elif isinstance(title, alt.TitleParams):
        size = title._kwds.get("fontSize")
        size = size if isinstance(size, (int, float)) else TITLE_PX
        bold = title._kwds.get("fontWeight", "bold") in ("bold", alt.Undefined)
        if title._kwds.get("orient") != "bottom" and isinstance(title.text, (str, list)):
            title._kwds["text"] = title_lines(title.text, room, size, bold=bold)
        if isinstance(title._kwds.get("subtitle"), (str, list)):
            sub = title._kwds.get("subtitleFontSize")
            title._kwds["subtitle"] = title_lines(title._kwds["subtitle"], room,
                                                  sub if isinstance(sub, (int, float)) else SUBTITLE_PX, bold=False)
    for key in ("hconcat", "vconcat", "layer", "concat"):
        if isinstance(obj._kwds.get(key), list):
            wrap_titles(obj._kwds[key], room if key == "layer" else px)


def fit_to_page(chart, width: int | None = None) -> tuple[object, list[str]]:
    """(chart, caption lines) for a live page: the chart without its caption (`uncaptioned`; the lines
    handed back for the page to show), a single or layered chart taking the width of its container
    (Vega-Lite `width="container"`, redrawn when the window resizes) with its legends below it, its titles
    in whole lines (`wrap_titles`) and its labels limited for the page's width class. Concatenated and faceted charts keep their sizes
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
        page = width if narrow(width) else WIDE_PX
        inner = inner.configure_legend(**PAGE_LEGEND, columns=1 if narrow(width) else 3,
                                       labelLimit=min(220, page - 60)).configure_title(limit=page - 20).configure_axis(
            labelLimit=label_px(page))
        _limit_labels(inner, page)
    elif narrow(width):   # fixed sizes (containerSize() is 0 for them): the page's width, a legend entry a line
        inner = inner.copy(deep=True).configure_legend(orient="bottom", direction="horizontal", columns=1,
                                                       labelLimit=min(220, width - 60)).configure_title(
            limit=max(120, width - 20)).configure_axis(labelLimit=label_px(width))
    else:
        inner = inner.copy(deep=True)
    # titles in whole lines: the page's width on a phone, else what any wide page has
    wrap_titles(inner, (width if narrow(width) else WIDE_PX) - 40)
    return inner, lines
