"""Navigation to the first rendered chart of the overview dashboard, in a real browser (aim: < 3 s).

Starts `cjw serve` on the database (default: the 20,000-customer demo of `make demo`), opens
`overview.ipynb` in Debian's chromium through Playwright, each time in a new browser context (so a
new Voilà session), and reads in the page, from `performance.now()` (0 = navigation start):

- `html`: the first byte of the page from Voilà;
- `first view`: the first dashboard output (`.cjw-view`) in the DOM;
- `first chart`: the first complete chart (`.cjw-chart svg.marks` with its text);
- `all views`: every output of the notebook drawn (charts, tables, or a message).

The first visit after the server starts is reported apart (`cold`): with preheated kernels it
still finds the pool warming up. Between visits the script waits until the previous session's
page is closed, so each visit starts from an idle server. `--baseline FILE` prints a saved run
(`--save FILE`) side by side with this one.

    .venv/bin/python benchmarks/first_chart.py --db /tmp/demo/cjworkbench.duckdb
    .venv/bin/python benchmarks/first_chart.py --db ... --visits 5 --save after.json --baseline before.json
    .venv/bin/python benchmarks/first_chart.py --db ... --preheat --label preheated --baseline after.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
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
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "overview.py"
WATCH = """() => {
  window.__cjwT = {};
  const mark = (k) => { if (!(k in window.__cjwT)) window.__cjwT[k] = performance.now(); };
  const look = () => {
    if (document.querySelector('.cjw-view')) mark('first view');
    const chart = (v) => [...v.querySelectorAll('.cjw-chart svg.marks')].some(s => s.querySelectorAll('text').length > 3);
    const views = [...document.querySelectorAll('.cjw-view')];
    if (views.some(chart)) mark('first chart');
    const said = (v) => v.querySelector('.cjw-table table, .cjw-error')
      || [...v.querySelectorAll('.cjw-message')].some(m => m.innerText.trim());
    if (views.filter(v => chart(v) || said(v)).length >= window.__cjwViews)
      mark('all views');
  };
  new MutationObserver(look).observe(document, {subtree: true, childList: true, attributes: true});
}"""
STEPS = ("html", "first view", "first chart", "all views")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVE_PREHEATED = ("import sys; from cjworkbench.dashboards import serve; "
                   "sys.exit(serve(sys.argv[1], port=int(sys.argv[2]), open_browser=False, pool=1))")


def start_server(db: Path, port: int, extra: list[str], preheat: bool = False) -> subprocess.Popen:
    command = ([sys.executable, "-c", SERVE_PREHEATED, str(db), str(port)] if preheat else
               [sys.executable, "-m", "cjworkbench.cli", "serve", "--db", str(db), "--port", str(port),
                "--no-browser", "--pool", "0", *extra])
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    for line in proc.stdout:
        if line.startswith("Serving "):
            return proc
    raise SystemExit(f"cjw serve did not start (exit code {proc.wait()})")


def visit(browser, url: str, n_views: int) -> dict[str, float]:
    """Seconds from navigation start to each step, in a new session."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 3200})
    ctx.add_init_script(f"window.__cjwViews = {n_views}; ({WATCH})();")
    page = ctx.new_page()
    page.goto(url, wait_until="commit", timeout=300_000)
    page.wait_for_function("() => window.__cjwT && 'all views' in window.__cjwT", timeout=600_000, polling=100)
    marks = page.evaluate("() => window.__cjwT")
    marks["html"] = page.evaluate("() => performance.getEntriesByType('navigation')[0].responseStart")
    ctx.close()
    return {k: marks[k] / 1000 if k in marks else float("nan") for k in STEPS}   # nan: never drawn


def summary(runs: list[dict]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in STEPS}


def table(columns: dict[str, dict]) -> str:
    names = list(columns)
    lines = [f"  {'step':<14}" + "".join(f"{n:>28}" for n in names)]
    for k in STEPS:
        lines.append(f"  {k:<14}" + "".join(f"{columns[n][k]:>26.2f} s" for n in names))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="demo/cjworkbench.duckdb")
    ap.add_argument("--visits", type=int, default=5, help="measured visits after the cold one")
    ap.add_argument("--serve-args", default="", help="extra `cjw serve` flags, e.g. \"--max-sessions 4\"")
    ap.add_argument("--preheat", action="store_true", help="serve with `dashboards.serve(pool=1)` (default: --pool 0)")
    ap.add_argument("--gap", type=float, default=15, help="seconds between visits (a preheated pool refills)")
    ap.add_argument("--save", help="write this run's figures to a JSON file")
    ap.add_argument("--baseline", help="a JSON file from --save, printed beside this run")
    ap.add_argument("--label", default="this run")
    args = ap.parse_args()
    db = Path(args.db).resolve()
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("chromium is not installed (apt-get install -y chromium)")
    n_views = len(re.findall(r"^controls\.show(?:_table)?\(", NOTEBOOK.read_text(), flags=re.M))
    port = free_port()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out, too
    load0 = os.getloadavg()[0]
    server = start_server(db, port, shlex.split(args.serve_args), args.preheat)
    url = f"http://127.0.0.1:{port}/voila/render/overview.ipynb"
    print(f"database {db}; cjw serve {args.serve_args}{' (preheated)' if args.preheat else ''}; "
          f"load average {load0:.1f} at start")
    runs = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
            time.sleep(args.gap)  # the server's own start-up (and a preheated pool) settles, as for a first viewer
            cold = visit(browser, url, n_views)
            print("cold  " + "  ".join(f"{k} {v:.2f} s" for k, v in cold.items()), flush=True)
            for i in range(args.visits):
                time.sleep(args.gap)  # a new viewer arrives a little later (a pool refills in the meantime)
                runs.append(visit(browser, url, n_views))
                print(f"visit {i + 1} " + "  ".join(f"{k} {v:.2f} s" for k, v in runs[-1].items()), flush=True)
            browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    result = {"label": args.label, "serve_args": args.serve_args, "preheat": args.preheat, "load": [load0, os.getloadavg()[0]],
              "cold": cold, "median": summary(runs), "runs": runs}
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1))
    columns = {}
    if args.baseline and Path(args.baseline).is_file():
        base = json.loads(Path(args.baseline).read_text())
        columns[f"{base['label']} (median)"] = base["median"]
    columns[f"{args.label} (median)"] = result["median"]
    print(f"\nmedian of {len(runs)} visits, seconds from navigation start:\n{table(columns)}")
    print(f"load average {result['load'][1]:.1f} at the end (2 cores; figures grow when other jobs run)")


if __name__ == "__main__":
    main()
