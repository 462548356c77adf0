"""The Voilà dashboards in a real browser: Python Playwright driving Debian's chromium (never a
downloaded browser), against one `cjw serve` on the 5,000-customer demo for the whole module.

Checks: the landing page lists every dashboard; each dashboard renders every chart (SVG) with no
error or traceback text; changing a shared filter and a view's own control redraws the chart;
an impossible date range shows a friendly message; a bad URL value is one short message; ten
simultaneous sessions on one read-only database all render; `cjw serve` stops cleanly on SIGINT.
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed; `make system` "
                                "(as root) installs it with apt-get install -y chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
NAMES = [p.stem for p in NOTEBOOKS]
ARTIFACTS = ROOT / "tests" / "artifacts"
LOAD_MS = 300_000  # a cold kernel takes 10-20 s on 2 idle cores; far more while other jobs run
ERROR_TEXT = ("Traceback", "There was an error when executing cell", "Error:", "Exception")
DONE = """(n) => {
  const views = [...document.querySelectorAll('.cjw-view')];
  return views.length >= n && views.every(v => v.querySelector('.cjw-chart svg.marks, .cjw-table table, .cjw-error'));
}"""


def _views(path: Path) -> int:
    """How many outputs the notebook shows (one `.cjw-view` each)."""
    return len(re.findall(r"^controls\.show(?:_table)?\(", path.read_text(), flags=re.M))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`cjw serve` as a subprocess; its output is collected so a failure can show it."""

    def __init__(self, db: Path, *args: str, env: dict | None = None):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "cjworkbench.cli", "serve", "--db", str(db), "--port",
                                      str(self.port), "--no-browser", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     start_new_session=True)
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()
        deadline = time.monotonic() + 180
        while not any(line.startswith("Serving ") for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("cjw serve did not start:\n" + "".join(self.lines[-40:]))
            time.sleep(0.2)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()


@pytest.fixture(scope="module")
def server(demo_db):
    # every dashboard stays open, plus the landing page and ten simultaneous sessions of one
    # dashboard: more sessions than the default cap (the cap itself: tests/test_faults_serve.py), and a
    # pool of two preheated overview kernels (ADR 0004; tests/test_serve_viewers.py)
    srv = Server(demo_db[0], "--max-sessions", str(len(NOTEBOOKS) + 16), "--pool", "2")
    yield srv
    assert srv.stop(signal.SIGTERM) == 0, srv.log[-3000:]  # SIGTERM stops it cleanly (SIGINT: the last test)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _open(browser, url: str):
    """A new session (its own browser context, so its own kernel) on `url`, not yet rendered."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 3200})
    page = ctx.new_page()
    page.goto(url, wait_until="commit", timeout=LOAD_MS)
    return page


def _rendered(page, n_views: int):
    page.wait_for_function(DONE, arg=n_views, timeout=LOAD_MS, polling=250)
    page.wait_for_load_state("load", timeout=LOAD_MS)


def _chart_svgs(page) -> list[str]:
    return page.eval_on_selector_all(".cjw-chart", "els => els.map(e => (e.querySelector('svg.marks') || {}).outerHTML || '')")


def _text(page) -> str:
    return page.inner_text("body")


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")  # test artifacts, never committed
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.fixture(scope="module")
def dashboards(server, browser):
    """Every dashboard opened at once (one kernel each) and rendered: name -> page."""
    pages = {name: _open(browser, f"{server.base}/voila/render/{name}.ipynb") for name in NAMES}
    for path in NOTEBOOKS:
        try:
            _rendered(pages[path.stem], _views(path))
        except sync_api.TimeoutError:
            _screenshot(pages[path.stem], f"{path.stem}-timeout")
            pytest.fail(f"{path.stem} did not render in time; server log:\n{server.log[-4000:]}")
    yield pages
    for page in pages.values():
        page.context.close()


def test_landing_page_lists_every_dashboard(server, browser):
    page = _open(browser, f"{server.base}/voila/render/index.ipynb")
    page.wait_for_selector("a[href$='.ipynb']", timeout=LOAD_MS)
    links = page.eval_on_selector_all("a[href$='.ipynb']", "els => els.map(e => [e.getAttribute('href'), e.innerText])")
    assert sorted(href for href, _ in links) == sorted(f"{n}.ipynb" for n in NAMES)
    for path in NOTEBOOKS:
        title = path.read_text().split("\n# # ", 1)[1].splitlines()[0]
        assert [path.stem + ".ipynb", title] in [list(x) for x in links]
    _screenshot(page, "index")
    page.click("a[href='overview.ipynb']")
    page.wait_for_url("**/voila/render/overview.ipynb", timeout=LOAD_MS)
    page.context.close()


def test_the_planted_hand_off_gap_reads_right_on_the_dashboard(dashboards, demo_db):
    """E1 as a stakeholder sees it (issue #14): the default hand-off page's app → phone gap is drawn
    with the planted sign, its interval holding the planted -20 points."""
    from .test_planted_default_path import gaps_in_svg

    chart = [s for s in _chart_svgs(dashboards["funnels_and_gaps"]) if "With minus without" in s]
    assert len(chart) == 1
    points, low, high = gaps_in_svg(chart[0])["App → Phone"]   # channels in words
    planted = demo_db[1]["effects"]["E1"]["planted"]["completion_gap"] * 100
    assert points < 0 and high < 0 and low <= planted <= high, (points, low, high)


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_renders_its_charts(dashboards, name):
    page = dashboards[name]
    shot = _screenshot(page, name)
    print(f"screenshot: {shot}")
    svgs = _chart_svgs(page)
    n_charts = (ROOT / "notebooks" / f"{name}.py").read_text().count("controls.show(")
    assert len(svgs) == n_charts and all("<svg" in s and ("<path" in s or "<rect" in s) for s in svgs)
    text = _text(page)
    assert not [t for t in ERROR_TEXT if t in text], text[:2000]
    assert not page.query_selector_all(".cjw-error"), [e.inner_text() for e in page.query_selector_all(".cjw-error")]
    stderr = page.query_selector_all("[data-mime-type='application/vnd.jupyter.stderr']")
    assert not stderr, [e.inner_text() for e in stderr]  # no log or warning text on screen
    content = page.content()
    assert "import cjworkbench" not in content  # no code on screen (Voilà strips sources)
    assert not re.search(r"\bC\d{6}\b", content) and "@example." not in content  # no raw personal data


def test_the_database_stays_readable_while_dashboards_run(dashboards, demo_db):
    import duckdb

    with duckdb.connect(str(demo_db[0]), read_only=True) as con:  # a read-write kernel would hold a lock
        assert con.execute("select count(*) from customers").fetchone()[0] == 5000


def _changes(page, chart_index: int, act, timeout: float = 120, until=None) -> tuple[str, str]:
    """(before, after) SVG of the chart at `chart_index` once `act()` changed it (and `until(after)` holds:
    a redraw replaces the chart widget, so for a moment the index can point at a neighbour)."""
    before = _chart_svgs(page)[chart_index]
    act()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        svgs = _chart_svgs(page)
        after = svgs[chart_index] if chart_index < len(svgs) else ""
        if after and after != before and "<text" in after and (until is None or until(after)):
            return before, after
        time.sleep(0.1)
    pytest.fail("the chart did not change")


def _digest(svg: str) -> str:
    return hashlib.sha1(svg.encode()).hexdigest()


def _kernel_charts(server, page) -> list[str]:
    """Digests of the chart specs the page's kernel holds now (asked as voila.js asks, on a second
    connection): tells a kernel that never redrew from a page that did not draw what it was sent."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("viewers", ROOT / "benchmarks" / "viewers.py")
    viewers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(viewers)
    kernel = re.search(r'"kernelId": "([0-9a-f-]{36})"', page.content())[1]
    states, _ = viewers.widget_states(server.base, kernel, timeout=60)
    return sorted(_digest(json.dumps(s["spec"], sort_keys=True)) for s in states.values() if s.get("spec"))


def test_a_shared_filter_redraws_the_chart(server, dashboards):
    page = dashboards["overview"]
    # the caption under the chart (its method folded under "How is this calculated?": textContent, not innerText)
    caption = "() => document.querySelector('.cjw-view .cjw-chart').parentElement.textContent"
    assert "Business" not in page.evaluate(caption)
    segment = page.locator(".cjw-panel select").first
    held = _kernel_charts(server, page)
    try:
        before, after = _changes(page, 0, lambda: segment.select_option("Business"), timeout=60)
    except pytest.fail.Exception:   # seen twice in full runs (this pool kernel's page; a plain kernel's on funnels)
        _screenshot(page, "overview-filter-unchanged")
        # the kernel answers only once it has handled the change: which side lost it, instead of trying again
        now = _kernel_charts(server, page)
        if now == held:
            pytest.fail(f"the kernel handled the segment change but its charts did not change; server log:\n"
                        f"{server.log[-3000:]}")
        try:
            before, after = _changes(page, 0, lambda: None, timeout=30)   # a slow page may still be drawing
        except pytest.fail.Exception:
            pytest.fail("the kernel redrew its charts for the new segment but the page did not draw them")
    assert _digest(before) != _digest(after)
    page.wait_for_function(caption + ".includes('Business')", timeout=30_000)  # the caption under it says so


def test_a_views_own_control_redraws_its_chart(dashboards):
    page = dashboards["funnels_and_gaps"]
    which = [i for i, s in enumerate(_chart_svgs(page)) if "Switches of channel" in s]
    assert which, "the switch matrix is on the page"
    select = page.locator(".cjw-view select").first  # 'Switch of', shown with the first view that uses it
    try:
        _, after = _changes(page, which[0], lambda: select.select_option("Device"), timeout=90,
                            until=lambda svg: "Switches of device" in svg)
    except pytest.fail.Exception:
        # seen once in a full run (never alone): the change did not reach the chart; keep the page for
        # diagnosis and change the control again, which must redraw it
        _screenshot(page, "funnels_and_gaps-no-redraw")
        select.select_option("Department")
        _, after = _changes(page, which[0], lambda: select.select_option("Device"),
                            until=lambda svg: "Switches of device" in svg)
    assert "Switches of device" in after


def test_an_impossible_date_range_is_a_friendly_message(dashboards):
    page = dashboards["journey_explorer"]
    dates = page.locator(".cjw-panel input[type=date]")
    dates.nth(0).fill("2026-05-01")
    dates.nth(1).fill("2026-01-31")
    page.wait_for_selector(".cjw-panel .cjw-error", timeout=60_000)
    message = page.inner_text(".cjw-panel .cjw-error")
    assert "The start date 2026-05-01 is after the end date 2026-01-31" in message
    assert not [t for t in ERROR_TEXT if t in _text(page)]
    _screenshot(page, "journey_explorer-error")
    dates.nth(1).fill("2026-06-30")  # fixing the range clears the message and redraws
    page.wait_for_function("() => !document.querySelector('.cjw-panel .cjw-error')", timeout=120_000)


def test_a_bad_url_value_is_one_short_message_and_the_page_renders(server, browser):
    path = ROOT / "notebooks" / "overview.py"
    page = _open(browser, f"{server.base}/voila/render/overview.ipynb?renderer=evil&segment=" + "x" * 2000)
    try:
        _rendered(page, _views(path))
        errors = [e.inner_text() for e in page.query_selector_all(".cjw-error")]
        assert len(errors) == 1 and "Unknown renderer 'evil'" in errors[0] and "x" * 100 not in errors[0], errors
        assert all("<svg" in s for s in _chart_svgs(page)) and not [t for t in ERROR_TEXT if t in _text(page)]
        _screenshot(page, "overview-bad-url")
    finally:
        page.context.close()


def test_ten_simultaneous_sessions_all_render(server, browser):
    path = ROOT / "notebooks" / "overview.py"
    pages = [_open(browser, f"{server.base}/voila/render/overview.ipynb") for _ in range(10)]
    try:
        for i, page in enumerate(pages):
            _rendered(page, _views(path))
            assert all("<svg" in s for s in _chart_svgs(page)) and not page.query_selector_all(".cjw-error")
            assert not [t for t in ERROR_TEXT if t in _text(page)]
        _screenshot(pages[-1], "overview-session-10")
    finally:
        for page in pages:
            page.context.close()
    assert "Could not set lock" not in server.log and "Conflicting lock" not in server.log


def _processes_with(env_item: bytes) -> list[int]:
    """PIDs whose environment holds `env_item` (Voilà and the kernels it started inherit CJW_DB)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and env_item in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_serve_stops_cleanly_on_sigint(demo_db, tmp_path):
    import urllib.request

    db = tmp_path / "copy.duckdb"  # its own file, so only this server's processes carry its path
    shutil.copy(demo_db[0], db)
    shutil.copytree(demo_db[0].parent / "designed", tmp_path / "designed")
    srv = Server(db, "--pool", "1")
    assert f"at {srv.base}/voila/render/index.ipynb" in srv.log
    with urllib.request.urlopen(f"{srv.base}/voila/render/overview.ipynb", timeout=LOAD_MS / 1000) as r:
        assert r.status == 200 and b"Journey overview" in r.read()  # a kernel ran the dashboard
    ours = b"CJW_DB=" + str(db).encode()
    assert len(_processes_with(ours)) >= 2  # Voilà and at least one kernel
    assert srv.stop(signal.SIGINT, timeout=60) == 0
    assert _processes_with(ours) == []  # Voilà and its kernels are gone with it
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", srv.port)) != 0
