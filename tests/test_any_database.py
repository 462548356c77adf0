"""Acceptance: every notebook, report and dashboard works on any database that follows the contract.

Each real export of `examples/real/*.yml` is ingested once (with the designs its config carries), plus
an events-only database (the real help-desk log with no feedback, customers or designs). Then:
- every notebook runs through papermill the way `cjw report` does (`reports.run_report`,
  interactive=False): none fails, no error text reaches a page, and the sections whose inputs the
  database lacks say exactly the expected "missing" sentences (`controls.needs`), once each;
- filters that leave nothing say so once ("No journeys match these filters: …"), not per chart;
- in chromium, through `cjw serve`, every dashboard renders on two real databases and the events-only
  one with no error or traceback text and the same sentences (and filters matching nothing are one
  sentence on the panel there too); screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import html
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from cjworkbench.controls.needs import FUNNEL, SENTENCES
from tests.conftest import REAL

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "real"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
NAMES = [p.stem for p in NOTEBOOKS]
pytestmark = [pytest.mark.real, pytest.mark.slow]

# the report each database gets: a year holding its data (as_of), as `cjw report --period year`
AS_OF = {"helpdesk": "2011-12-31", "helpdesk_xes": "2011-12-31", "receipt": "2011-06-30", "olist": "2018-06-30",
         "cdnow": "1997-12-31", "weblog": "2015-05-20", "airline_tweets": "2015-02-24", "events_only": "2011-12-31"}
SOCIAL = "Social-media answers carry no score"
NO_VOC = ["feedback"] * 5
# the sections of each notebook that say what is missing, in page order (keys of controls.needs.SENTENCES;
# "funnel" and SOCIAL are the option-dependent sentences); a notebook not listed says nothing
# no example config has an `identity:` block: funnels_and_gaps' last section says so on every database
DESIGNED = {"overview": ["kpi_map"], "personas_and_segments": ["personas", "personas"], "voc": NO_VOC,
            "funnels_and_gaps": ["identity"]}
EXPECTED = {
    "helpdesk": {**DESIGNED, "actions": ["touchpoints"], "funnels_and_gaps": ["channels", "channels", "identity"]},
    "receipt": DESIGNED,
    "olist": {**DESIGNED, "designed_vs_actual": ["journey", "journey"]},
    "cdnow": {**DESIGNED, "designed_vs_actual": ["journey", "journey"],
              "funnels_and_gaps": ["funnel", "funnel", "channels", "channels", "identity"]},
    "weblog": {**DESIGNED, "designed_vs_actual": ["journey", "journey"],
               "funnels_and_gaps": ["channels", "channels", "identity"]},
    "airline_tweets": {"actions": ["events"] * 4, "designed_vs_actual": ["events"] * 2,
                       "funnels_and_gaps": ["events"] * 5, "journey_explorer": ["events"] * 4,
                       "overview": ["events", "kpi_map", "events"],
                       "personas_and_segments": ["events", "events", "personas", "events"],
                       "voc": [SOCIAL, "events", SOCIAL, "events"], "what_changed": ["events"] * 2},
    "events_only": {**DESIGNED, "actions": ["touchpoints"], "designed_vs_actual": ["journey", "journey"],
                    "funnels_and_gaps": ["channels", "channels", "identity"]},
}
# helpdesk_xes is the help-desk log again (from XES, duplicates kept): it carries the same designs (checked
# below) and so needs no second run of every notebook
REPORTED = sorted(set(AS_OF) - {"helpdesk_xes"})
ERROR_TEXT = ("Traceback", "Error:", "Exception", "There was an error", "Something went wrong")
MISSING = re.compile(r'<div class="cjw-missing"[^>]*>(.*?)</div>', re.S)


def _said(key: str) -> str:
    """The words of a missing-input sentence as a page shows them (code marks dropped)."""
    text = {"funnel": FUNNEL}.get(key) or SENTENCES.get(key) or key
    return text.replace("`", "")


def _sentences(markup: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", m)).strip() for m in MISSING.findall(markup)]


def _matches(said: list[str], keys: list[str]) -> bool:
    return len(said) == len(keys) and all(s.startswith(_said(k)) for s, k in zip(said, keys))


@pytest.fixture(scope="session")
def databases(tmp_path_factory) -> dict[str, Path]:
    """Every example config ingested once, and the events-only database: name -> db path."""
    from cjworkbench.ingest import run_ingest

    if not REAL.is_dir():
        pytest.skip(f"real exports not found at {REAL} (they live beside the repo, never in it)")
    folder = tmp_path_factory.mktemp("any_database")
    doc = yaml.safe_load((EXAMPLES / "helpdesk.yml").read_text())
    doc.pop("designs")
    for source in doc["sources"]:
        source["path"] = str((EXAMPLES / source["path"]).resolve())
    (folder / "events_only.yml").write_text(yaml.safe_dump(doc))
    configs = {p.stem: p for p in EXAMPLES.glob("*.yml") if "sources" in yaml.safe_load(p.read_text())}
    configs["events_only"] = folder / "events_only.yml"
    assert set(configs) == set(AS_OF), "every example config has a report date here"
    dbs = {}
    for name, config in sorted(configs.items()):
        (folder / name).mkdir()
        run_ingest(config, folder / name / "db.duckdb")
        dbs[name] = folder / name / "db.duckdb"
    return dbs


@pytest.fixture(scope="session")
def reports(databases, tmp_path_factory) -> dict[str, tuple[dict, Path]]:
    """`cjw report --period year` on every database (two at a time): name -> (manifest, folder)."""
    from cjworkbench.reports import run_report

    out = tmp_path_factory.mktemp("any_reports")
    started = time.perf_counter()

    def one(name):
        return name, run_report(databases[name], period="year", as_of=AS_OF[name], out=out / name, timeout=300)

    with ThreadPoolExecutor(max_workers=2) as pool:
        made = dict(pool.map(one, REPORTED))
    print(f"reports on {len(made)} databases: {time.perf_counter() - started:.0f} s")
    return {name: (m, out / name / m["label"]) for name, m in made.items()}


def test_the_xes_export_carries_the_same_designs_and_activities(databases):
    import duckdb

    def read(name):
        with duckdb.connect(str(databases[name]), read_only=True) as con:
            return (con.execute("select kind, name, sha256 from designs order by all").fetchall(),
                    con.execute("select distinct activity from events order by 1").fetchall())

    designs, activities = read("helpdesk")
    assert read("helpdesk_xes") == (designs, activities)
    assert ("goal", "goal") in [(k, n) for k, n, _ in designs] and len(activities) == 14


@pytest.mark.parametrize("name", REPORTED)
def test_every_notebook_reports_on_every_database(reports, name):
    manifest, folder = reports[name]
    assert not manifest["failed"], manifest["failed"]
    assert sorted(n["name"] for n in manifest["notebooks"]) == NAMES
    for nb in NAMES:
        page = (folder / f"{nb}.html").read_text(encoding="utf-8")
        text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S))
        assert not [t for t in ERROR_TEXT if t in text], (nb, text[:3000])
        said, keys = _sentences(page), EXPECTED[name].get(nb, [])
        assert _matches(said, keys), f"{name}/{nb}: said {said}, expected {keys}"
        n_views = len(re.findall(r"^controls\.show(?:_table)?\(", (ROOT / "notebooks" / f"{nb}.py").read_text(), re.M))
        drawn = page.count('data-mime-type="image/svg+xml"') + page.count("<table")
        assert drawn >= n_views - len(said) or nb == "what_changed", f"{name}/{nb}: fewer outputs than views"


def test_filters_that_leave_nothing_are_said_once(databases, tmp_path):
    """A date range with no journeys: one sentence for the page, no chart and no per-view sentence."""
    import nbformat

    from cjworkbench.reports import execute

    out = tmp_path / "journey_explorer.ipynb"
    execute(ROOT / "notebooks" / "journey_explorer.py", out,
            {"db": str(databases["receipt"]), "interactive": False, "renderer": "svg", "start_date": "2009-01-01",
             "end_date": "2009-12-31"}, timeout=300)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    markup = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    said = _sentences(markup)
    assert said == ["No journeys match these filters: start_date = 2009-01-01, end_date = 2009-12-31. Widen the "
                    "dates or clear a filter."], said
    assert not [o for o in outputs if "image/svg+xml" in o.get("data", {}) or o.output_type == "error"]


# -- the dashboards in chromium --------------------------------------------------------------------

# designs and events; feedback only; events only. CJW_BROWSE_ALL=1 browses every database (a release check,
# about a minute each: run before closing an issue that changes the faces)
BROWSED = tuple(REPORTED) if os.environ.get("CJW_BROWSE_ALL") else ("receipt", "airline_tweets", "events_only")
DONE = """(n) => {
  const views = [...document.querySelectorAll('.cjw-view')];
  return views.length >= n
    && views.every(v => v.querySelector('.cjw-chart svg.marks, .cjw-table table, .cjw-error, .cjw-missing'));
}"""


@pytest.fixture(scope="module")
def chromium():
    """tests/test_browser.py's page helpers and one chromium for the module (skips as that module does)."""
    if __import__("shutil").which("chromium") is None:
        pytest.skip("Debian chromium is not installed; `make system` installs it")
    from tests import test_browser as tb

    with tb.sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=tb.CHROMIUM, args=tb.FLAGS)
        yield tb, b
        b.close()


@pytest.mark.parametrize("name", BROWSED)
def test_every_dashboard_renders_on_the_database(databases, chromium, name):
    tb, browser = chromium
    started = time.perf_counter()
    srv = tb.Server(databases[name], "--max-sessions", str(len(NAMES) + 2), "--pool", "0")   # one kernel per page
    pages = {}
    try:
        pages = {nb: tb._open(browser, f"{srv.base}/voila/render/{nb}.ipynb") for nb in NAMES}
        for path in NOTEBOOKS:
            page, nb = pages[path.stem], path.stem
            try:
                page.wait_for_function(DONE, arg=tb._views(path), timeout=tb.LOAD_MS, polling=250)
                page.wait_for_load_state("load", timeout=tb.LOAD_MS)
            except tb.sync_api.TimeoutError:
                tb._screenshot(page, f"any-{name}-{nb}-timeout")
                pytest.fail(f"{name}/{nb} did not render in time; server log:\n{srv.log[-4000:]}")
            tb._screenshot(page, f"any-{name}-{nb}")
            text = tb._text(page)
            assert not [t for t in tb.ERROR_TEXT if t in text], (nb, text[:2000])
            errors = [e.inner_text() for e in page.query_selector_all(".cjw-error")]
            assert not errors, (nb, errors)
            said = [e.inner_text().strip() for e in page.query_selector_all(".cjw-view .cjw-missing")]
            assert _matches(said, EXPECTED[name].get(nb, [])), f"{name}/{nb}: said {said}"
            svgs = tb._chart_svgs(page)
            assert all("<svg" in s for s in svgs) and len(svgs) + len(said) >= tb._views(path) - 2, (nb, len(svgs))
        if name == "receipt":   # filters that leave nothing: one sentence on the panel, empty views
            page = pages["nothing"] = tb._open(browser, f"{srv.base}/voila/render/journey_explorer.ipynb"
                                                        "?start_date=2009-01-01&end_date=2009-12-31")
            page.wait_for_selector(".cjw-panel .cjw-missing", timeout=tb.LOAD_MS)
            page.wait_for_function("() => document.querySelectorAll('.cjw-view').length >= 4", timeout=tb.LOAD_MS)
            time.sleep(2)   # let every view finish its (empty) draw
            tb._screenshot(page, "any-receipt-no-match")
            said = [e.inner_text().strip() for e in page.query_selector_all(".cjw-missing")]
            assert said == ["No journeys match these filters: start_date = 2009-01-01, end_date = 2009-12-31. "
                            "Widen the dates or clear a filter."], said
            assert not tb._chart_svgs(page) or not any(tb._chart_svgs(page)), "no chart under filters that match nothing"
    finally:
        for page in pages.values():
            page.context.close()
        srv.stop()
    print(f"{name}: {len(NAMES)} dashboards in {time.perf_counter() - started:.0f} s")
