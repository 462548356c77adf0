"""Widget change -> redrawn chart in a real browser, on a served dashboard (target: p95 < 300 ms warm).

Starts `cjw serve` on the database (default: the 20,000-customer demo of `make demo`), opens the
journey explorer in Debian's chromium through Playwright, warms it up, and then times, in the page,
from the moment a control changes to the first animation frame that shows the new process map
(complete SVG, different from the old one). Between changes it waits until every view on the page
has settled, so each change starts from an idle kernel. Three kinds of change, for each renderer:

- `chart control`: the map's own "Transitions shown" slider (the table is cached; only the chart
  is rebuilt and drawn);
- `filter, seen before`: the Segment dropdown cycling through values already shown (cached tables);
- `filter, new query`: the From date set to a date not used before (every view queries DuckDB).

    .venv/bin/python benchmarks/redraw.py                               # demo/cjworkbench.duckdb
    .venv/bin/python benchmarks/redraw.py --db other.duckdb --changes 30 --renderers svg
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARM = """() => {
  if (!window.__cjwObserver) {
    window.__cjwLast = performance.now();
    window.__cjwObserver = new MutationObserver(() => { window.__cjwLast = performance.now(); });
    window.__cjwObserver.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  }
  const el = document.querySelector('.cjw-chart');
  const before = (el.querySelector('svg.marks') || {}).outerHTML;
  window.__cjw = {t0: performance.now(), ms: null};
  const check = () => {
    const svg = el.querySelector('svg.marks');
    if (svg && svg.outerHTML !== before && svg.querySelectorAll('text').length > 3) {
      window.__cjw.ms = performance.now() - window.__cjw.t0;
    } else if (performance.now() - window.__cjw.t0 < 60000) requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
}"""
SETTLED = "(quiet) => performance.now() - window.__cjwLast > quiet"
VERBOSE = False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "cjworkbench.cli", "serve", "--db", str(db), "--port", str(port),
                             "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    for line in proc.stdout:
        if line.startswith("Serving "):
            return proc
    raise SystemExit(f"cjw serve did not start (exit code {proc.wait()})")


def timed(page, action, quiet_ms: int = 1200) -> float:
    """Milliseconds from `action` to the redrawn first chart; then wait until the page is quiet."""
    page.evaluate(ARM)
    action()
    page.wait_for_function("() => window.__cjw.ms !== null", timeout=120_000, polling=50)
    ms = page.evaluate("() => window.__cjw.ms")
    page.wait_for_function(SETTLED, arg=quiet_ms, timeout=300_000, polling=100)
    return ms


def scenarios(page, n: int):
    """(name, list of actions): n measured changes of each kind (warm-up changes come first)."""
    slider = page.locator(".cjw-view .noUi-handle").first
    keys = ["ArrowRight", "ArrowLeft"]

    def key(k):
        return lambda: (slider.focus(), page.keyboard.press(k))

    segment = page.locator(".cjw-panel select").first
    values = segment.evaluate("s => [...s.options].map(o => o.value)")
    start = page.locator(".cjw-panel input[type=date]").first
    first = dt.date(2024, 11, 15)
    dates = [(first + dt.timedelta(days=7 * i)).isoformat() for i in range(n + 3)]
    yield "chart control", [key(keys[i % 2]) for i in range(n + 3)]
    yield "filter, seen before", [(lambda v=values[(i + 1) % len(values)]: segment.select_option(v))
                                  for i in range(len(values) + n)]  # starts at (all): one round fills the cache
    yield "filter, new query", [(lambda d=d: start.fill(d)) for d in dates]


def run(base: str, renderer: str, n: int, browser) -> dict:
    page = browser.new_page(viewport={"width": 1200, "height": 3000})
    t = time.perf_counter()
    page.goto(f"{base}/voila/render/journey_explorer.ipynb?renderer={renderer}", wait_until="commit")
    page.wait_for_function("() => document.querySelectorAll('.cjw-view .cjw-chart svg.marks').length >= 4",
                           timeout=600_000)
    load = time.perf_counter() - t
    page.evaluate(ARM)  # installs the observer
    page.wait_for_function(SETTLED, arg=1500, timeout=300_000)
    out = {"page load s": load}
    for name, actions in scenarios(page, n):
        warm = len(actions) - n
        times = []
        for action in actions:
            times.append(timed(page, action))
            if VERBOSE:
                print(f"    {name}: {times[-1]:.0f} ms", file=sys.stderr, flush=True)
        out[name] = times[warm:]
        if name == "filter, new query":  # back to all dates for the next renderer's page
            page.locator(".cjw-panel input[type=date]").first.fill("")
    page.close()
    return out


def summary(times: list[float]) -> str:
    s = sorted(times)
    p95 = s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]
    return f"p50 {statistics.median(s):6.0f} ms   p95 {p95:6.0f} ms   max {s[-1]:6.0f} ms   (n={len(s)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="demo/cjworkbench.duckdb")
    ap.add_argument("--changes", type=int, default=30)
    ap.add_argument("--renderers", default="jupyter,svg")
    ap.add_argument("--verbose", action="store_true", help="print every change's time")
    args = ap.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    db = Path(args.db).resolve()
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("chromium is not installed (apt-get install -y chromium)")
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        n_cust, n_ev = (con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("customers", "events"))
    port = free_port()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out, too
    server = start_server(db, port)
    print(f"database {db}: {n_cust:,} customers, {n_ev:,} events; load average {os.getloadavg()[0]:.1f} at start")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
            for renderer in args.renderers.split(","):
                result = run(f"http://127.0.0.1:{port}", renderer, args.changes, browser)
                print(f"\nrenderer {renderer!r}: page load (cold kernel) {result.pop('page load s'):.1f} s")
                for name, times in result.items():
                    print(f"  {name:<22} {summary(times)}")
            browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end (2 cores; figures grow when other jobs run)")


if __name__ == "__main__":
    main()
