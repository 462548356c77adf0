"""The headline band of a dashboard or report page: `headline(panel, page, **options)`, shown first.

It is a `View` of `analysis.headline.headline_table` drawn as `narrative.headline_html` (an element
of class `cjw-headline`), redrawn when the panel's filters change. Its options are the page's own
(the same values its charts get, so the figures equal the tables beneath): a control is read at its
starting value and never becomes a widget of the headline; `designed(kind, required=False)` designs
a database may lack are None, and the headline says what is missing instead of failing.
"""

from __future__ import annotations

import ipywidgets as w
from IPython.display import display

from ..analysis.headline import headline_table, labels_of
from ..formats import use_labels
from ..narrative import HEADLINE_MIME, headline_html, headline_record
from .needs import unmatched
from .panel import Panel
from .view import View
from .widgets import Control, safe


class HeadlineView(View):
    """A View whose output is the headline band instead of a chart or a table."""

    def draw(self):
        if unmatched(self.panel):   # the panel already says the filters leave nothing
            self.body.layout.display = "none"
            return
        markup = headline_html(self.result())
        old = self.body.children[0] if self.body.children else None
        widget = old if isinstance(old, w.HTML) else w.HTML()
        widget.value = markup
        if widget is not old:
            self.body.children = (widget,)
        self.message.value = ""
        self.body.layout.display = "block"

    def _ipython_display_(self):
        if self.panel.interactive:
            if self.panel.con is None or self.panel.error:
                return
            redraw = safe(self.draw, on_error=self.fail)
            redraw()
            self.panel.observe(redraw)
            display(w.VBox([self.message, self.body], _dom_classes=["cjw-headline-view"]))
            return
        if not unmatched(self.panel):   # the band, and its figures as JSON for the report's index
            table = self.result()
            display({"text/html": headline_html(table), HEADLINE_MIME: headline_record(table)}, raw=True)


def headline(panel: Panel, page: str, **options) -> None:
    """Display the headline of `page` (`analysis.headline.PAGES`) over the panel's filters; `options` as
    the page's views get them (controls at their starting values). It also sets the page's display
    names (`formats.use_labels`, the database's `labels:` design) for the tables below it."""
    plain = {k: (v.value if isinstance(v, Control) else v) for k, v in options.items()}
    if panel.con is not None:   # the page's tables name activities as the `labels:` design says
        use_labels(labels_of(panel.con))
    display(HeadlineView(panel, headline_table, None, options={"page": page, "k_min": panel.k_min, **plain},
                         count=None))


__all__ = ["HeadlineView", "headline"]
