"""The shared filter panel of a dashboard: dates, segment, channel, persona -> `Filters`.

Values come from the notebook's parameters cell and, in a dashboard, from the page's URL
(`?segment=Premium&start_date=2026-01-01`, which the kernel sees as QUERY_STRING). Every value is
checked against the parameter registry inside the panel's own error handling: in a dashboard a bad
value (an unknown renderer, a date that is no date, an unknown channel, a start after the end) is
said once at the top of the page, cut short, and the panel uses the default for it and renders the
rest; a report (`interactive=False`) fails with the same message instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import ipywidgets as w
from IPython.display import HTML, Markdown, display

from ..charts.page import PHONE_PX, phone_request, redraw_for
from ..display import message_html, use_renderer
from ..errors import WorkbenchError, one_of
from ..parameters import URL_PARAMETERS, ParameterError, clip, from_url, notebook_parameter
from ..scope import Filters, _date
from .choices import labels
from .widgets import STYLE, ControlError, named_options, message_for, safe, server_log

ALL = "(all)"
FILTERS = ("segment", "channel", "persona")
# The page's layout rules, shown once with the panel: charts as wide as the page (at most
# CHART_MAX_PX), a concatenated chart scaled down rather than cut off, a wide table scrolling in its
# own box, controls wrapping on a phone.
CHART_MAX_PX = 1100
PAGE_CSS = f"""<style>
.cjw-view, .cjw-panel, .cjw-chart, .cjw-table, .cjw-headline {{ max-width: 100%; box-sizing: border-box; }}
.cjw-view .cjw-chart {{ width: 100%; max-width: {CHART_MAX_PX}px; }}
.cjw-chart .vega-embed {{ width: 100%; display: flex; padding-right: 0; }}
.cjw-chart .vega-embed details {{ position: absolute; right: 0; top: 0; }}
.cjw-chart svg.marks, .cjw-view img, .cjw-view svg {{ max-width: 100%; height: auto; }}
.cjw-table {{ overflow-x: auto; }}
.cjw-panel .widget-hbox, .cjw-view .widget-hbox {{ flex-wrap: wrap; }}
.cjw-panel .widget-inline-hbox {{ max-width: 100%; }}
</style>"""
# A chart sized to its container measures it when drawn; one drawn before the page laid it out (Voilà
# adds outputs as they arrive) would keep width 0. This watches every chart's box and, when its width
# changes, sends the window a resize, which makes each chart measure its container again.
REFIT_JS = """
export default { render({ model, el }) {
  const seen = new WeakMap();
  let queued = false;
  const kick = () => { if (!queued) { queued = true; requestAnimationFrame(() => { queued = false;
    window.dispatchEvent(new Event('resize')); }); } };
  // the width a chart has on the page, for the kernel: below NARROW_PX it redraws side-by-side panels stacked
  const tell = () => { const box = document.querySelector('.cjw-chart') || el.closest('.cjw-panel') || document.body;
    const px = Math.round(box.getBoundingClientRect().width || window.innerWidth);
    if (px > 0 && px !== model.get('width')) { model.set('width', px); model.save_changes(); } };
  window.addEventListener('resize', tell);
  const boxes = new ResizeObserver(entries => {
    for (const e of entries) { const w = Math.round(e.contentRect.width);
      if (seen.get(e.target) !== w) { seen.set(e.target, w); kick(); } } tell(); });
  const watch = () => document.querySelectorAll('.cjw-chart').forEach(c => { if (!seen.has(c)) { seen.set(c, -1);
    boxes.observe(c); } });
  const added = new MutationObserver(watch);
  added.observe(document.body, { childList: true, subtree: true });
  watch();
  tell();
  return () => { boxes.disconnect(); added.disconnect(); window.removeEventListener('resize', tell); };
} };
"""


def _refit_widget():
    """An invisible widget running REFIT_JS (anywidget: its JavaScript ships with the package, offline);
    its `width` is the page's width in pixels as the browser reports it (0 until it does)."""
    import anywidget
    import traitlets

    class Refit(anywidget.AnyWidget):
        _esm = REFIT_JS
        width = traitlets.Int(0).tag(sync=True)

    return Refit(layout=w.Layout(display="none"))


def width_class(px) -> int | None:
    """The width a chart is drawn for (`charts.page.NARROW_PX`): None on a wide page (or before the browser
    said), else the page's width rounded down to 10 px, so small resizes redraw nothing."""
    from ..charts.page import NARROW_PX

    return None if not px or px >= NARROW_PX else int(px) // 10 * 10


def url_parameters() -> dict[str, object]:
    """The valid parameters of a Voilà URL (`?segment=Premium`), which the kernel sees as QUERY_STRING."""
    return from_url(os.environ.get("QUERY_STRING", ""))[0]


def _instead(name: str, value) -> str:
    if value in ("", None):
        return "all dates" if name.endswith("_date") else "all"
    return f"'{clip(value)}'"


class Panel:
    """The dashboard's connection and shared filters, as widgets (interactive) or fixed values."""

    def __init__(self, db="", *, start_date="", end_date="", segment="", channel="", persona=None,
                 interactive=True, renderer="jupyter", k_min=10):
        from ..db import DEFAULT_DB

        given = dict(start_date=start_date, end_date=end_date, segment=segment, channel=channel)
        if persona is not None:  # a persona filter (judged by the personas the database carries)
            given["persona"] = persona
        self.interactive = bool(interactive)
        self.db = Path(db or os.environ.get("CJW_DB", DEFAULT_DB))
        self.con, self.error, self.widgets, self._listeners, self.problems = None, None, {}, [], []
        self.message = w.HTML("", _dom_classes=["cjw-message"]) if interactive else None
        self.k_min, self.renderer = notebook_parameter("k_min").default, "svg"
        self.width, self._refit, self._resize_listeners = None, None, []   # `width_class`; None: wide
        if self.interactive and phone_request():
            self.width = PHONE_PX   # a phone: the first picture in the phone layout
        self._given, self._dates = given, {"start_date": None, "end_date": None}
        try:
            self._start(given, renderer, k_min)
        except Exception as exc:  # noqa: BLE001  a dashboard says what failed; a report fails
            if not interactive:
                raise
            if not isinstance(exc, WorkbenchError):
                server_log().error("the panel failed", exc_info=True)
            self.error = message_for(exc)
            self.message.value = message_html(" ".join([*self.problems, self.error]))

    def _start(self, given: dict, renderer, k_min) -> None:
        from ..db import connect

        if self.interactive:
            renderer = self._read_url(given, renderer)
        self.k_min = int(self._setting("k_min", k_min))
        self.renderer = use_renderer(self._setting("renderer", renderer))
        self.con = connect(self.db)
        self._read_dates(given)
        if self.interactive:
            self._make_widgets()
        self.filters  # noqa: B018  checks the parameters now
        self.show_message(" ".join(self.problems))
        self.show_unmatched()

    def _read_url(self, given: dict, renderer):
        """Take the URL's valid values over the notebook's; each bad one is one message."""
        values, problems = from_url(os.environ.get("QUERY_STRING", ""), [*given, "renderer"])
        for name, text in problems.items():
            self.problems.append(f"{text} Showing {_instead(name, given.get(name, renderer))} instead.")
        given.update({k: v for k, v in values.items() if k in given})
        return values.get("renderer", renderer)

    def _setting(self, name: str, value):
        """`value` if the registry allows it; else a report fails and a dashboard uses the default."""
        p = notebook_parameter(name)
        try:
            return p.check(value)
        except ParameterError as exc:
            if not self.interactive:
                raise
            self.problems.append(f"{exc} Showing {_instead(name, p.default)} instead.")
            return p.default

    def _read_dates(self, given: dict) -> None:
        for name in self._dates:
            try:
                self._dates[name] = _date(given[name], name) if given[name] else None
            except WorkbenchError as exc:  # a report fails; a dashboard says so and starts without it
                if not self.interactive:
                    raise
                self.problems.append(f"{str(exc).replace(str(given[name]), clip(given[name]))} "
                                     f"Showing all dates instead.")
        start, end = self._dates["start_date"], self._dates["end_date"]
        if self.interactive and start and end and start > end:  # said once here, not by every view
            self.problems.append(f"The start date {start} is after the end date {end}. Showing all dates "
                                 f"instead; pick an end date on or after the start date.")
            self._dates = {"start_date": None, "end_date": None}

    def values(self, table: str, column: str) -> list[str]:
        """The distinct values of a canonical column, sorted: a dropdown's options ([] without a database)."""
        if self.con is None:
            return []
        t = self.con.table(table)
        return sorted(str(v) for v in t.select(column).distinct().execute()[column].dropna())

    def _make_widgets(self):
        for name in ("start_date", "end_date"):
            self.widgets[name] = w.DatePicker(value=self._dates[name], style=STYLE,
                                              description=notebook_parameter(name).label)
        for name, table in (("segment", "customers"), ("channel", "events"), ("persona", None)):
            if name not in self._given or (table is None and not self.persona_names()):
                continue
            options = self.values(table, name) if table else self.persona_names()
            value = self._given[name] or ALL
            if value != ALL and value not in options:
                self.problems.append(one_of(name, clip(value), options) + " Showing all instead.")
                value = ALL
            named = [(ALL, ALL), *named_options(options, labels(self))]   # words shown, raw values kept
            self.widgets[name] = w.Dropdown(options=named, value=value, style=STYLE,
                                            description=notebook_parameter(name).label)
        for widget in self.widgets.values():
            widget.observe(safe(self._changed, on_error=self.show_message), names="value")

    @property
    def filters(self) -> Filters:
        """The filters the controls hold now; a start after the end is an error, not an empty chart."""
        if self.interactive and self.widgets:
            v = {k: x.value for k, x in self.widgets.items()}
            v = {k: (None if x in (ALL, "") else x) for k, x in v.items()}
        else:
            v = {**{k: self._given.get(k) or None for k in FILTERS}, **self._dates}
        start, end = v["start_date"], v["end_date"]
        if start and end and start > end:
            raise ControlError(f"The start date {start} is after the end date {end}. Pick an end date on or "
                               f"after the start date.")
        persona = v.get("persona")
        if persona and persona not in self.persona_names():
            self.design("personas")  # none at all: DesignMissingError names the config key that adds them
            raise ControlError(one_of("persona", clip(persona), self.persona_names()))
        # personas=None: the scope judges the persona by the personas the database carries
        return Filters(start_date=start, end_date=end, segment=v.get("segment"), channel=v.get("channel"),
                       persona=persona)

    def design(self, kind: str, name: str | None = None):
        """The body of the design `kind` / `name` (None: the first) the database carries
        (`designs.store.design`); a missing one raises DesignMissingError, whose message names the
        config key that adds it (a dashboard shows it in place of the view)."""
        from ..designs.store import design

        return design(self.con, kind, name)

    def persona_names(self) -> list[str]:
        """The personas the database carries, in rule order ([] without any, or without a database)."""
        from ..designs.personas import load_personas
        from ..designs.store import has_design

        if self.con is None or not has_design(self.con, "personas"):
            return []
        return list(load_personas(self.design("personas")).names)

    def observe(self, callback) -> None:
        self._listeners.append(callback)

    def _changed(self, _change=None):
        if self.con is not None:   # a refresh swapped a new database in: redraw from it
            from ..db import reopen_if_replaced
            self.con = reopen_if_replaced(self.con)
        self.filters  # noqa: B018  a bad range is reported once, here, instead of by every view
        self.show_message("")
        self.show_unmatched()
        for callback in self._listeners:
            callback()

    def on_resize(self, callback) -> None:
        """Call `callback()` when the page's width class (`self.width`) changes."""
        self._resize_listeners.append(callback)

    def _resized(self, change) -> None:
        """The browser reported the page's width: when its class changes (a phone, a narrowed window),
        the views whose chart takes `width` redraw for it (their tables come from the cache: no query)."""
        width = width_class(change["new"])
        if redraw_for(self.width, width):
            self.width = width
            for callback in self._resize_listeners:
                callback()

    def show_message(self, text: str) -> None:
        if self.message is not None:
            self.message.value = message_html(text)

    def show_unmatched(self) -> None:
        """Say once, for every view, when the filters leave no events and no answers (`needs.unmatched`)."""
        from .needs import note_html, unmatched

        text = unmatched(self)
        if text and self.message is not None and not self.message.value:
            self.message.value = note_html(text)

    def _ipython_display_(self):
        if not self.interactive:
            shown = {k: v for k, v in self.filters.describe().items() if k != "personas"}  # rules, not a filter
            display(Markdown("**Filters:** " + (", ".join(f"{k} = {v}" for k, v in shown.items()) or "none (all "
                                                "journeys)") + f"; groups under {self.k_min} customers are hidden."))
            from .needs import note_html, unmatched

            if unmatched(self):
                display(HTML(note_html(unmatched(self))))
            return
        if self._refit is None:
            self._refit = _refit_widget()
            self._refit.observe(safe(self._resized, on_error=self.show_message), names="width")
        display(w.VBox([w.HTML(PAGE_CSS), self._refit, w.HBox(list(self.widgets.values()), layout=w.Layout(flex_flow="row wrap")),
                        self.message], _dom_classes=["cjw-panel"]))


def panel(db: str = "", **parameters) -> Panel:
    """The shared controls of a dashboard, from its parameters cell (see `Panel`)."""
    return Panel(db, **parameters)


__all__ = ["ALL", "Panel", "URL_PARAMETERS", "panel", "url_parameters"]
