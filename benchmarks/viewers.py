"""Many viewers opening the same dashboard at once, in a real browser (issue #16: 20 within 10 s).

For each crowd size (default 1, 5, 10, 20) the script starts a fresh `cjw serve` (through
`dashboards.serve(...)` with the options given as JSON), waits until its preheated pool is ready,
opens the crowd at once in one chromium (Debian's, through Playwright; one browser context per
viewer, so one Voilà session each) and reads in every page, from its own navigation start:

- `first chart`: the first Vega chart drawn (`svg.marks` or a Vega canvas);
- a viewer first answered "busy" (503; the page retries by itself) counts in `busy`; its time to
  the chart after the retry still counts from the first navigation, up to `--timeout`.

It also counts the CPU seconds the server with its kernels, and chromium, spent until the last
first chart (a figure a loaded machine changes little), samples the total memory of the kernel
processes (sum of RSS of every `ipykernel_launcher` under the server) every 0.5 s (peak), closes
every tab the way a person does (the page's `beforeunload` runs, so Voilà's shutdown beacon is
sent) and counts the kernels still alive 60 s later (`--linger`), beyond the idle pool. One table
is printed at the end. Times depend on the machine's load: the load average is printed with them.

    nice -n 5 .venv/bin/python benchmarks/viewers.py --db demo/cjworkbench.duckdb
    nice -n 5 .venv/bin/python benchmarks/viewers.py --db ... --crowds 5,20 --serve '{"pool": 0, "max_kernels": 24}'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from playwright.async_api import async_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WATCH = """() => {
  window.__cjw = {};
  const look = () => {
    if (!('chart' in window.__cjw) && document.querySelector('svg.marks, .vega-embed canvas'))
      window.__cjw.chart = performance.now();
  };
  new MutationObserver(look).observe(document, {subtree: true, childList: true});
}"""
SERVE = ("import json, sys; from cjworkbench.dashboards import serve; "
         "sys.exit(serve(sys.argv[1], port=int(sys.argv[2]), open_browser=False, **json.loads(sys.argv[3])))")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kernels(server: subprocess.Popen) -> list[psutil.Process]:
    """The kernel processes under `server` (Voilà starts them as its children)."""
    try:
        children = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for p in children:
        try:
            if "ipykernel_launcher" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            pass
    return out


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and everything under it."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def kernel_rss(server) -> float:
    total = 0
    for p in kernels(server):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 1e9


def start(db: Path, options: dict) -> tuple[subprocess.Popen, str, list[str]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(db), str(port), json.dumps(options)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    deadline = time.monotonic() + 180
    while not any(line.startswith("Serving ") for line in lines):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("cjw serve did not start:\n" + "".join(lines[-30:]))
        time.sleep(0.2)
    return proc, f"http://127.0.0.1:{port}", lines


def wait_for_pool(server, lines: list[str], pool: int, timeout: float = 600) -> float:
    """Seconds until the server is ready for a crowd: with a pool, until the pool is filled, the
    server's warm-up render is done and `pool` kernels are idle (each refilled kernel started)."""
    t0 = time.monotonic()
    while pool > 0 and time.monotonic() - t0 < timeout:
        warmed = any("Kernel shutdown:" in line for line in lines)   # the warm-up render ends its kernel
        if warmed and any("is filled with" in line for line in lines) and len(kernels(server)) >= pool:
            break
        time.sleep(0.5)
    time.sleep(10 if pool > 0 else 3)   # the last refilled kernel runs up to the viewer's request
    return time.monotonic() - t0


async def crowd(url: str, n: int, timeout: float, chromium: str, server_pid: int) -> tuple[list[float], int, dict]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=FLAGS)
        contexts = [await browser.new_context(viewport={"width": 1440, "height": 1800}) for _ in range(n)]
        pages = []
        for ctx in contexts:
            await ctx.add_init_script(f"({WATCH})();")
            pages.append(await ctx.new_page())

        async def one(page) -> tuple[float, bool]:
            statuses = []
            page.on("response", lambda r: "/voila/render/" in r.url and statuses.append(r.status))
            await page.goto(url, wait_until="commit", timeout=timeout * 1000)
            try:
                await page.wait_for_function("() => window.__cjw && 'chart' in window.__cjw", timeout=timeout * 1000,
                                             polling=100)
            except Exception:
                return float("inf"), 503 in statuses
            # after a busy page's retry the time still counts from the first navigation (t0 below)
            t = await page.evaluate("() => performance.timeOrigin + window.__cjw.chart")
            return t / 1000, 503 in statuses

        me = os.getpid()
        cpu0 = {"server": tree_cpu(server_pid), "browser": tree_cpu(me)}
        t0 = time.time()
        results = await asyncio.gather(*(one(pg) for pg in pages))
        cpu = {"server": tree_cpu(server_pid) - cpu0["server"], "browser": tree_cpu(me) - cpu0["browser"]}
        firsts = [r[0] - t0 for r in results]
        busy = sum(r[1] for r in results)
        for pg in pages:   # a person closing the tab: beforeunload runs (Voilà's shutdown beacon)
            try:
                await pg.close(run_before_unload=True)
            except Exception:
                pass
        await asyncio.sleep(1)
        await browser.close()
    return firsts, busy, cpu


def quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="demo/cjworkbench.duckdb")
    ap.add_argument("--dashboard", default="overview.ipynb")
    ap.add_argument("--crowds", default="1,5,10,20", help="comma-separated numbers of simultaneous viewers")
    ap.add_argument("--serve", default="{}", help="JSON keyword arguments for dashboards.serve")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--linger", type=float, default=60, help="seconds after the tabs close to count kernels")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or sys.exit("chromium is not installed (apt-get install -y chromium)")
    db, options = Path(args.db).resolve(), json.loads(args.serve)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    rows = []
    for n in [int(x) for x in args.crowds.split(",")]:
        server, base, lines = start(db, options)
        try:
            from cjworkbench.serving import POOL

            warm = wait_for_pool(server, lines, options.get("pool", POOL))
            idle_gb, idle_k = kernel_rss(server), len(kernels(server))
            load = os.getloadavg()[0]
            peak = [0.0, 0]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], kernel_rss(server))
                    peak[1] = max(peak[1], len(kernels(server)))
                    time.sleep(0.5)

            threading.Thread(target=sample, daemon=True).start()
            firsts, busy, cpu = asyncio.run(crowd(f"{base}/voila/render/{args.dashboard}", n, args.timeout, chromium,
                                                  server.pid))
            done.set()
            closed = time.monotonic()
            time.sleep(max(0.0, args.linger - (time.monotonic() - closed)))
            left = len(kernels(server)) - idle_k
            drawn = [f for f in firsts if f != float("inf")]
            rows.append({"viewers": n, "busy": busy, "p50": statistics.median(firsts), "p95": quantile(firsts, 0.95),
                         "max": max(firsts), "failed": len(firsts) - len(drawn), "idle_gb": idle_gb,
                         "peak_gb": peak[0], "peak_kernels": peak[1], "left": left, "pool": idle_k,
                         "warm_s": warm, "load": load,
                         "cpu_server": cpu["server"], "cpu_browser": cpu["browser"]})
            print(json.dumps(rows[-1]), flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    print(f"\n{args.label or 'cjw serve'} {json.dumps(options)} on {db.name}, dashboard {args.dashboard}")
    print(f"{'viewers':>7} {'first chart p50':>16} {'p95':>7} {'max':>7} {'no chart':>8} {'busy':>5} {'kernel RSS peak':>16} "
          f"{'kernels peak':>12} {'pool idle':>10} {f'kernels {args.linger:.0f}s after close':>24} {'load':>5} "
          f"{'CPU s server+kernels / browser':>31}")
    for r in rows:
        print(f"{r['viewers']:>7} {r['p50']:>14.1f} s {r['p95']:>5.1f} s {r['max']:>5.1f} s {r['failed']:>8} {r['busy']:>5} "
              f"{r['peak_gb']:>13.2f} GB {r['peak_kernels']:>12} {r['pool']:>4} ({r['idle_gb']:.1f} GB) "
              f"{r['left']:>24} {r['load']:>5.1f} {r['cpu_server']:>18.1f} / {r['cpu_browser']:.1f}")
    print("(2 cores shared with other jobs: the load average at each start is in its column. CPU s: the CPU time\n"
          " the server with its kernels, and chromium, used until the last first chart; on 2 idle cores a crowd\n"
          " cannot see its last first chart sooner than their sum / 2)")


if __name__ == "__main__":
    main()
