"""`cjw serve` for many viewers (issue #16, ADR 0004), in Debian's chromium through Playwright: no
request from a dashboard page leaves the machine, a viewer beyond the cap sees the busy page that
retries by itself and gets in once a place is free, and closing a tab ends its kernel at once (the
shutdown beacon), not after the idle timeout; a preheated kernel, which rehearsed the default view
before any viewer came, draws the figures of the viewer's own URL. One server: a pool of one
preheated overview kernel under a cap of two kernels, on the 5,000-customer demo."""

from __future__ import annotations

import importlib.util
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import ibis
import pytest

from .test_browser import LOAD_MS, browser, pytestmark  # noqa: F401 (one chromium set-up, one fixture)
IDLE = 600          # culling would take 10 minutes: a kernel gone sooner was ended by its tab's beacon


@pytest.fixture(scope="module")
def server(demo_db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "cjworkbench.cli", "serve", "--db", str(demo_db[0]), "--port",
                             str(port), "--no-browser", "--max-sessions", "2", "--pool", "1", "--idle-timeout",
                             str(IDLE)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    log = lambda: "".join(lines)   # noqa: E731
    deadline = time.monotonic() + LOAD_MS / 1000
    # up, and the pool's kernel started (it rehearses the default view before it waits for a viewer)
    while "Kernel pool of overview.ipynb is filled" not in log():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("cjw serve did not start its pool:\n" + log()[-4000:])
        time.sleep(0.5)
    yield f"http://127.0.0.1:{port}", log
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log()[-3000:]


def _open(browser, url: str, requests: list | None = None, failed: list | None = None):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1800})
    page = ctx.new_page()
    if requests is not None:
        page.on("request", lambda r: requests.append(r.url))
    if failed is not None:
        page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(url, wait_until="commit", timeout=LOAD_MS)
    return page


def test_no_request_leaves_the_machine_and_a_closed_tab_ends_its_kernel(server, browser):
    base, log = server
    requests, failed = [], []
    page = _open(browser, f"{base}/voila/render/overview.ipynb", requests, failed)
    page.wait_for_selector("svg.marks", timeout=LOAD_MS)   # the first chart, from the preheated kernel
    page.wait_for_load_state("networkidle", timeout=LOAD_MS)
    outside = [u for u in requests if not u.startswith((base, "data:", "blob:"))]
    assert requests and not outside, outside
    assert not failed, failed
    kernel = re.search(r'"kernelId": "([0-9a-f-]{36})"', page.content())[1]
    assert f"Kernel shutdown: {kernel}" not in log()
    page.close(run_before_unload=True)   # as a person closes the tab: Voilà's page sends its beacon
    page.context.close()
    deadline = time.monotonic() + 30
    while f"Kernel shutdown: {kernel}" not in log():
        assert time.monotonic() < deadline, "the closed tab's kernel lives on:\n" + log()[-3000:]
        time.sleep(0.25)
    assert "'_xsrf' argument missing" not in log()


def test_a_viewer_beyond_the_cap_sees_a_busy_page_that_gets_in_by_itself(server, browser):
    base, log = server
    refills = log().count("Kernel pool of overview.ipynb is filled")
    first = _open(browser, f"{base}/voila/render/overview.ipynb")   # the pool's kernel; the pool refills: 2 of 2
    first.wait_for_selector("svg.marks", timeout=LOAD_MS)
    deadline = time.monotonic() + LOAD_MS / 1000
    while log().count("Kernel pool of overview.ipynb is filled") == refills:
        assert time.monotonic() < deadline, log()[-3000:]
        time.sleep(0.25)
    requests, failed = [], []
    second = _open(browser, f"{base}/voila/render/index.ipynb", requests, failed)
    second.wait_for_selector(".cjw-busy", timeout=LOAD_MS)
    text = second.inner_text("body")
    assert "all 2 sessions are in use" in text and "tries again by itself" in text and "Traceback" not in text
    assert not [u for u in requests if not u.startswith((base, "data:", "blob:"))]
    first.close(run_before_unload=True)   # a place frees up: the busy page's own retry gets in
    first.context.close()
    second.wait_for_selector("a[href$='.ipynb']", timeout=LOAD_MS)
    assert "busy" not in second.inner_text("body").lower()
    second.context.close()


def _viewers():
    """benchmarks/viewers.py, whose `first_chart` is a viewer at the protocol level (what voila.js asks)."""
    spec = importlib.util.spec_from_file_location("viewers", Path(__file__).parents[1] / "benchmarks" / "viewers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hotspot_counts(states: dict) -> list[int]:
    """n_journeys of the rows the hotspots chart draws, from the page's widget states: exactly one such
    chart (a widget the rehearsal made and left open would be a second, with the default view's rows)."""
    charts = [[row["n_journeys"] for row in rows] for state in states.values()
              for rows in (state.get("spec") or {}).get("datasets", {}).values() if rows and "hours_lost" in rows[0]]
    assert len(charts) == 1, f"{len(charts)} hotspots charts in the widget states"
    return charts[0]


def test_a_preheated_kernel_draws_the_figures_of_the_viewers_own_url(server, demo_db):
    import cjworkbench as cjw
    from cjworkbench.scope import Filters

    base, log = server
    first_chart = _viewers().first_chart
    con = ibis.duckdb.connect(str(demo_db[0]), read_only=True)
    segments = con.table("customers").segment.value_counts().execute()
    segment = segments.sort_values("segment_count")["segment"].iloc[0]   # the smallest: furthest from all

    def expected(filters):
        t = cjw.hotspots_table(con, filters=filters, top=12)
        return [int(n) for n in t["n_journeys"] if n >= 10]   # the dashboard hides groups under k_min = 10

    views = {}
    for name, query in (("segment", f"?segment={segment}"), ("all", "")):
        # each takes the pool's kernel, which ran the default view before this viewer came
        used, filled = log().count("Using pre-heated kernel"), log().count("Kernel pool of overview.ipynb is filled")
        got = first_chart(f"{base}/voila/render/overview.ipynb{query}", timeout=LOAD_MS / 1000)
        assert got["chart"] < float("inf") and log().count("Using pre-heated kernel") == used + 1, log()[-3000:]
        views[name] = got
        urllib.request.urlopen(urllib.request.Request(f"{base}/voila/api/shutdown/{got['kernel']}", data=b"",
                                                      method="POST"), timeout=60).close()
        deadline = time.monotonic() + LOAD_MS / 1000   # the pool refills before the next viewer
        while name != "all" and log().count("Kernel pool of overview.ipynb is filled") == filled:
            assert time.monotonic() < deadline, log()[-3000:]
            time.sleep(0.25)
    chosen = [s for s in views["segment"]["states"].values() if s.get("description") == "Segment"]
    assert [s["_options_labels"][s["index"]] for s in chosen] == [segment]
    assert _hotspot_counts(views["segment"]["states"]) == expected(Filters(segment=segment))
    assert _hotspot_counts(views["all"]["states"]) == expected(Filters())
    assert expected(Filters(segment=segment)) != expected(Filters())
    assert all(len(s.get("_esm", "")) < 2000 for s in views["all"]["states"].values())   # the bundle: served once


def test_the_default_pool_and_cap_come_from_free_memory():
    """ADR 0004: twenty viewers at once need twenty waiting kernels (~0.18 GB each waiting, measured
    PSS); the defaults give the kernels at most 6 GB and half of the free memory."""
    from cjworkbench.db import MEMORY_ENV
    from cjworkbench.serving import KERNEL_DUCKDB, kernel_memory, sizes

    assert sizes(available=20 * 10**9) == (20, 24)    # a 24 GB machine, 20 GB free: 24 x 0.25 GB = 6 GB
    assert sizes(available=4 * 10**9) == (4, 8)       # a laptop with 4 GB free: 2 GB for the kernels
    assert sizes(available=10**8) == (1, 2)           # never below one waiting kernel under a cap of two
    assert sizes(pool=1, available=20 * 10**9) == (1, 24) and sizes(max_kernels=2, available=20 * 10**9) == (1, 2)
    assert sizes(pool=30, available=20 * 10**9) == (30, 31) and sizes(pool=0, max_kernels=8) == (0, 8)
    assert kernel_memory({}) == {MEMORY_ENV: KERNEL_DUCKDB} and KERNEL_DUCKDB == "1GB"   # not a quarter of RAM each
    assert kernel_memory({MEMORY_ENV: "3GB"}) == {MEMORY_ENV: "3GB"}                      # the user's own limit wins


def test_a_pool_refill_waits_for_the_crowds_pages_but_never_for_a_waiting_viewer(monkeypatch):
    """ADR 0004: a refill's kernel start (~2.5 CPU-s) waits while pages of viewers who took pool kernels
    are still loading (not connected to their kernel) and `REFILL_QUIET` s after the last connected,
    unless no ready kernel is left (then a viewer may be waiting for it)."""
    import asyncio

    from cjworkbench import kernels
    from cjworkbench.kernels import CappedKernelManager

    monkeypatch.setattr(kernels, "REFILL_QUIET", 0.5)   # 3 s in service

    async def scenario() -> tuple[bool, float, float]:
        loop = asyncio.get_running_loop()
        manager = CappedKernelManager(max_kernels=4, stagger=0.0)
        ready = loop.create_future()
        ready.set_result({"kernel_id": "k1"})
        manager._pools = {"overview.ipynb": [ready]}
        manager._kernel_connections["k2"] = 0
        manager._loading["k2"] = time.monotonic()     # a viewer took k2; its page still loads
        refill = asyncio.ensure_future(manager._after_pages("overview.ipynb"))
        await asyncio.sleep(0.8)
        held = not refill.done()
        manager.notify_connect("k2")                   # its page connected: it draws now
        t0 = loop.time()
        await asyncio.wait_for(refill, 3)
        after_page = loop.time() - t0
        manager._pools["overview.ipynb"] = []          # no ready kernel left while another page loads
        manager._loading["k3"] = time.monotonic()
        t0 = loop.time()
        await asyncio.wait_for(manager._after_pages("overview.ipynb"), 2)
        return held, after_page, loop.time() - t0

    import concurrent.futures as cf

    with cf.ThreadPoolExecutor(1) as pool:   # its own event loop: this module's chromium fixture runs one here
        held, after_page, no_ready_wait = pool.submit(asyncio.run, scenario()).result(timeout=30)
    assert held
    assert 0.4 <= after_page < 2
    assert no_ready_wait < 0.2
