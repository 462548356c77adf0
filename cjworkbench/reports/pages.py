"""Report pages: an executed notebook as offline HTML (no code, nothing fetched from the network),
and the two pages written instead of one: "no data in this period" and "this page failed"."""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path

from ..errors import WorkbenchError

EMPTY_JS = "data:text/javascript,"
# what an offline report must not contain: a script, style, image or module fetched from elsewhere
REMOTE = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//"
                    r"|\bimport\s*\(\s*[\"'](?:https?:)?//|\bfrom\s+[\"'](?:https?:)?//"
                    r"|@import\s+(?:url\()?[\"']?(?:https?:)?//|\burl\(\s*[\"']?https?://", re.I)
# the exporter's URLs of scripts a report never needs (no widgets, no maths, no mermaid diagrams)
OFFLINE_URLS = {"require_js_url": EMPTY_JS, "mathjax_url": EMPTY_JS, "jquery_url": EMPTY_JS,
                "mermaid_js_url": EMPTY_JS, "mermaid_layout_elk_js_url": "", "widget_renderer_url": EMPTY_JS,
                "jupyter_widgets_base_url": EMPTY_JS}
_STYLE = "font-family:Helvetica,Arial,sans-serif;margin:2rem;color:#333"


class ReportError(WorkbenchError, RuntimeError):
    """A report could not be made; the message names the notebook and the failing cell."""


def title(nb, fallback: str) -> str:
    """The notebook's first markdown heading (`# Title`), else `fallback`."""
    found = (re.search(r"^#\s+(.+)$", c.source, re.M) for c in nb.cells if c.cell_type == "markdown")
    return next((m.group(1).strip() for m in found if m), fallback)


def to_html(executed: Path, title: str) -> str:
    """The executed notebook as HTML with no code and nothing fetched from the network."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    nb.metadata.pop("widgets", None)   # widget state would pull the html-manager from a CDN
    quiet = logging.getLogger("cjworkbench.reports.nbconvert")   # not "alternative text is missing" per chart
    quiet.setLevel(logging.ERROR)
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, log=quiet, **OFFLINE_URLS)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    remote = REMOTE.findall(body)
    if remote:
        raise ReportError(f"The HTML of '{executed.stem}' would load {len(remote)} resource(s) from the network "
                          f"(e.g. {remote[0]!r}); a report must render offline.")
    return body


def _page(heading: str, css_class: str, body: str) -> str:
    esc = html.escape(heading)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc}</title></head>"
            f"<body style=\"{_STYLE}\"><h1>{esc}</h1><p class=\"{css_class}\">{body}</p></body></html>\n")


def no_data_page(heading: str, label: str, start, end, db_name: str, span: str) -> str:
    """The page of a period with no events and no feedback answers, saying which dates the database holds."""
    return _page(heading, "cjw-no-data",
                 f"<strong>No data in this period.</strong> {html.escape(label)} ({start} to {end}) has no "
                 f"events and no feedback answers in {html.escape(db_name)}. The database holds {span}.")


def failed_page(heading: str, reason: str) -> str:
    """The page of a notebook that failed this run and had no earlier good page for the period."""
    return _page(heading, "cjw-failed",
                 f"<strong>This page could not be made.</strong> {html.escape(reason)} The other pages of "
                 f"this report were made; the analyst can see the kept notebook named in the run's log.")


def headline_of(executed: Path) -> dict | None:
    """The headline an executed notebook showed (`narrative.HEADLINE_MIME`), for the index's summary; None
    when it showed none."""
    import nbformat

    from ..narrative import HEADLINE_MIME

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if HEADLINE_MIME in data:
                return data[HEADLINE_MIME]
    return None


def page_title(heading: str, period_label: str) -> str:
    """A page's title for people: the heading's subject (before its question) and the period in words,
    'Funnels and hand-offs — March 2026'."""
    from ..formats import period_name

    subject = re.split(r":\s", heading, maxsplit=1)[0].strip() or heading
    return f"{subject} — {period_name(period_label)}" if period_label else subject
