"""Every dashboard page as a manager opens it, at 1440 px and on a 390 px phone (issue #16).

One `cjw serve` on the 5,000-customer demo and one chromium for the module. Every dashboard is
opened once at 1440 px, measured and photographed, then the same page is narrowed to 390 px (the
charts follow their container) and measured and photographed again, so each page costs one kernel.
Asserted at both widths: no horizontal scroll and no chart (SVG, canvas, image) or view box wider
than the window; every chart has its axis titles and labels (non-empty SVG text, never "undefined");
the headline band (`.cjw-headline`); no developer error text; no request leaves the machine (a
request to any other host is aborted and recorded). Also: the landing page at `/`, and a URL full of
bad values (an unknown renderer and channel, an impossible date range, a 10,000-character value)
said once, short, above the controls. Every chart's method is folded under "How is this calculated?"
(`display.method_html`), and the journey explorer opened at 390 px from the start (not narrowed after
it drew) fits with its journeys named whole. Screenshots: tests/artifacts/pages/<page>-<width>.png and
journey_explorer-direct-390.png.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
NAMES = [p.stem for p in NOTEBOOKS]
WIDTHS = (1440, 390)
SHOTS = ROOT / "tests" / "artifacts" / "pages"
LOAD_MS = 600_000  # every page at once: 8 cold kernels on 2 cores shared with other work
ERROR_TEXT = ("Traceback", "There was an error when executing cell", "Exception", "Error:")
LOCAL = ("127.0.0.1", "localhost", "[::1]")
DIRECT = "journey_explorer-direct"   # the page loaded at 390 px from the start

MEASURE = """() => {
  // a text's lines (Vega writes a multi-line text as one tspan a line)
  const lines = t => { const spans = [...t.querySelectorAll('tspan')]; return spans.length ? spans.map(s => s.textContent) : [t.textContent]; };
  const W = window.innerWidth, out = {width: W, scroll: document.documentElement.scrollWidth, wide: [], charts: []};
  for (const e of document.querySelectorAll('.cjw-view, .cjw-panel, .cjw-headline, .cjw-chart svg.marks, canvas, .cjw-view img')) {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && (r.right > W + 1 || r.left < -1))
      out.wide.push(`${e.tagName}.${e.getAttribute('class') || ''} ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  out.unfolded = [...document.querySelectorAll('.cjw-view')].filter(v => v.querySelector('.cjw-chart') &&
    !v.querySelector('details.cjw-method')).length;
  out.variants = [...document.querySelectorAll('.cjw-chart svg.marks')].filter(s => s.textContent.includes(
    'Most common journeys')).map(s => { const r = s.getBoundingClientRect();
      return [Math.round(r.left), Math.round(r.right), [...s.querySelectorAll('.mark-text text')].map(t => lines(t).join(' ')).join('|')]; });
  for (const c of document.querySelectorAll('.cjw-chart')) {
    const svg = c.querySelector('svg.marks');
    const texts = svg ? [...svg.querySelectorAll('text')].map(t => t.textContent.trim()) : [];
    const drawn = svg ? svg.getBoundingClientRect().width : 0, own = svg ? parseFloat(svg.getAttribute('width')) : 0;
    // a process map's activity labels (the text marks): boxes that intersect overlap on screen
    const labels = svg && texts.includes('Process map') ? [...svg.querySelectorAll('.mark-text.role-mark text')]
      .filter(t => t.textContent.trim()).map(t => { const r = t.getBoundingClientRect();
        return [t.textContent, r.left, r.top, r.right, r.bottom]; }) : [];
    const overlaps = [];
    for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
      const a = labels[i], b = labels[j];
      if (a[1] < b[3] - 1 && b[1] < a[3] - 1 && a[2] < b[4] - 1 && b[2] < a[4] - 1) overlaps.push(`${a[0]} / ${b[0]}`);
    }
    const titles = svg ? [...svg.querySelectorAll('.role-axis-title text, .role-title-text text')].map(t => t.textContent.trim()) : [];
    // text Vega cut to its limit ends in "…" (titles, subtitles, axis and legend labels, text marks)
    const cut = svg ? [...svg.querySelectorAll('text')].flatMap(lines).filter(t => t.trim().endsWith('\u2026')) : [];
    out.charts.push({svg: !!svg, texts: texts.filter(t => t).length, empty_titles: titles.filter(t => !t).length, cut,
                     bad: texts.filter(t => /^(undefined|NaN|null)$/.test(t)).slice(0, 3),
                     width: svg ? Math.round(svg.getBoundingClientRect().width) : 0,
                     scale: own > 0 ? Math.round(100 * drawn / own) / 100 : 1, map_labels: labels.length, overlaps});
  }
  return out;
}"""
# settled: every chart inside the window at its own size (a chart the page had to shrink is waiting for the
# kernel to redraw it for the new width: side-by-side panels stacked, the process map top to bottom), and
# every chart drawn for the window's layout (`controls.view`: class cjw-narrow or cjw-wide)
SETTLED = """(w) => [...document.querySelectorAll('.cjw-chart svg.marks')].every(s => { const r = s.getBoundingClientRect();
  return r.right <= w + 1 && r.width >= MIN_SCALE * parseFloat(s.getAttribute('width') || r.width); })
  && [...document.querySelectorAll('.cjw-chart')].every(c => c.classList.contains(w < 720 ? 'cjw-narrow' : 'cjw-wide'))"""
MIN_SCALE = 0.9   # a chart drawn smaller than this share of its own size is shrunk to fit: unreadable on a phone
SETTLED = SETTLED.replace("MIN_SCALE", str(MIN_SCALE))
DONE = """() => {
  const views = [...document.querySelectorAll('.cjw-view')];
  return views.length > 0 && views.every(v => v.querySelector(
    '.cjw-chart svg.marks, .cjw-table table, .cjw-error, .cjw-missing, .cjw-headline'));
}"""


# -- without a browser: the process map's simplification and the landing page ------------------------

def _edges(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["from_activity", "to_activity", "n_transitions", "median_seconds"])


def test_rare_activities_collapse_into_one_other_node():
    """R1 and R2 carry 2 and 1 of 103 events (under 3 %): they become `(other)`, their edges add
    up, and the median time of a merged edge is the transition-weighted median of its medians."""
    from cjworkbench.charts.process_map import collapse_rare

    table = _edges([("(start)", "A", 100, None), ("A", "B", 50, 10.0), ("A", "R1", 2, 30.0), ("A", "R2", 1, 90.0),
                    ("R1", "B", 2, 5.0), ("R2", "(end)", 1, None), ("B", "(end)", 52, None), ("A", "(end)", 47, None)])
    out, rare = collapse_rare(table, 3)
    assert rare == ["R1", "R2"]
    got = out.set_index(["from_activity", "to_activity"])
    assert got.loc[("A", "(other)"), "n_transitions"] == 3 and got.loc[("A", "(other)"), "median_seconds"] == 30.0
    assert got.loc[("(other)", "B"), "n_transitions"] == 2 and got.loc[("(other)", "(end)"), "n_transitions"] == 1
    assert out["n_transitions"].sum() == table["n_transitions"].sum()
    assert collapse_rare(table, 1)[1] == []            # only R2 is under 1 %: one rare activity is left alone
    from cjworkbench.charts import ChartError, transitions_chart
    with pytest.raises(ChartError, match="rare_percent must be"):
        transitions_chart(table, rare_percent=150)
    spec = transitions_chart(table, rare_percent=3).to_dict()
    assert "(other)" in str(spec) and "2 activities with under 3 % of events" in str(spec)


def test_a_page_chart_takes_its_containers_width_and_a_report_keeps_a_number(demo_db):
    """Live pages get `width: container` (legend below, caption as text); the report's SVG keeps pixels."""
    import cjworkbench as cjw
    from cjworkbench import charts
    from cjworkbench.charts.page import fit_to_page
    from cjworkbench.db import connect

    con = connect(demo_db[0])
    chart = charts.variants_chart(cjw.variants_table(con))
    live, caption = fit_to_page(chart)
    spec = live.to_dict()
    assert spec["width"] == "container" and spec["config"]["legend"]["orient"] == "bottom"
    assert spec["data"] and any(v for v in spec["datasets"].values())  # the data came along with the chart
    assert caption and caption[-1].rstrip().endswith(".") and "Filters: none." in " ".join(caption)
    report = chart.to_dict()
    assert isinstance(report["vconcat"][0]["width"], int)


def test_dropdowns_show_display_names_and_keep_raw_values(demo_db, monkeypatch):
    """Activity, instrument and channel pickers show each name as people read it (the `labels:` design,
    else the raw name in words, never blank) while the analyses and the URL get the raw name; the funnel's
    steps read in words and read back either form."""
    from cjworkbench import controls, formats
    from cjworkbench.controls.widgets import make_widget, option, value_of

    monkeypatch.setenv("QUERY_STRING", "channel=email")   # a URL keeps taking the raw value
    panel = controls.panel(str(demo_db[0]), renderer="svg")
    channel = panel.widgets["channel"]
    assert channel.value == "email" and channel.label == "Email" and panel.filters.channel == "email"
    anchor = controls.data_option(panel, "anchor", "")
    widget = make_widget(anchor)
    pairs = dict(anchor.options)   # label -> raw value
    assert pairs["Order placed"] == "order_placed" and pairs["Checkout confirmed"] == "checkout_confirmed"
    assert all(label.strip() for label in pairs) and "order_placed" not in pairs
    assert all(label == formats.display_name(raw) for label, raw in pairs.items() if raw)
    widget.value = "Order placed"
    assert value_of(anchor, widget) == "order_placed"
    score = controls.data_option(panel, "instrument", "")
    assert ("NPS", "nps") in score.options and ("CSAT", "csat") in score.options
    named = option("anchor", "order_placed", options=["order_placed", "view_home", "Order placed"],
                   labels={"view_home": "Home page"})   # a database's own display names; two alike told apart
    assert dict(named.options) == {"Order placed (order_placed)": "order_placed", "Home page": "view_home",
                                   "Order placed (Order placed)": "Order placed"}
    steps = controls.data_option(panel, "steps", "view_product, checkout_start")
    text = make_widget(steps)
    assert text.value == "View product, Checkout start"
    text.value = "view product, CHECKOUT START, checkout_payment"
    assert value_of(steps, text) == ("view_product", "checkout_start", "checkout_payment")


def test_side_by_side_panels_stack_on_a_narrow_page(demo_db):
    """Each chart whose panels sit side by side on a wide page (and in reports, `width=None`) stacks them
    at phone width, every panel naming its own rows and no wider than the page; the process map turns to
    read top to bottom with at most NARROW_TOP transitions and its labels beside the circles."""
    import altair as alt

    import cjworkbench as cjw
    from cjworkbench import charts
    from cjworkbench.charts.process_map import NARROW_TOP
    from cjworkbench.charts.theme import uncaptioned
    from cjworkbench.db import connect

    con = connect(demo_db[0])
    outcome = cjw.switch_gaps_table(con, outcome_activity="order_delivered")
    rules = pd.DataFrame({"rule": ["cart_left_idle", "detractor_answer"], "comparison": ["triggered vs not"] * 2,
                          "rate_exposed": [0.24, 0.25], "rate_control": [0.08, 0.22], "estimate": [0.15, 0.02],
                          "low": [0.12, -0.01], "high": [0.18, 0.05], "n_exposed": [900, 400],
                          "n_control": [5000, 4000], "n_triggers": [900, 400]})
    drivers = pd.DataFrame({"driver": ["late_delivery", "repeat_contact"], "relative_weight": [0.6, 0.4],
                            "rw_low": [0.5, 0.3], "rw_high": [0.7, 0.5], "effect": [-2.1, -1.2],
                            "low": [-2.6, -1.6], "high": [-1.6, -0.8]})
    made = {"actions": lambda w: charts.actions_chart(rules, width=w),
            "gaps": lambda w: charts.switch_gaps_chart(outcome, width=w),
            "drivers": lambda w: charts.drivers_chart(drivers, width=w)}
    for name, make in made.items():
        wide, phone = uncaptioned(make(None))[0], uncaptioned(make(390))[0]
        assert isinstance(wide, alt.HConcatChart) and isinstance(phone, alt.VConcatChart), name
        for panel in phone.to_dict()["vconcat"]:
            y = (panel.get("encoding") or panel["layer"][-1]["encoding"])["y"]
            assert y.get("axis", {}) is not None and panel["width"] + 130 <= 390, (name, panel["width"], y)
    score = uncaptioned(charts.scorecard_chart(cjw.scorecard_table(con), width=390))[0].to_dict()
    assert len(score["hconcat"]) == 2 and sum(p["width"] for p in score["hconcat"]) <= 390 - 16
    table = cjw.transitions_table(con)
    phone = uncaptioned(charts.transitions_chart(table, top=30, width=390))[0].to_dict()
    assert "(12 busiest" not in str(phone) and f"The {NARROW_TOP} busiest" in str(phone)
    assert phone["height"] > phone["width"]   # top to bottom
    texts = [layer for layer in phone["layer"] if layer["mark"].get("type") == "text"]
    assert len(texts) == 1 and texts[0]["mark"]["align"] == "left" and texts[0]["mark"]["dx"] > 0


def test_the_landing_page_says_dates_and_last_refresh(demo_db, tmp_path):
    from cjworkbench.landing import data_summary, landing_html

    summary = data_summary(demo_db[0])
    import duckdb
    with duckdb.connect(str(demo_db[0]), read_only=True) as con:
        first, last = con.execute("select min(event_ts)::date, max(event_ts)::date from events").fetchone()
        refreshed = con.execute("select max(finished_ts) from ingest_runs where status = 'ok'").fetchone()[0]
    assert summary == {"first": str(first), "last": str(last), "customers": 5000,
                       "refreshed": f"{refreshed:%Y-%m-%d %H:%M} UTC"}
    page = landing_html([{"file": "a.ipynb", "title": "<A & B>", "description": "what it says"}], summary)
    assert f"Journeys from {first} to {last}; 5,000 customers; last refreshed {refreshed:%Y-%m-%d %H:%M} UTC." in page
    assert '<a href="voila/render/a.ipynb"><b>&lt;A &amp; B&gt;</b>' in page and "http" not in page


# -- in chromium -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed; `make system` (as root) installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from .test_browser import FLAGS

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(demo_db, browser):
    from .test_browser import Server

    # one kernel per page plus the bad-URL page; no preheated pool (tests/test_serve_viewers.py tests it)
    srv = Server(demo_db[0], "--max-sessions", str(len(NAMES) + 4), "--pool", "0")
    yield srv
    srv.stop()


PHONE_AGENT = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
               "Mobile Safari/537.36")
# every chart's own width when it first appears (a redraw adds a new one): a phone's page is drawn for the
# phone from its first picture, never in the desktop layout first
FIRST_WIDTHS = """window.__cjw_first = []; new MutationObserver(ms => { for (const m of ms) for (const n of m.addedNodes) {
  if (n.nodeType !== 1) continue;
  for (const s of (n.matches('svg.marks') ? [n] : n.querySelectorAll('svg.marks')))
    window.__cjw_first.push(Math.round(parseFloat(s.getAttribute('width') || '0'))); } })
  .observe(document, {childList: true, subtree: true});"""


def _open(browser, url: str, width: int, leaks: list, *, phone: bool = False):
    """A page in its own context (`phone`: with a phone's user agent); any request to another host is aborted
    and kept in `leaks`."""
    ctx = browser.new_context(viewport={"width": width, "height": 2400 if width > 1000 else 6000},
                              **({"user_agent": PHONE_AGENT} if phone else {}))
    ctx.add_init_script(FIRST_WIDTHS)

    def route(r):
        url = r.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1"):
            return r.continue_()
        leaks.append(url)
        return r.abort()

    ctx.route("**/*", route)
    page = ctx.new_page()
    page.goto(url, wait_until="commit", timeout=LOAD_MS)
    return page


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _look(page) -> dict:
    found = page.evaluate(MEASURE)
    found["text"] = page.inner_text("body")
    found["headline"] = len(page.query_selector_all(".cjw-headline"))
    found["errors"] = [e.inner_text() for e in page.query_selector_all(".cjw-error")]
    found["first_widths"] = page.evaluate("window.__cjw_first")
    found["tables"] = page.evaluate("""() => [...document.querySelectorAll('.cjw-table-html')].map(t => {
      const r = t.getBoundingClientRect(), box = t.closest('.cjw-table') || t.parentElement;
      return [Math.round(r.left), Math.round(r.right), getComputedStyle(t.querySelector('tr:last-child') || t).display,
              box.scrollWidth - box.clientWidth]; })""")
    return found


@pytest.fixture(scope="module")
def measured(server, browser):
    """{(page, width): what was measured}, every page rendered once and looked at at both widths."""
    leaks: dict[str, list] = {name: [] for name in NAMES}
    pages = {name: _open(browser, f"{server.base}/voila/render/{name}.ipynb", WIDTHS[0], leaks[name])
             for name in NAMES}
    # and the journey explorer opened at phone width from the start (not narrowed after it drew)
    leaks[DIRECT] = []
    pages[DIRECT] = _open(browser, f"{server.base}/voila/render/journey_explorer.ipynb", 390, leaks[DIRECT], phone=True)
    out, started = {}, time.monotonic()
    try:
        for name, page in pages.items():
            try:  # all pages load at once; a slow one is waited for from the start, not after the others
                left = max(10_000, LOAD_MS - 1000 * (time.monotonic() - started))
                page.wait_for_function(DONE, timeout=left, polling=250)
                page.wait_for_load_state("load", timeout=LOAD_MS)
            except Exception as exc:  # noqa: BLE001  that page's tests fail with what it showed
                _shot(page, f"{name}-timeout")
                views = page.evaluate("() => [...document.querySelectorAll('.cjw-view')].map(v => v.innerText.slice(0, 200))")
                out.update({(name, width): {"timeout": f"{type(exc).__name__}; views: {views}; server: "
                                                       f"{server.log[-1500:]}"} for width in WIDTHS})
                continue
            for width in (WIDTHS if name != DIRECT else (390,)):
                page.set_viewport_size({"width": width, "height": 2400 if width > 1000 else 6000})
                try:  # the charts follow the new width (vega listens to window resizes; the kernel redraws)
                    page.wait_for_function(SETTLED, arg=width, timeout=45_000, polling=200)
                except Exception:  # noqa: BLE001  measured below: the assertion says which element
                    pass
                time.sleep(0.5)
                out[(name, width)] = {**_look(page), "leaks": list(leaks[name])}
                _shot(page, f"{name}-{width}")
        print(f"{len(pages)} pages rendered and measured at {WIDTHS} in {time.monotonic() - started:.0f} s")
        yield out
    finally:
        for page in pages.values():
            page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", NAMES)
def test_the_page_fits_and_says_everything(measured, name, width):
    m = measured[(name, width)]
    assert "timeout" not in m, m.get("timeout")
    assert m["scroll"] <= m["width"], f"the page scrolls sideways: {m['scroll']} px in {m['width']} px"
    assert not m["wide"], f"wider than the {width} px window: {m['wide']}"
    assert m["charts"], "no chart on the page"
    for i, chart in enumerate(m["charts"]):
        assert chart["svg"] and chart["texts"] >= 2 and not chart["empty_titles"] and not chart["bad"], (i, chart)
        assert not chart["cut"], f"chart {i} has text cut with '…' at {width} px: {chart['cut'][:6]}"
        # drawn at its own size: side-by-side panels stack on a phone instead of being shrunk to fit
        assert chart["scale"] >= MIN_SCALE, f"chart {i} shrunk to {chart['scale']:.0%} of its size to fit: {chart}"
    assert not [t for t in ERROR_TEXT if t in m["text"]], m["text"][:1500]
    assert not m["errors"], m["errors"]
    assert not m["leaks"], f"requests that left the machine: {sorted(set(m['leaks']))[:5]}"
    assert m["unfolded"] == 0, f"{m['unfolded']} charts without their method folded under 'How is this calculated?'"
    # tables inside the window; on a phone one card a row (`display.TABLE_CSS`), not columns scrolling sideways
    assert all(0 <= left and right <= width + 1 and hidden <= 1 for left, right, _, hidden in m["tables"]), m["tables"]
    assert all(shown == ("table-row" if width > 720 else "block") for _, _, shown, _ in m["tables"]), m["tables"]


def test_the_variants_chart_fits_when_the_page_is_loaded_at_phone_width(measured):
    """The journey explorer opened at 390 px from the start (screenshot journey_explorer-direct-390.png):
    no sideways scroll, every chart inside the window, the variants chart drawn with its labels."""
    m = measured[(DIRECT, 390)]
    assert "timeout" not in m, m.get("timeout")
    assert m["scroll"] <= 390 and not m["wide"], (m["scroll"], m["wide"])
    assert m["variants"] and all(0 <= left and right <= 390 for left, right, _ in m["variants"]), m["variants"]
    assert all(c["svg"] and c["texts"] >= 2 and not c["bad"] for c in m["charts"]), m["charts"]
    # drawn for the phone from the first picture: no chart ever appeared wider than the window
    assert m["first_widths"] and max(m["first_widths"]) <= 390, m["first_widths"]
    labels = m["variants"][0][2]   # the journeys in words, whole above their bars (not cut to "Order place…")
    assert "Order placed → Order shipped → Order delivered" in labels.split("|"), labels
    assert not re.search(r"[a-z]+_[a-z]+", labels), labels


@pytest.mark.parametrize("width", WIDTHS)
def test_the_process_maps_labels_do_not_overlap(measured, width):
    """The process map's activity labels, as drawn in the browser (SVG text boxes), intersect nowhere: at
    1440 px left to right, at 390 px top to bottom with each label beside its circle."""
    m = measured[("journey_explorer", width)]
    assert "timeout" not in m, m.get("timeout")
    maps = [c for c in m["charts"] if c["map_labels"]]
    assert maps and maps[0]["map_labels"] >= 8, m["charts"]
    assert not maps[0]["overlaps"], f"labels overlapping at {width} px: {maps[0]['overlaps']}"


@pytest.mark.parametrize("name", NAMES)
def test_the_page_opens_with_its_headline(measured, name):
    m = measured[(name, WIDTHS[0])]
    assert "timeout" not in m, m.get("timeout")
    assert m["headline"] >= 1, "no element with class cjw-headline"


def test_charts_use_the_width_of_the_page(measured):
    """At 1440 px a single chart is drawn about as wide as the content (not a third of it); at 390 px
    every chart is inside the window."""
    single = [c["width"] for c in measured[("journey_explorer", 1440)]["charts"]]
    assert min(single) >= 900, single
    assert all(c["width"] <= 390 for c in measured[("journey_explorer", 390)]["charts"])


@pytest.mark.parametrize("width", WIDTHS)
def test_the_landing_page_lists_the_dashboards_with_the_datas_dates(server, browser, demo_db, width):
    leaks = []
    page = _open(browser, f"{server.base}/", width, leaks)
    try:
        page.wait_for_selector(".cjw-dashboards a", timeout=LOAD_MS)
        hrefs = page.eval_on_selector_all(".cjw-dashboards a", "els => els.map(e => e.getAttribute('href'))")
        assert sorted(hrefs) == sorted(f"voila/render/{n}.ipynb" for n in NAMES)
        text = page.inner_text("body")
        assert re.search(r"Journeys from \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d; 5,000 customers; last refreshed "
                         r"\d{4}-\d\d-\d\d \d\d:\d\d UTC\.", text), text
        assert ".ipynb" not in text and page.evaluate("document.documentElement.scrollWidth") <= width
        assert not leaks
        _shot(page, f"landing-{width}")
        page.goto(f"{server.base}/voila/tree", timeout=LOAD_MS)  # Voilà's file list is gone too
        page.wait_for_selector(".cjw-dashboards", timeout=LOAD_MS)
    finally:
        page.context.close()


def test_bad_url_values_are_one_short_message_and_the_page_renders(server, browser):
    leaks = []
    query = "?renderer=evil&channel=pigeon&start_date=2026-05-01&end_date=2026-01-31&segment=" + "x" * 10_000
    page = _open(browser, f"{server.base}/voila/render/journey_explorer.ipynb{query}", 390, leaks)
    try:
        page.wait_for_function(DONE, timeout=LOAD_MS, polling=250)
        errors = [e.inner_text() for e in page.query_selector_all(".cjw-error")]
        assert len(errors) == 1, errors
        said = errors[0]
        assert "Unknown renderer 'evil'" in said and "pigeon" in said and "2026-05-01" in said, said
        assert "x" * 100 not in said and len(said) < 1200, len(said)
        assert page.query_selector(".cjw-panel .cjw-error"), "the message sits with the controls"
        assert page.query_selector_all(".cjw-chart svg.marks")
        assert not [t for t in ERROR_TEXT if t in page.inner_text("body")]
        _shot(page, "journey_explorer-bad-url-390")
    finally:
        page.context.close()
