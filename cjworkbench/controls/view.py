"""What a dashboard shows: `show()` (a chart) and `show_table()` (a table), redrawn on changes.

A `View` runs `table(con, filters=panel.filters, **options)`, suppresses groups under
`panel.k_min` customers and draws `chart(df, **chart_options)`; it redraws when the panel's filters
or its own controls change. It keeps its last CACHE_SIZE tables, so a chart-only change, or filters
seen before, costs no query. With `interactive=False` it displays a static SVG (or an HTML table).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import altair as alt
import ipywidgets as w
from IPython.display import HTML, display

from ..display import chart_svg, message_html, method_html, static, table_html
from .needs import missing, note_html, unmatched
from .panel import Panel
from .widgets import Control, make_widget, problem, safe, value_of
from ..analysis.headline import labels_of, table_result
from ..cache import remember
from ..charts.page import fit_to_page
from ..charts.theme import uncaptioned

CACHE_SIZE = 8  # tables kept per view (small aggregates)


@dataclass(frozen=True)
class Designed:
    """A design the database carries, read when the view runs (so a missing one is a message)."""

    kind: str
    name: str | None = None
    required: bool = True


def designed(kind: str, name: str | None = None, *, required: bool = True) -> Designed:
    """The design `kind` / `name` (None or "": the first) the dashboard's database carries: journeys,
    personas, kpi_map, themes, actions, ... (`cjworkbench.designs.store`). A missing one is the
    view's message naming the config key that adds it; with `required=False` the view gets None
    instead (the analysis then uses its own default). A file name of the old `designed/` folder
    (`designed("kpi_map.yml")`) is read as its kind, an `onboarding.yml` as the journey of that name."""
    if kind.endswith((".yml", ".yaml")):
        stem = kind.rsplit(".", 1)[0]
        kind, name = (stem, name) if stem in LEGACY_KINDS else ("journeys", name or stem)
    return Designed(kind, name or None, required)


LEGACY_KINDS = ("personas", "kpi_map", "themes", "actions")


def _design(panel: Panel, d: Designed):
    from ..designs.store import has_design

    return panel.design(d.kind, d.name) if d.required or d.name or has_design(panel.con, d.kind) else None


class View:
    """One output: `table(con, filters=..., **options)` -> rows -> privacy -> `chart(df)`, redrawn on changes."""

    def __init__(self, panel: Panel, table, chart, *, options: dict, chart_options: dict | None = None,
                 where: dict | None = None, count: str | None = "n_customers", columns=None, rows=None,
                 requires=()):
        self.panel, self.table, self.chart, self.requires = panel, table, chart, tuple(requires)
        self.parts = {"options": options, "chart": chart_options or {}, "where": where or {}}
        self.count, self.columns, self.rows = count, columns, rows
        self.widgets, self.own = {}, []  # (part, name) -> widget; the widgets shown with this view
        for part, d in self.parts.items():
            for k, c in d.items():
                if isinstance(c, Control) and panel.interactive:
                    if c.widget is None:
                        c.widget = make_widget(c)
                        self.own.append(c.widget)
                    self.widgets[(part, k)] = c.widget
        self.message = w.HTML("", _dom_classes=["cjw-message"])
        self.caption = w.HTML("", _dom_classes=["cjw-caption"])  # a live chart's definition, under it
        self.body = w.Box(layout=w.Layout(display="block"))

    def _values(self, part: str) -> dict:
        out = {}
        for k, c in self.parts[part].items():
            out[k] = (value_of(c, self.widgets.get((part, k))) if isinstance(c, Control)
                      else _design(self.panel, c) if isinstance(c, Designed) else c)
        return out

    def _chart_options(self) -> dict:
        """The chart's own options, plus the database's display names (`labels:` design) when the chart
        takes `labels` (every chart naming activities, touchpoints, channels or drivers does), and the
        page's width class (`panel.width`: None on a wide page) when it takes `width` (charts whose
        panels stack, or that lay out otherwise, on a phone)."""
        options, takes = self._values("chart"), inspect.signature(self.chart).parameters
        if "labels" not in options and "labels" in takes:
            options["labels"] = labels_of(self.panel.con) if self.panel.con is not None else {}
        if "width" not in options and "width" in takes:
            options["width"] = self.panel.width
        return options

    def result(self):
        """The privacy-checked table, or the chart drawn from it."""
        from ..privacy import suppress_small

        filters, options = self.panel.filters, self._values("options")
        key = repr((filters, sorted(options.items())))
        # a chart-only change, or filters seen before: no query (`cjworkbench.cache`); the same table with the
        # same filters and options on this page (another view, the headline) is computed once per connection
        df = remember(self, "result", key, lambda: table_result(self.panel.con, self.table, filters, **options),
                      size=CACHE_SIZE)
        for column, value in self._values("where").items():
            if value not in ("", None):
                df = df[df[column] == value].reset_index(drop=True).__finalize__(df)
        if self.count is not None:
            df = suppress_small(df, k=self.panel.k_min, count=self.count)
        if self.chart is not None:
            return self.chart(df, **self._chart_options())
        df = df if self.columns is None else df[[c for c in self.columns if c in df.columns]]
        return df if self.rows is None else df.head(self.rows)

    def absent(self) -> tuple[str, str]:
        """('filters', '') when the panel's filters leave nothing (the panel says so, once), ('input', sentence)
        when the database lacks an input this view requires (`needs`), else ('', '')."""
        if unmatched(self.panel):
            return "filters", ""
        chosen = {k: c for k, c in self.parts["options"].items() if k in ("instrument", "outcome", "steps")}
        chosen = {k: c.value if k == "steps" else value_of(c, self.widgets.get(("options", k)))  # steps: as given
                  if isinstance(c, Control) else c for k, c in chosen.items()}
        text = missing(self.panel, self.requires, chosen)
        return ("input", text) if text else ("", "")

    def draw(self):
        why, text = self.absent()
        if why:  # one sentence instead of the chart (or nothing, when the filters leave nothing)
            self.message.value = note_html(text)
            self.body.layout.display = "none"
            return
        out, caption = self.result(), ""
        if self.chart is not None:   # the notes under the chart, its method folded (`display.method_html`)
            caption = method_html(*uncaptioned(out)[1:])
            out = fit_to_page(out, self.panel.width)[0] if self.panel.renderer != "svg" else uncaptioned(out)[0]
        old = self.body.children[0] if self.body.children else None
        if self.chart is None or self.panel.renderer == "svg":  # markup in an HTML widget, updated in place
            markup = table_html(out) if self.chart is None else chart_svg(out)
            widget = old if isinstance(old, w.HTML) else w.HTML()
            widget.value = markup
        else:   # every picture a new chart widget: a spec swapped into a drawn one was sometimes
            # never drawn by the page under load (seen with ~8 dashboards open; no console error)
            widget = alt.JupyterChart(out)
        if self.chart is not None:   # the layout it was drawn for, for a page test to wait on
            widget.remove_class("cjw-wide" if self.panel.width else "cjw-narrow")
            widget.add_class("cjw-narrow" if self.panel.width else "cjw-wide")
        if widget is not old:
            widget.add_class("cjw-chart" if self.chart is not None else "cjw-table")
            self.body.children = (widget, self.caption)
            if isinstance(old, alt.JupyterChart):
                old.close()   # the chart it replaces: no model left behind in the kernel
        self.caption.value = caption
        self.message.value = ""
        self.body.layout.display = "block"

    def fail(self, text: str):
        self.message.value = message_html(text)
        self.body.layout.display = "none"

    def _ipython_display_(self):
        if not self.panel.interactive:
            why, text = self.absent()
            if why:
                if text:
                    display(HTML(note_html(text)))
                return
            out = self.result()
            if self.chart is None:
                display(HTML(table_html(out)))
            else:
                chart, notes, method = uncaptioned(out)
                display(static(chart) if self.panel.renderer == "svg" else alt.JupyterChart(chart))
                display(HTML(method_html(notes, method)))
            return
        if self.panel.con is None or self.panel.error:  # the panel already says why, once
            return
        redraw = safe(self.draw, on_error=self.fail)
        redraw()  # the first picture is a widget of its own, never inside an Output (pitfall 4)
        problems = [problem(c) for d in self.parts.values() for c in d.values() if isinstance(c, Control)]
        if any(problems):
            self.message.value = message_html(" ".join(p + " Showing the first option instead." for p in problems if p))
        self.panel.observe(redraw)
        if self.chart is not None:   # a phone: panels stacked, the process map top to bottom, titles wrapped
            self.panel.on_resize(redraw)
        for widget in {id(x): x for x in self.widgets.values()}.values():
            widget.observe(lambda _change: redraw(), names="value")
        box = [w.HBox(self.own, layout=w.Layout(flex_flow="row wrap"))] if self.own else []
        display(w.VBox([*box, self.message, self.body], _dom_classes=["cjw-view"]))


def show(panel: Panel, table, chart, *, chart_options: dict | None = None, where: dict | None = None,
         count: str | None = "n_customers", requires=(), **options) -> None:
    """Display `chart(table(con, filters=panel.filters, **options), **chart_options)`, redrawn on changes.

    Values made with `choice()`, `number()` or `steps()` (in `options`, `chart_options` or `where`)
    become this view's widgets; `designed(kind)` is a design the database carries; `where`
    keeps the rows whose column equals a value (e.g. one persona). Rows counting fewer than
    `panel.k_min` customers (`count` column; None only for tables without per-group customers)
    are suppressed before the chart sees them. `requires` names the inputs the view needs (`needs.NEEDS`:
    "feedback", "scores", "channels", "personas", ...): when the database lacks one, one sentence saying
    which config key adds it takes the chart's place.
    """
    display(View(panel, table, chart, options=options, chart_options=chart_options, where=where, count=count,
                 requires=requires))


def show_table(panel: Panel, table, *, rows: int | None = 10, columns=None, where: dict | None = None,
               count: str | None = "n_customers", requires=(), **options) -> None:
    """Display `table(con, filters=panel.filters, **options)` (first `rows` rows, `columns`), kept up to date;
    `requires` as for `show`."""
    display(View(panel, table, None, options=options, where=where, count=count, columns=columns, rows=rows,
                 requires=requires))
