"""Where one viewer's tab spends its time and CPU before the first chart (issue #16, ADR 0004).

Starts `cjw serve` (through `benchmarks/viewers.py`'s `start`, a small pool by default: the tab's
cost does not depend on the pool's size) and, `--runs` times, opens the dashboard in a **new chromium**
(a cold cache, as a viewer's first visit) and reads, up to the first chart:

- `cpu`: the chromium process tree's CPU (psutil, by process type: renderer, browser, GPU, network),
  from the navigation to the first chart (the browser's own start is left out), and the page's own
  `Performance.getMetrics` (script, layout, style recalculation); `drawn_cpu_per_s`: what the page
  keeps spending once drawn (5 s);
- `JS by file`: where the page's JavaScript ran (CDP `Profiler`, sampled every 0.5 ms; self time per
  script file: voila.js's chunks, the JupyterChart bundle (Vega, Vega-Lite, vega-embed), anywidget,
  ...), printed for the last run;
- the network: requests and bytes by type (document, script, stylesheet, font, ...), and the
  websocket: bytes received, messages, the widget states and the Vega-Lite specs in them (bytes,
  rows of inline data);
- times from the navigation start: the page's HTML complete, DOMContentLoaded, the first view, the
  first chart, every chart drawn.

A reference beside it: the same figures from `--baseline FILE` (a run saved with `--save FILE`).

    nice -n 5 .venv/bin/python benchmarks/tab.py --db /tmp/v_work/demo20k/db.duckdb --runs 3 --save /tmp/tab-before.json
    nice -n 5 .venv/bin/python benchmarks/tab.py --db ... --runs 3 --baseline /tmp/tab-before.json --label after
"""

from __future__ import annotations

import asyncio
import argparse
import collections
import json
import os
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from viewers import FLAGS, start, tree_cpu, wait_for_pool, pool_size  # noqa: E402

MARKS = """() => {
  window.__cjwT = {};
  const mark = (k) => { if (!(k in window.__cjwT)) window.__cjwT[k] = performance.now(); };
  const look = () => {
    if (document.querySelector('.cjw-view')) mark('first view');
    const drawn = document.querySelectorAll('svg.marks, .vega-embed canvas').length;
    if (drawn) mark('first chart');
    if (drawn && drawn >= document.querySelectorAll('.cjw-chart').length) window.__cjwT['all charts'] = performance.now();
  };
  document.addEventListener('DOMContentLoaded', () => mark('DOMContentLoaded'));
  new MutationObserver(look).observe(document, {subtree: true, childList: true});
}"""
STEPS = ("html", "DOMContentLoaded", "first view", "first chart", "all charts")


def kind(proc: psutil.Process) -> str:
    """A chromium process's role, from its `--type=` flag (none: the browser process)."""
    try:
        flags = [a for a in proc.cmdline() if a.startswith("--type=")]
    except psutil.Error:
        return "gone"
    if not flags:
        return "browser"
    t = flags[0].split("=", 1)[1]
    if t == "utility":
        return "utility"
    return {"gpu-process": "gpu"}.get(t, t)


def cpu_by_kind(root: int) -> dict[str, float]:
    out: dict[str, float] = collections.Counter()
    try:
        procs = psutil.Process(root).children(recursive=True)
    except psutil.Error:
        return {}
    for p in procs:
        try:
            t = p.cpu_times()
            out[kind(p)] += t.user + t.system
        except psutil.Error:
            pass
    return out


def script_name(url: str) -> str:
    if not url:
        return "(native, GC, idle)"
    name = url.rsplit("/", 1)[-1].split("?")[0]
    if name.startswith("jupyterchart") or "jupyterchart" in url:
        return "jupyterchart bundle (Vega)"
    if "anywidget" in url:
        return "anywidget"
    if "jupyter-widgets" in url or "jupyterlab-manager" in url:
        return "ipywidgets manager"
    if name.endswith(".voila.js") or name in ("voila.js", "voila-style.js"):
        return f"voila: {name}"
    return name or url[:60]


def js_by_file(profile: dict) -> dict[str, float]:
    """Self time (s) per script file of a CDP `Profiler` profile."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    out: dict[str, float] = collections.Counter()
    deltas = profile.get("timeDeltas", [])
    for sample, dt in zip(profile.get("samples", []), deltas[1:] + [0]):
        frame = nodes[sample]["callFrame"]
        fn = frame.get("functionName", "")
        label = fn if fn in ("(idle)", "(program)", "(garbage collector)") else script_name(frame.get("url", ""))
        out[label] += dt / 1e6
    return out


def decode_v1(raw: bytes) -> dict:
    """A kernel message in the browser's websocket protocol (`v1.kernel.websocket.jupyter.org`): a count
    of offsets, the offsets (little-endian 64-bit), then channel, header, parent header, metadata, content."""
    n = int.from_bytes(raw[:8], "little")
    offsets = [int.from_bytes(raw[8 * (i + 1):8 * (i + 2)], "little") for i in range(n)] + [len(raw)]
    parts = [raw[offsets[i]:offsets[i + 1]] for i in range(n)]
    header, _parent, _meta, content = (json.loads(x) for x in parts[1:5])
    return {"header": header, "content": content}


def spec_figures(states: dict) -> dict:
    """Bytes of the widget states, the Vega-Lite specs in them and their inline data rows."""
    specs = [s["spec"] for s in states.values() if isinstance(s, dict) and isinstance(s.get("spec"), dict)]
    rows = sum(len(v) for s in specs for v in (s.get("datasets") or {}).values() if isinstance(v, list))
    return {"states": len(states), "state_bytes": len(json.dumps(states)), "specs": len(specs),
            "spec_bytes": sum(len(json.dumps(s)) for s in specs), "data_rows": rows}


async def visit(chromium: str, url: str, timeout: float) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=FLAGS)
        root = next(c.pid for c in psutil.Process(os.getpid()).children(recursive=True)
                    if "chrom" in c.name() and not any(a.startswith("--type=") for a in c.cmdline()))
        ctx = await browser.new_context(viewport={"width": 1440, "height": 1800})
        await ctx.add_init_script(f"({MARKS})();")
        page = await ctx.new_page()
        cdp = await ctx.new_cdp_session(page)
        await cdp.send("Performance.enable")
        await cdp.send("Profiler.enable")
        await cdp.send("Profiler.setSamplingInterval", {"interval": 500})
        net: dict[str, list] = collections.defaultdict(lambda: [0, 0])
        ws = {"bytes": 0, "messages": 0, "states": {}}
        pending, files = [], []

        def finished(req):
            async def size():
                try:
                    sizes = await req.sizes()
                    net[req.resource_type][0] += 1
                    net[req.resource_type][1] += sizes["responseBodySize"]
                    files.append((sizes["responseBodySize"], req.url.split("?")[0]))
                except Exception:   # noqa: BLE001  a request the page closed
                    pass
            pending.append(asyncio.ensure_future(size()))

        def frame(payload):
            ws["bytes"] += len(payload)
            ws["messages"] += 1
            try:
                msg = decode_v1(payload) if isinstance(payload, bytes) else json.loads(payload)
            except Exception:   # noqa: BLE001  a frame that is not a Jupyter message
                return
            content = msg.get("content", {})
            data = content.get("data") or {}
            if data.get("method") == "update_states":
                ws["states"].update({k: v.get("state", {}) for k, v in data["states"].items()})
            elif msg.get("header", {}).get("msg_type") == "comm_open" and "state" in data:
                ws["states"][content.get("comm_id")] = data["state"]

        page.on("requestfinished", finished)
        page.on("websocket", lambda w: w.on("framereceived", frame))
        cpu0, t0 = cpu_by_kind(root), time.monotonic()
        await cdp.send("Profiler.start")
        await page.goto(url, wait_until="commit", timeout=timeout * 1000)
        await page.wait_for_function("() => window.__cjwT && 'first chart' in window.__cjwT", timeout=timeout * 1000,
                                     polling=50)
        cpu1 = cpu_by_kind(root)
        profile = (await cdp.send("Profiler.stop"))["profile"]
        metrics = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
        try:   # the other charts, for the record (not in the CPU figures)
            await page.wait_for_function("() => 'all charts' in window.__cjwT", timeout=30_000, polling=100)
        except Exception:   # noqa: BLE001
            pass
        settled = sum(cpu_by_kind(root).values())   # a drawn page left open: what it keeps spending
        await asyncio.sleep(5)
        idle = (sum(cpu_by_kind(root).values()) - settled) / 5
        marks = await page.evaluate("() => window.__cjwT")
        marks["html"] = await page.evaluate("() => performance.getEntriesByType('navigation')[0].responseEnd")
        await asyncio.gather(*pending)
        await page.close(run_before_unload=True)
        await asyncio.sleep(0.5)
        await browser.close()
    cpu = {k: cpu1.get(k, 0) - cpu0.get(k, 0) for k in cpu1}
    return {"cpu": round(sum(cpu.values()), 2), "cpu_by_kind": {k: round(v, 2) for k, v in cpu.items() if v > 0.005},
            "script_s": metrics.get("ScriptDuration"), "layout_s": metrics.get("LayoutDuration"),
            "style_s": metrics.get("RecalcStyleDuration"), "task_s": metrics.get("TaskDuration"),
            "wall": time.monotonic() - t0, "drawn_cpu_per_s": round(idle, 3),
            **{k: marks[k] / 1000 if k in marks else float("nan") for k in STEPS},
            "net": {k: v for k, v in sorted(net.items())}, "ws_bytes": ws["bytes"], "ws_messages": ws["messages"],
            **spec_figures(ws["states"]), "js": dict(js_by_file(profile).most_common(14)),
            "files": sorted(files, reverse=True)}


def summary(runs: list[dict]) -> dict:
    keys = ("cpu", "drawn_cpu_per_s", "script_s", "layout_s", "style_s", *STEPS, "ws_bytes", "state_bytes", "spec_bytes", "data_rows")
    out = {k: statistics.median(r.get(k, float("nan")) for r in runs) for k in keys}
    out["requests"] = statistics.median(sum(n for n, _ in r["net"].values()) for r in runs)
    out["bytes"] = statistics.median(sum(b for _, b in r["net"].values()) for r in runs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="demo/cjworkbench.duckdb")
    ap.add_argument("--dashboard", default="overview.ipynb")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--serve", default='{"pool": 2, "max_kernels": 6}', help="JSON keyword arguments for dashboards.serve")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--save", help="write the runs to this JSON file")
    ap.add_argument("--baseline", help="a file from --save, printed beside this run")
    ap.add_argument("--label", default="this run")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or sys.exit("chromium is not installed (apt-get install -y chromium)")
    db, options = Path(args.db).resolve(), json.loads(args.serve)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    server, base, lines = start(db, options)
    runs = []
    try:
        pool = pool_size(lines)
        for i in range(args.runs):
            wait_for_pool(server, lines, pool)   # a waiting kernel for each visit, the server idle
            load, cpu0 = os.getloadavg()[0], tree_cpu(server.pid)
            r = asyncio.run(visit(chromium, f"{base}/voila/render/{args.dashboard}", args.timeout))
            r.update(load=load, server_cpu=tree_cpu(server.pid) - cpu0)
            runs.append(r)
            print(json.dumps({k: v for k, v in r.items() if k not in ("js", "files")}), flush=True)
            time.sleep(2)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    if args.save:
        Path(args.save).write_text(json.dumps({"label": args.label, "runs": runs}, indent=1))
    columns = {}
    if args.baseline and Path(args.baseline).is_file():
        base_runs = json.loads(Path(args.baseline).read_text())
        columns[base_runs["label"]] = summary(base_runs["runs"])
    columns[args.label] = summary(runs)
    print(f"\nOne viewer's tab, median of {len(runs)} (new chromium each; {args.dashboard}; load "
          + ", ".join(f"{r['load']:.1f}" for r in runs) + "):")
    print(f"  {'':<22}" + "".join(f"{n:>20}" for n in columns))
    for k in columns[args.label]:
        print(f"  {k:<22}" + "".join(f"{c[k]:>20,.2f}" for c in columns.values()))
    print("\n  where the page's JavaScript ran (last run, s of self time):")
    for name, s in runs[-1]["js"].items():
        print(f"    {name:<40} {s:6.2f}")
    print("  requests by type (last run):", json.dumps(runs[-1]["net"]))
    folders = collections.Counter()
    for size, url in runs[-1]["files"]:
        folders[url.split("/static/")[0].split("://", 1)[-1].split("/", 1)[-1]] += size
    print("  bytes by folder (last run):", json.dumps(dict(folders.most_common())))
    print("  largest files (last run):", "; ".join(f"{u.rsplit('/', 1)[-1]} {b / 1e3:.0f} kB"
                                                  for b, u in runs[-1]["files"][:12]))
    print("  CPU s by chromium process (last run):", json.dumps(runs[-1]["cpu_by_kind"]))


if __name__ == "__main__":
    main()
