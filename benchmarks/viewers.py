"""Many viewers opening the same dashboard at once (issue #16: 20 within 10 s, one within 3 s).

For each crowd size (default 1, 5, 10, 20) and each client (`--client`) the script starts a fresh
`cjw serve` (through `dashboards.serve(...)` with the options given as JSON), waits until its
preheated pool is ready and opens the crowd at once, with one of two clients:

- `chromium`: one chromium (Debian's, through Playwright; one browser context per viewer, so one
  Voilà session each); `first chart` is the first Vega chart drawn (`svg.marks` or a Vega canvas),
  from the page's own navigation start;
- `protocol`: what the browser does on the wire for the first chart, in a thread per viewer of a
  few MB (`first_chart`): GET the page with its query, read the kernel id in it, open that kernel's
  channels websocket, open the `jupyter.widget.control` comm and ask for the widget states, as
  voila.js does; `first chart` is the arrival of the states carrying the first Vega-Lite spec. It
  measures the server alone: a browser's own work (~3.7 CPU-s per page) happens on the viewer's
  machine, not the server's, and twenty chromiums on the server's two cores measure mostly
  themselves. The chromium figure minus this one is the browser's render time.

In both:
- a viewer first answered "busy" (503; the page retries by itself) counts in `busy`; its time to
  the chart after the retry still counts from the first navigation, up to `--timeout`.

It also counts the CPU seconds the server with its kernels, and the client (chromium, or this
process's threads), spent until the last first chart (a figure a loaded machine changes little), samples the total memory of the kernel
processes (sum of RSS of every `ipykernel_launcher` under the server) every 0.5 s (peak), closes
every tab the way a person does (the page's `beforeunload` runs, so Voilà's shutdown beacon is
sent) and counts the kernels still alive 60 s later (`--linger`), beyond the idle pool. Memory: the
kernels' PSS (each shared page counted once: the sum of RSS counts every kernel's ~0.09 GB of shared
libraries again) when the pool is idle and right after the last first chart, and the RSS peak. One
table is printed at the end. Times depend on the machine's load: the load average is printed with
them. Without `--serve` options the server sizes its pool and cap from free memory (`serving.sizes`,
what `make demo` gets); the table says which it chose.

    nice -n 5 .venv/bin/python benchmarks/viewers.py --db demo/cjworkbench.duckdb
    # ADR 0004's session-5 table (the defaults `make demo` serves; the 20,000-customer demo):
    nice -n 5 .venv/bin/python benchmarks/viewers.py --db demo/cjworkbench.duckdb --client protocol --crowds 1,5,10,20
    nice -n 5 .venv/bin/python benchmarks/viewers.py --db demo/cjworkbench.duckdb --client protocol --crowds 1,20,1,20
    nice -n 5 .venv/bin/python benchmarks/viewers.py --db demo/cjworkbench.duckdb --client chromium --crowds 1,5
    nice -n 5 .venv/bin/python benchmarks/viewers.py --db ... --client both --crowds 1,5 --serve '{"pool": 6}'
    nice -n 5 .venv/bin/python benchmarks/viewers.py --db ... --crowds 5,20 --serve '{"pool": 0, "max_kernels": 24}'
    # session 6 (ADR 0004): the server at full priority, only the browsers niced; a pinned variant
    .venv/bin/python benchmarks/viewers.py --db demo/cjworkbench.duckdb --client both --crowds 1,5,10,20 --client-nice 5
    .venv/bin/python benchmarks/viewers.py --db ... --crowds 20 --client-cpus 1 --server-cpus 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
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


def tree_cpu(pid: int, named: str = "") -> float:
    """CPU seconds (user + system) used so far by process `pid` and everything under it (only the
    processes whose name contains `named`, e.g. "chrom": chromium without Playwright's driver)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        try:
            if named and named not in p.name():
                continue
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def start(db: Path, options: dict, cpus: set[int] | None = None) -> tuple[subprocess.Popen, str, list[str]]:
    """A `cjw serve` at this process's priority, on `cpus` (default: every core), and its address."""
    port = free_port()
    everywhere = cpus or set(range(os.cpu_count() or 1))
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(db), str(port), json.dumps(options)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, everywhere))
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    deadline = time.monotonic() + 180
    while not any(line.startswith("Serving ") for line in lines):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("cjw serve did not start:\n" + "".join(lines[-30:]))
        time.sleep(0.2)
    return proc, f"http://127.0.0.1:{port}", lines


def pool_size(lines: list[str]) -> int:
    """The pool the server chose (its start message: "... (20 overview kernels kept ready) ...")."""
    found = [re.search(r"\((\d+) overview kernels kept ready\)", line) for line in lines]
    return next((int(m[1]) for m in found if m), 0)


def kernel_memory(server, kind: str = "pss") -> float:
    """GB of memory the kernels under `server` use: "pss" counts each shared page once, "rss" counts
    the libraries every kernel maps (~0.09 GB each) once per kernel."""
    total = 0
    for p in kernels(server):
        try:
            total += getattr(p.memory_full_info() if kind == "pss" else p.memory_info(), kind)
        except psutil.Error:
            pass
    return total / 1e9


def wait_for_pool(server, lines: list[str], pool: int, timeout: float = 600) -> float:
    """Seconds until the server is ready for a crowd: with a pool, until its last kernel started
    (one every `serving.STAGGER` s), `pool` kernels are alive and they have rehearsed."""
    t0 = time.monotonic()
    while pool > 0 and time.monotonic() - t0 < timeout:
        if any(f"is filled with {pool} kernel" in line for line in lines) and len(kernels(server)) >= pool:
            break
        time.sleep(0.5)
    time.sleep(3)
    quiet = 0   # then until the kernels have run up to the viewer's request: the server tree idle for 3 s
    while quiet < 3 and time.monotonic() - t0 < timeout:
        before = tree_cpu(server.pid)
        time.sleep(1)
        quiet = quiet + 1 if tree_cpu(server.pid) - before < 0.05 else 0
    return time.monotonic() - t0


def _message(session: str, kind: str, content: dict, metadata: dict | None = None) -> str:
    """A Jupyter message for the kernel channels websocket (its JSON form, as jupyterlab's services send)."""
    import uuid

    return json.dumps({"header": {"msg_id": uuid.uuid4().hex, "msg_type": kind, "session": session, "username": "",
                                  "date": "", "version": "5.3"}, "parent_header": {}, "metadata": metadata or {},
                       "content": content, "channel": "shell", "buffers": []})


def _decode(raw) -> dict:
    """A message from the channels websocket: JSON text, or the binary form (offsets, JSON, buffers)."""
    if isinstance(raw, str):
        return json.loads(raw)
    import struct

    n = struct.unpack("!I", raw[:4])[0]
    offsets = struct.unpack(f"!{n}I", raw[4:4 + 4 * n])
    return json.loads(raw[offsets[0]:offsets[1] if n > 1 else None])


def first_chart(url: str, timeout: float = 120, retry: tuple[float, float] = (5, 10)) -> dict:
    """One viewer, at the protocol level: GET `url` (a dashboard page with its query), then ask its
    kernel for the widget states as voila.js does, until they carry a Vega-Lite spec. A busy page
    (503) is retried after a random wait in `retry` seconds, as the busy page does. Returns seconds
    from the start to the page's end (`page`) and to the states (`chart`, inf if none came within
    `timeout`), `busy`, the kernel id, the bytes received, and the states ({model id: state})."""
    import random
    import urllib.error
    import urllib.request

    t0, busy, out = time.monotonic(), False, {"page": float("inf"), "chart": float("inf"), "bytes": 0, "states": {}}
    while time.monotonic() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                page = response.read().decode("utf-8", "replace")
            break
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
            busy = True
            time.sleep(random.uniform(*retry))
    else:
        return {**out, "busy": busy, "kernel": None}
    out.update(page=time.monotonic() - t0, busy=busy, bytes=len(page))
    kernel = out["kernel"] = re.search(r'"kernelId": "([0-9a-f-]{36})"', page)[1]
    out["states"], n = widget_states(re.match(r"https?://[^/]+", url)[0], kernel, timeout - (time.monotonic() - t0))
    out["bytes"] += n
    if any("spec" in state for state in out["states"].values()):
        out["chart"] = time.monotonic() - t0
    return out


def widget_states(base: str, kernel: str, timeout: float = 120) -> tuple[dict, int]:
    """Ask kernel `kernel` of the server at `base` (http://host:port) for its widget states as voila.js
    does: open its channels websocket, open the `jupyter.widget.control` comm, `request_states`.
    Returns ({model id: state}, bytes received); ({}, n) when no answer came within `timeout`."""
    import uuid

    import websocket

    t0, got, states = time.monotonic(), 0, {}
    session, comm = uuid.uuid4().hex, str(uuid.uuid4())
    ws = websocket.create_connection(f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel}/channels?session_id={session}",
                                     timeout=max(1.0, timeout))
    try:
        ws.send(_message(session, "kernel_info_request", {}))
        ws.send(_message(session, "comm_open", {"comm_id": comm, "target_name": "jupyter.widget.control", "data": {}},
                         {"version": "1.0.0"}))   # ipywidgets' control comm, protocol 1.x
        ws.send(_message(session, "comm_msg", {"comm_id": comm, "data": {"method": "request_states"}}))
        while time.monotonic() - t0 < timeout:
            raw = ws.recv()
            got += len(raw)
            msg = _decode(raw)
            data = msg.get("content", {}).get("data") or {}
            if msg["header"]["msg_type"] == "comm_msg" and data.get("method") == "update_states":
                states = {k: v.get("state", {}) for k, v in data["states"].items()}
                break
    finally:
        ws.close()
    return states, got


def protocol_crowd(url: str, n: int, timeout: float, server_pid: int, drawn=lambda: None, nice: int = 0,
                   cpus: set[int] | None = None) -> tuple[list[float], int, dict]:
    """`n` `first_chart` viewers at once (a thread each, at niceness `nice` on `cpus`); `drawn()`; then
    each closes its tab (Voilà's beacon)."""
    import urllib.request

    results: list[dict] = [{} for _ in range(n)]

    def one(i: int) -> None:
        if nice:   # Linux: a thread's own niceness
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        if cpus:
            os.sched_setaffinity(0, cpus)
        try:
            results[i] = first_chart(url, timeout)
        except Exception as e:  # noqa: BLE001  counted as no chart
            results[i] = {"chart": float("inf"), "busy": False, "kernel": None,
                          "error": f"{e!r} after {time.monotonic() - t0:.1f} s"}

    cpu0, me0, t0 = tree_cpu(server_pid), time.process_time(), time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = {"server": tree_cpu(server_pid) - cpu0, "browser": time.process_time() - me0,
           "seconds": time.monotonic() - t0, "load": os.getloadavg()[0]}
    drawn()
    base = re.match(r"https?://[^/]+", url)[0]
    for r in results:
        if r.get("error"):
            print("viewer failed:", r["error"], file=sys.stderr)
        if r.get("kernel"):
            try:
                urllib.request.urlopen(urllib.request.Request(f"{base}/voila/api/shutdown/{r['kernel']}", data=b"",
                                                              method="POST"), timeout=30).close()
            except OSError:
                pass
    return [r["chart"] for r in results], sum(bool(r.get("busy")) for r in results), cpu


def client_command(chromium: str, folder: Path, nice: int = 0, cpus: set[int] | None = None) -> str:
    """`chromium`, or a wrapper that starts it at niceness `nice` on `cpus` (every process it starts
    inherits both), so the browsers cannot take the server's core or priority (`--client-cpus`)."""
    if not nice and not cpus:
        return chromium
    wrapper = folder / "chromium"
    pin = f"taskset -c {','.join(map(str, sorted(cpus)))} " if cpus else ""
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {nice} {pin}{chromium} "$@"\n')
    wrapper.chmod(0o700)
    return str(wrapper)


async def crowd(url: str, n: int, timeout: float, chromium: str, server_pid: int,
                drawn=lambda: None) -> tuple[list[float], int, dict]:
    from playwright.async_api import async_playwright

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
                                             polling=1000)   # the page stamps the time itself; polling costs CPU
            except Exception:
                return float("inf"), 503 in statuses
            # after a busy page's retry the time still counts from the first navigation (t0 below)
            t = await page.evaluate("() => performance.timeOrigin + window.__cjw.chart")
            return t / 1000, 503 in statuses

        me = os.getpid()
        cpu0 = {"server": tree_cpu(server_pid), "browser": tree_cpu(me, "chrom"), "harness": tree_cpu(me)}
        t0, m0 = time.time(), time.monotonic()
        results = await asyncio.gather(*(one(pg) for pg in pages))
        drawing = tree_cpu(me, "chrom") - cpu0["browser"]
        cpu = {"server": tree_cpu(server_pid) - cpu0["server"], "browser": drawing,
               "harness": tree_cpu(me) - cpu0["harness"] - drawing,
               "seconds": time.monotonic() - m0, "load": os.getloadavg()[0]}
        firsts = [r[0] - t0 for r in results]
        busy = sum(r[1] for r in results)
        drawn()
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
    ap.add_argument("--client", choices=("chromium", "protocol", "both"), default="chromium",
                    help="chromium pages, protocol-level viewers (the server alone), or both in one table")
    ap.add_argument("--query", default="", help="the page's query, e.g. 'segment=Premium'")
    ap.add_argument("--client-nice", type=int, default=0,
                    help="niceness of the client only (chromium, or the protocol viewers' threads); run the script "
                         "itself without `nice` so the server keeps its priority against other jobs")
    ap.add_argument("--client-cpus", default="", help="cores for the client, e.g. '1' (taskset): a fair row where the "
                                                      "browsers cannot take the server's core; see --server-cpus")
    ap.add_argument("--server-cpus", default="", help="cores for the server and its kernels, e.g. '0'")
    args = ap.parse_args()
    clients = ("protocol", "chromium") if args.client == "both" else (args.client,)
    cpus = {k: {int(c) for c in v.split(",")} if v else None
            for k, v in (("client", args.client_cpus), ("server", args.server_cpus))}
    chromium = ""
    if "chromium" in clients:
        chromium = shutil.which("chromium") or sys.exit("chromium is not installed (apt-get install -y chromium)")
        import tempfile

        chromium = client_command(chromium, Path(tempfile.mkdtemp(prefix="cjw-viewers-")), args.client_nice,
                                  cpus["client"])
    db, options = Path(args.db).resolve(), json.loads(args.serve)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    rows = []
    for n, client in [(int(x), c) for x in args.crowds.split(",") for c in clients]:
        server, base, lines = start(db, options, cpus["server"])
        try:
            pool = pool_size(lines)
            warm = wait_for_pool(server, lines, pool)
            idle_gb, idle_k, idle_pss = kernel_memory(server, "rss"), len(kernels(server)), kernel_memory(server)
            load = os.getloadavg()[0]
            peak = [0.0, 0]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], kernel_memory(server, "rss"))
                    peak[1] = max(peak[1], len(kernels(server)))
                    time.sleep(0.5)

            threading.Thread(target=sample, daemon=True).start()
            url = f"{base}/voila/render/{args.dashboard}" + (f"?{args.query}" if args.query else "")
            pss = []   # the kernels' PSS once every viewer has its first chart, before the tabs close
            if client == "protocol":
                firsts, busy, cpu = protocol_crowd(url, n, args.timeout, server.pid, lambda: pss.append(kernel_memory(server)),
                                                   args.client_nice, cpus["client"])
            else:
                firsts, busy, cpu = asyncio.run(crowd(url, n, args.timeout, chromium, server.pid,
                                                      lambda: pss.append(kernel_memory(server))))
            done.set()
            drawn_pss, max_sessions = pss[0], re.search(r"At most (\d+) sessions", "".join(lines))[1]
            if float("inf") in firsts:   # what the server said, to see why
                print("".join(lines[-60:]), file=sys.stderr, flush=True)
            closed = time.monotonic()
            time.sleep(max(0.0, args.linger - (time.monotonic() - closed)))
            left = len(kernels(server)) - idle_k
            drawn = [f for f in firsts if f != float("inf")]
            rows.append({"viewers": n, "client": client, "busy": busy, "p50": statistics.median(firsts), "p95": quantile(firsts, 0.95),
                         "max": max(firsts), "failed": len(firsts) - len(drawn), "idle_gb": idle_gb,
                         "peak_gb": peak[0], "peak_kernels": peak[1], "left": left, "pool": idle_k,
                         "warm_s": warm, "load": load, "idle_pss_gb": idle_pss, "drawn_pss_gb": drawn_pss,
                         "max_sessions": int(max_sessions), "pool_size": pool,
                         "cpu_server": cpu["server"], "cpu_browser": cpu["browser"],
                         "crowd_s": cpu["seconds"], "cpu_harness": cpu.get("harness", 0.0),
                         "load_end": cpu["load"], "client_nice": args.client_nice, "client_cpus": args.client_cpus,
                         "server_cpus": args.server_cpus, "server_nice": os.getpriority(os.PRIO_PROCESS, 0)})
            print(json.dumps(rows[-1]), flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    where = (f"; client at nice {args.client_nice}" + (f" on cores {args.client_cpus}" if args.client_cpus else "")
             + (f", server on cores {args.server_cpus}" if args.server_cpus else "")
             + f"; server at nice {os.getpriority(os.PRIO_PROCESS, 0)}")
    print(f"\n{args.label or 'cjw serve'} {json.dumps(options)} on {db.name}, dashboard {args.dashboard}{where}")
    print(f"{'viewers':>7} {'client':>8} {'first chart p50':>16} {'p95':>7} {'max':>7} {'no chart':>8} {'busy':>5} "
          f"{'pool/cap':>8} {'kernel PSS idle -> drawn':>25} {'RSS peak':>9} {'kernels peak':>12} "
          f"{f'kernels {args.linger:.0f}s after close':>24} {'load start/end':>14} "
          f"{'CPU s server+kernels / client':>31}")
    for r in rows:
        print(f"{r['viewers']:>7} {r['client']:>8} {r['p50']:>14.2f} s {r['p95']:>5.2f} s {r['max']:>5.2f} s {r['failed']:>8} "
              f"{r['busy']:>5} {r['pool_size']:>4}/{r['max_sessions']:<3} {r['idle_pss_gb']:>12.2f} -> {r['drawn_pss_gb']:.2f} GB "
              f"{r['peak_gb']:>6.2f} GB {r['peak_kernels']:>12} {r['left']:>24} {r['load']:>6.1f}/{r['load_end']:<6.1f} "
              f"{r['cpu_server']:>18.1f} / {r['cpu_browser']:.1f}")
    print("(2 cores shared with other jobs: the load average at each crowd's start and last first chart is in its\n"
          " column. CPU s: the CPU time the server with its kernels, and the client (chromium, or the protocol\n"
          " viewers' threads), used until the last first chart; on 2 cores a crowd cannot see its last first chart\n"
          " sooner than their sum / 2)")


if __name__ == "__main__":
    main()
