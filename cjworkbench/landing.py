"""The landing page at `/` of `cjw serve`: the dashboards with their descriptions, the data's date
range and its last refresh, instead of Voilà's file list.

The page is plain HTML written once when the server starts (`write_landing`), served by a small
Tornado handler without a kernel (`LandingVoila`, Voilà with `/` and `/voila/tree` replaced), so
opening it costs no memory and lists no file names. `with_landing(command, ...)` turns the Voilà
command line of `cjworkbench.dashboards` into one that serves it. Everything on it is escaped; the
database is read once, read-only, and gives only aggregates (dates, counts), never a person.
"""

from __future__ import annotations

import html
import os
import sys
from pathlib import Path

PAGE = "landing.html"
STYLE = """
body { font-family: Helvetica, Arial, sans-serif; color: #333; margin: 0; padding: 24px 16px; }
main { max-width: 960px; margin: 0 auto; }
h1 { font-size: 1.7em; margin: 0 0 6px 0; font-weight: normal; }
.cjw-data { color: #555; margin: 0 0 22px 0; }
ul { list-style: none; padding: 0; margin: 0; display: grid; gap: 12px;
     grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); }
li a { display: block; height: 100%; box-sizing: border-box; padding: 12px 14px; border: 1px solid #dcdcdc;
       border-radius: 6px; color: inherit; text-decoration: none; }
li a:hover { border-color: #4c78a8; }
li b { display: block; color: #2f4b7c; margin-bottom: 4px; }
li span { font-size: 0.92em; color: #555; }
"""


def data_summary(db: str | os.PathLike) -> dict:
    """{first, last (event dates as 'YYYY-MM-DD', or ''), customers, refreshed ('YYYY-MM-DD HH:MM UTC'
    of the last successful ingest run, or '')} of the database, read-only."""
    from .db import connect

    con = connect(Path(db))
    try:
        tables = set(con.list_tables())
        out = {"first": "", "last": "", "customers": None, "refreshed": ""}
        if "events" in tables:
            ts = con.table("events").event_ts
            first, last = ts.min().execute(), ts.max().execute()
            out.update(first=_day(first), last=_day(last))
        if "customers" in tables:
            out["customers"] = int(con.table("customers").count().execute())
        if "ingest_runs" in tables:
            runs = con.table("ingest_runs")
            done = runs.filter(runs.status == "ok").finished_ts.max().execute()
            out["refreshed"] = "" if _missing(done) else f"{done:%Y-%m-%d %H:%M} UTC"
        return out
    finally:
        con.disconnect()


def _missing(value) -> bool:
    return value is None or value != value  # None, NaT, NaN


def _day(value) -> str:
    return "" if _missing(value) else f"{value:%Y-%m-%d}"


def landing_html(dashboards: list[dict], summary: dict) -> str:
    """The page: a title, one line on the data (dates, customers, last refresh), a card per dashboard
    ({file, title, description}, as `dashboards.build_dashboards` lists them) linking to it."""
    facts = []
    if summary.get("first"):
        facts.append(f"Journeys from {summary['first']} to {summary['last']}")
    if summary.get("customers"):
        facts.append(f"{summary['customers']:,} customers")
    facts.append(f"last refreshed {summary['refreshed']}" if summary.get("refreshed") else "never refreshed")
    cards = "".join(f'<li><a href="voila/render/{html.escape(d["file"], quote=True)}"><b>{html.escape(d["title"])}'
                    f'</b><span>{html.escape(d["description"])}</span></a></li>' for d in dashboards)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Customer-journey workbench</title><style>{STYLE}</style></head><body><main>"
            "<h1>Customer-journey workbench</h1>"
            f"<p class=\"cjw-data\">{html.escape('; '.join(facts))}.</p>"
            f"<ul class=\"cjw-dashboards\">{cards}</ul></main></body></html>")


def write_landing(folder: Path, dashboards: list[dict], db: str | os.PathLike) -> Path:
    """Write the landing page for `db` into `folder` (outside the served dashboards folder)."""
    path = Path(folder) / PAGE
    path.write_text(landing_html(dashboards, data_summary(db)), encoding="utf-8")
    return path


def with_landing(command: list[str], *, folder: Path, dashboards: list[dict], db: str | os.PathLike) -> list[str]:
    """The Voilà command line `command` (`python -m voila ...`) serving the landing page at `/`."""
    page = write_landing(folder, dashboards, db)
    if "voila" not in command:  # not the command of `dashboards.voila_command`: serve it as it is
        return command
    i = command.index("voila")
    return [*command[:i], "cjworkbench.landing", *command[i + 1:], f"--LandingVoila.landing_page={page}"]


def _app():
    """Voilà with `/` and `/voila/tree` answered by the landing page (imported only in the server)."""
    from jupyter_server.base.handlers import JupyterHandler
    from tornado import web
    from traitlets import Unicode
    from voila.app import Voila
    from voila.tornado.treehandler import TornadoVoilaTreeHandler

    class LandingHandler(JupyterHandler):
        def initialize(self, page: str):
            self.page = page

        @web.authenticated
        def get(self, path: str = ""):
            if self.request.path.rstrip("/") != self.base_url.rstrip("/"):  # /voila/tree...: no file list
                return self.redirect(self.base_url)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(Path(self.page).read_text(encoding="utf-8"))

    class LandingVoila(Voila):
        landing_page = Unicode("", config=True, help="the landing page's HTML file (cjworkbench.landing)")

        def init_handlers(self):
            handlers = super().init_handlers()
            if not self.landing_page:
                return handlers
            return [(h[0], LandingHandler, {"page": self.landing_page}) if h[1] is TornadoVoilaTreeHandler else h
                    for h in handlers]

    return LandingVoila


def main() -> None:
    _app().launch_instance()


if __name__ == "__main__":
    sys.exit(main())
