"""Dashboard controls: widgets initialised from a notebook's parameters, and views that redraw.

The only module that imports ipywidgets. A notebook makes one `panel(...)` from its parameters
cell (the shared filters: dates, segment, channel) and then calls `show(panel, table, chart, ...)`
or `show_table(...)` per output; option values made with `choice()`, `number()` or `steps()`
become the view's own widgets. With `interactive=False` (papermill reports) no widget is made and
every chart is a static SVG.

Every callback runs through `safe()`: a `WorkbenchError` shows as its message, anything else as
GENERIC_MESSAGE; the traceback goes to the server's log (the process's stderr), never the page.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import altair as alt
import ipywidgets as w
from IPython.display import HTML, Markdown, display

from .scope import Filters, _date
from .display import chart_svg, check_renderer, message_html, static, table_html, use_renderer
from .errors import WorkbenchError, one_of

GENERIC_MESSAGE = "Something went wrong; the analyst can see the log."
ALL = "(all)"
CACHE_SIZE = 8  # tables kept per view (small aggregates)
URL_PARAMETERS = ("start_date", "end_date", "segment", "channel", "persona", "renderer")  # never db

log = logging.getLogger("cjworkbench.dashboards")
if not log.handlers:  # the kernel's sys.stderr is the page; sys.__stderr__ is the server's log
    _handler = logging.StreamHandler(sys.__stderr__)
    _handler.setFormatter(logging.Formatter("%(asctime)s cjworkbench dashboard: %(message)s"))
    log.addHandler(_handler)
    log.propagate = False


class ControlError(WorkbenchError, ValueError):
    """A control holds a value the analyses cannot use."""


def message_for(exc: BaseException) -> str:
    """What a stakeholder sees: a WorkbenchError's own message, else a sentence with no details."""
    return str(exc) if isinstance(exc, WorkbenchError) else GENERIC_MESSAGE


def safe(fn, *, on_error):
    """`fn` wrapped so no exception escapes: `on_error(message)` shows it, the log keeps the rest."""
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001  every failure ends as a message, never a traceback
            if not isinstance(exc, WorkbenchError):
                log.error("callback %s failed", getattr(fn, "__qualname__", fn), exc_info=True)
            on_error(message_for(exc))
    return call


def url_parameters() -> dict[str, str]:
    """Parameters from a Voilà URL (`?segment=Premium`), which the kernel sees as QUERY_STRING."""
    query = parse_qs(os.environ.get("QUERY_STRING", ""))
    return {k: v[-1] for k, v in query.items() if k in URL_PARAMETERS}


@dataclass(eq=False)
class Control:
    """A view option that becomes a widget: `kind` dropdown | number | steps. One control passed to
    several views is one widget, shown with the first view and driving all of them."""

    kind: str
    value: object
    options: tuple = ()
    description: str = ""
    low: float = 0
    high: float = 100
    widget: object = None


def choice(value, options, *, description: str = "") -> Control:
    """A dropdown over `options` (values, or a {label: value} mapping) starting at `value` ('' or None:
    the first option); an unknown value is reported when the view draws (reports fail, dashboards
    fall back to the first option)."""
    options = tuple(options.items()) if isinstance(options, dict) else tuple((str(o), o) for o in options)
    values = [v for _, v in options]
    return Control("dropdown", values[0] if value in ("", None) and values else value, options, description)


def number(value: int, *, low: int, high: int, description: str = "") -> Control:
    """A whole-number slider from `low` to `high`."""
    return Control("number", int(value), (), description, low, high)


def steps(value, *, description: str = "steps") -> Control:
    """An ordered list of activities, edited as comma-separated text."""
    items = [s.strip() for s in (value.split(",") if isinstance(value, str) else value) if str(s).strip()]
    return Control("steps", tuple(items), (), description)


def _problem(c: Control) -> str:
    """Why the control's starting value cannot be used ('' when it can)."""
    if c.kind == "dropdown" and c.value not in [v for _, v in c.options]:
        return one_of(c.description or "choice", c.value, [label for label, _ in c.options])
    return ""


def _widget(c: Control):
    style, name = {"description_width": "initial"}, c.description
    if c.kind == "dropdown":
        labels = [label for label, _ in c.options]  # the widget holds labels: a None value would show blank
        value = labels[0] if _problem(c) and labels else labels[[v for _, v in c.options].index(c.value)]
        return w.Dropdown(options=labels, value=value, description=name, style=style)
    if c.kind == "number":
        return w.IntSlider(value=c.value, min=c.low, max=c.high, description=name, style=style,
                           continuous_update=False)
    return w.Text(value=", ".join(c.value), description=name, style=style, continuous_update=False,
                  layout=w.Layout(width="60%"))


def _value(c: Control, widget):
    if widget is None:
        if _problem(c):
            raise ControlError(_problem(c))
        return c.value
    if c.kind == "steps":
        items = tuple(s.strip() for s in widget.value.split(",") if s.strip())
        if len(items) < 2:
            raise ControlError(f"Give at least two {c.description or 'steps'}, separated by commas "
                               f"(got '{widget.value}').")
        return items
    if c.kind == "dropdown":
        return dict(c.options)[widget.value]
    return widget.value


class Panel:
    """The dashboard's connection and shared filters, as widgets (interactive) or fixed values."""

    def __init__(self, db="", *, start_date="", end_date="", segment="", channel="", persona=None,
                 interactive=True, renderer="jupyter", k_min=10):
        from .db import DEFAULT_DB, connect

        given = dict(start_date=start_date, end_date=end_date, segment=segment, channel=channel)
        if persona is not None:  # a persona filter (judged by designed/personas.yml beside the database)
            given["persona"] = persona
        if interactive:
            given |= {k: v for k, v in url_parameters().items() if k in given}
            renderer = url_parameters().get("renderer", renderer)
        self.interactive, self.k_min = bool(interactive), int(k_min)
        self.renderer = use_renderer(check_renderer(renderer))
        self.db = Path(db or os.environ.get("CJW_DB", DEFAULT_DB))
        self.con, self.error, self.widgets, self._listeners, self.problems = None, None, {}, [], []
        self.message = w.HTML("", _dom_classes=["cjw-message"]) if interactive else None
        self._given, self._dates = given, {"start_date": None, "end_date": None}
        try:
            self.con = connect(self.db)
            for name in self._dates:
                try:
                    self._dates[name] = _date(given[name], name) if given[name] else None
                except WorkbenchError as exc:  # a report fails; a dashboard says so and starts without it
                    if not interactive:
                        raise
                    self.problems.append(f"{exc} Showing all dates instead.")
            if interactive:
                self._make_widgets()
            self.filters  # noqa: B018  checks the parameters now
            self.show_message(" ".join(self.problems))
        except WorkbenchError as exc:
            if not interactive:
                raise
            self.error = str(exc)
            self.message.value = message_html(self.error)

    def values(self, table: str, column: str) -> list[str]:
        """The distinct values of a canonical column, sorted: a dropdown's options ([] without a database)."""
        if self.con is None:
            return []
        t = self.con.table(table)
        return sorted(str(v) for v in t.select(column).distinct().execute()[column].dropna())

    def _make_widgets(self):
        style = {"description_width": "initial"}
        for name, label in (("start_date", "From"), ("end_date", "To")):
            self.widgets[name] = w.DatePicker(value=self._dates[name], description=label, style=style)
        for name, table in (("segment", "customers"), ("channel", "events"), ("persona", None)):
            if name not in self._given or (table is None and not self.persona_names()):
                continue
            options = self.values(table, name) if table else self.persona_names()
            value = self._given[name] or ALL
            if value != ALL and value not in options:
                self.problems.append(one_of(name, value, options) + " Showing all instead.")
                value = ALL
            self.widgets[name] = w.Dropdown(options=[ALL, *options], value=value, description=name.capitalize(),
                                            style=style)
        for widget in self.widgets.values():
            widget.observe(safe(self._changed, on_error=self.show_message), names="value")

    @property
    def filters(self) -> Filters:
        """The filters the controls hold now; a start after the end is an error, not an empty chart."""
        if self.interactive and self.widgets:
            v = {k: x.value for k, x in self.widgets.items()}
            v = {k: (None if x in (ALL, "") else x) for k, x in v.items()}
        else:
            v = {**{k: self._given.get(k) or None for k in ("segment", "channel", "persona")}, **self._dates}
        start, end = v["start_date"], v["end_date"]
        if start and end and start > end:
            raise ControlError(f"The start date {start} is after the end date {end}. Pick an end date on or "
                               f"after the start date.")
        persona = v.get("persona")
        if persona and persona not in self.persona_names():
            raise ControlError(one_of("persona", persona, self.persona_names() or ["(no designed/personas.yml)"]))
        return Filters(start_date=start, end_date=end, segment=v["segment"], channel=v["channel"], persona=persona,
                       personas=str(self.design("personas.yml")) if persona else None)

    def design(self, name: str) -> Path:
        """A designed file (`onboarding.yml`, `personas.yml`, `kpi_map.yml`) in `designed/` beside the database."""
        path = self.db.parent / "designed" / name
        if not path.is_file():
            raise ControlError(f"No designed file '{name}' beside the database: expected {path}. Put the "
                               f"designed journey, personas and KPI map in a 'designed' folder next to it.")
        return path

    def persona_names(self) -> list[str]:
        """The personas of `designed/personas.yml` beside the database, in rule order ([] without one)."""
        from .designs.personas import load_personas

        path = self.db.parent / "designed" / "personas.yml"
        return list(load_personas(path).names) if path.is_file() else []

    def observe(self, callback) -> None:
        self._listeners.append(callback)

    def _changed(self, _change=None):
        self.filters  # noqa: B018  a bad range is reported once, here, instead of by every view
        self.show_message("")
        for callback in self._listeners:
            callback()

    def show_message(self, text: str) -> None:
        if self.message is not None:
            self.message.value = message_html(text)

    def _ipython_display_(self):
        if not self.interactive:
            shown = {k: v for k, v in self.filters.describe().items() if k != "personas"}  # a path, not a filter
            display(Markdown("**Filters:** " + (", ".join(f"{k} = {v}" for k, v in shown.items()) or "none (all "
                                                "journeys)") + f"; groups under {self.k_min} customers are hidden."))
            return
        display(w.VBox([w.HBox(list(self.widgets.values()), layout=w.Layout(flex_flow="row wrap")), self.message],
                       _dom_classes=["cjw-panel"]))


def panel(db: str = "", **parameters) -> Panel:
    """The shared controls of a dashboard, from its parameters cell (see `Panel`)."""
    return Panel(db, **parameters)


@dataclass(frozen=True)
class Designed:
    """A designed file beside the database, found when the view runs (so a missing file is a message)."""

    name: str


def designed(name: str) -> Designed:
    """`designed/<name>` beside the dashboard's database (onboarding.yml, personas.yml, kpi_map.yml)."""
    return Designed(name)


class View:
    """One output: `table(con, filters=..., **options)` -> rows -> privacy -> `chart(df)`, redrawn on changes."""

    def __init__(self, panel: Panel, table, chart, *, options: dict, chart_options: dict | None = None,
                 where: dict | None = None, count: str | None = "n_customers", columns=None, rows=None):
        self.panel, self.table, self.chart = panel, table, chart
        self.parts = {"options": options, "chart": chart_options or {}, "where": where or {}}
        self.count, self.columns, self.rows = count, columns, rows
        self._cache: dict[str, object] = {}  # the last CACHE_SIZE tables, oldest first
        self.widgets, self.own = {}, []  # (part, name) -> widget; the widgets shown with this view
        for part, d in self.parts.items():
            for k, c in d.items():
                if isinstance(c, Control) and panel.interactive:
                    if c.widget is None:
                        c.widget = _widget(c)
                        self.own.append(c.widget)
                    self.widgets[(part, k)] = c.widget
        self.message = w.HTML("", _dom_classes=["cjw-message"])
        self.body = w.Box(layout=w.Layout(display="block"))

    def _values(self, part: str) -> dict:
        out = {}
        for k, c in self.parts[part].items():
            out[k] = (_value(c, self.widgets.get((part, k))) if isinstance(c, Control)
                      else self.panel.design(c.name) if isinstance(c, Designed) else c)
        return out

    def result(self):
        """The privacy-checked table, or the chart drawn from it."""
        from .privacy import suppress_small

        filters, options = self.panel.filters, self._values("options")
        key = repr((filters, sorted(options.items())))
        if key in self._cache:  # a chart-only change, or filters seen before: no query
            df = self._cache.pop(key)
        else:
            df = self.table(self.panel.con, filters=filters, **options)
        self._cache[key] = df
        while len(self._cache) > CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        for column, value in self._values("where").items():
            if value not in ("", None):
                df = df[df[column] == value].reset_index(drop=True).__finalize__(df)
        if self.count is not None:
            df = suppress_small(df, k=self.panel.k_min, count=self.count)
        if self.chart is not None:
            return self.chart(df, **self._values("chart"))
        df = df if self.columns is None else df[[c for c in self.columns if c in df.columns]]
        return df if self.rows is None else df.head(self.rows)

    def draw(self):
        out = self.result()
        old = self.body.children[0] if self.body.children else None
        if self.chart is None or self.panel.renderer == "svg":  # markup in an HTML widget, updated in place
            markup = table_html(out) if self.chart is None else chart_svg(out)
            widget = old if isinstance(old, w.HTML) else w.HTML()
            widget.value = markup
        elif old is not None:  # a JupyterChart: swap the spec only
            spec = out.to_dict(validate=False)  # the builders' specs are tested; validation costs 0.1 s
            if spec.get("params"):
                old.chart = out  # selections need JupyterChart's own bookkeeping
            else:
                old.spec = spec
            widget = old
        else:
            widget = alt.JupyterChart(out)
        if widget is not old:
            widget.add_class("cjw-chart" if self.chart is not None else "cjw-table")
            self.body.children = (widget,)
        self.message.value = ""
        self.body.layout.display = "block"

    def fail(self, text: str):
        self.message.value = message_html(text)
        self.body.layout.display = "none"

    def _ipython_display_(self):
        if not self.panel.interactive:
            out = self.result()
            if self.chart is None:
                display(HTML(table_html(out)))
            else:
                display(static(out) if self.panel.renderer == "svg" else alt.JupyterChart(out))
            return
        if self.panel.con is None:  # the panel already says why
            return
        redraw = safe(self.draw, on_error=self.fail)
        redraw()  # the first picture is a widget of its own, never inside an Output (pitfall 4)
        problems = [_problem(c) for d in self.parts.values() for c in d.values() if isinstance(c, Control)]
        if any(problems):
            self.message.value = message_html(" ".join(p + " Showing the first option instead." for p in problems if p))
        self.panel.observe(redraw)
        for widget in {id(x): x for x in self.widgets.values()}.values():
            widget.observe(lambda _change: redraw(), names="value")
        box = [w.HBox(self.own, layout=w.Layout(flex_flow="row wrap"))] if self.own else []
        display(w.VBox([*box, self.message, self.body], _dom_classes=["cjw-view"]))


def show(panel: Panel, table, chart, *, chart_options: dict | None = None, where: dict | None = None,
         count: str | None = "n_customers", **options) -> None:
    """Display `chart(table(con, filters=panel.filters, **options), **chart_options)`, redrawn on changes.

    Values made with `choice()`, `number()` or `steps()` (in `options`, `chart_options` or `where`)
    become this view's widgets; `designed(name)` is a designed file beside the database; `where`
    keeps the rows whose column equals a value (e.g. one persona). Rows counting fewer than
    `panel.k_min` customers (`count` column; None only for tables without per-group customers)
    are suppressed before the chart sees them.
    """
    display(View(panel, table, chart, options=options, chart_options=chart_options, where=where, count=count))


def show_table(panel: Panel, table, *, rows: int | None = 10, columns=None, where: dict | None = None,
               count: str | None = "n_customers", **options) -> None:
    """Display `table(con, filters=panel.filters, **options)` (first `rows` rows, `columns`), kept up to date."""
    display(View(panel, table, None, options=options, where=where, count=count, columns=columns, rows=rows))
