"""Ingest and analysis at scale on generated events: 1 M / 10 M / 100 M rows, a one-day refresh,
and the warm filtered journey analyses on the largest database.

Each step runs in its own process so its peak RSS is measured alone. The reference is a bare
DuckDB `CREATE TABLE AS SELECT * FROM read_csv(all_varchar)` / `read_parquet` of the same file:
the floor any loader built on DuckDB's readers can reach; the ratio shows what validation,
rejects, duplicates, business dates, the derived journey tables and the atomic swap cost on top.

The data: 50 events per customer in 7 sessions (journeys), 80 % of sessions follow a checkout
path with a random drop-off and 20 % are random clicks over 8 pages (so variants are many but
not all unique), 0.1 % exact duplicate lines, a customers file with 4 segments. The refresh adds
one day of events (1 % of the size) for random existing customers as a new file beside the first,
so `cjw ingest` loads only that file and rebuilds the derived rows of the customers it touches.
The analyses are `variants_table`, `transitions_table` and a 5-step `funnel_table` filtered to one
segment, as the dashboards call them: one cold call (the first segment on a fresh connection), then
the median of three warm calls, one per other segment (a viewer picking another segment).

    .venv/bin/python benchmarks/ingest.py                                   # 1 M and 10 M
    nice -n 5 .venv/bin/python benchmarks/ingest.py --sizes 1000000 10000000 100000000 \
        --data /tmp/cjw-bench                                               # keep the generated files
    .venv/bin/python benchmarks/ingest.py --sizes 1000000 --formats csv csv.gz parquet

Where the time goes (10 M events, profiled statement by statement with `benchmarks/ingest_profile.py`;
see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

_PAGES = "['home','product','cart','checkout_start','checkout_payment','checkout_confirmed','search','help']"
_PATH = "['home','search','product','product','cart','checkout_start','checkout_payment','checkout_confirmed']"
FUNNEL = ["product", "cart", "checkout_start", "checkout_payment", "checkout_confirmed"]
SEGMENT = "Premium"
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"   # a benchmark-only pseudonym key


def _events_sql(rows: str, cust: str, session: str, pos: str, start: str) -> str:
    """Events for `rows` (a SQL relation with column i): customer number `cust`, session label
    `session`, position in the session `pos`, time `start` + about 3 s per event."""
    return f"""SELECT 'C' || lpad(({cust})::VARCHAR, 8, '0') AS cust, 'S' || ({session}) AS session,
        strftime({start} + to_seconds(i * 3 + (i % 7)), '%Y-%m-%d %H:%M:%S') AS ts,
        CASE WHEN hash({session}) % 5 = 0 THEN {_PAGES}[1 + (hash(i) % 8)::INT]
             WHEN {pos} < 3 + hash({session}) % 6 THEN {_PATH}[1 + ({pos})::INT] ELSE 'help' END AS page,
        ['D','M','A'][1 + (i % 3)::INT] AS dev,
        CASE WHEN i % 10 = 0 THEN round((hash(i) % 20000) / 100, 2)::VARCHAR END AS amount,
        'Mozilla/5.0 agent ' || (i % 97)::VARCHAR AS user_agent FROM {rows}"""


def make_events(folder: Path, n: int, formats=("csv",)) -> dict[str, Path]:
    """Write n events (with ~0.1 % duplicate lines) in each format, the customers file, and one
    more day of events (n / 100) for the refresh, unless they are already there."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {fmt: folder / f"events-000.{fmt}" for fmt in formats}
    paths["customers"] = folder / "customers.csv"
    paths["day"] = folder / "day" / "events-001.csv"
    if all(p.exists() for p in paths.values()):
        return paths
    # streamed from the query straight into each file: 100 M rows never sit in memory
    con = duckdb.connect(config={"preserve_insertion_order": True, "memory_limit": "2GB",
                                 "temp_directory": str(folder / ".gen-tmp")})
    con.execute("SET enable_progress_bar = false")
    rows = f"(SELECT CASE WHEN range % 1000 = 999 THEN range - 1 ELSE range END AS i FROM range({n}))"
    start = "TIMESTAMP '2025-01-01'"
    sql = _events_sql(rows, "i // 50", "(i // 50)::VARCHAR || '-' || (i % 50 // 8)::VARCHAR", "i % 50 % 8", start)
    for fmt in formats:
        opts = {"csv": "HEADER", "csv.gz": "HEADER, COMPRESSION gzip", "parquet": "FORMAT parquet"}[fmt]
        _copy(con, sql, paths[fmt], opts)
    _copy(con, f"""SELECT 'C' || lpad(c::VARCHAR, 8, '0') AS cust,
                 ['Premium','Standard','Basic','Trial'][1 + (hash(c) % 4)::INT] AS segment
                 FROM range({(n + 49) // 50}) t(c)""", paths["customers"], "HEADER")
    # the day after the last event: n/100 events of random existing customers, sessions of 8
    day = f"(SELECT range AS i FROM range({max(n // 100, 8)}))"
    last = f"TIMESTAMP '2025-01-01' + to_seconds({n * 3 + 86400})"
    paths["day"].parent.mkdir(exist_ok=True)
    sql = _events_sql(day, f"hash(i // 8) % {max(n // 50, 1)}", "'D' || (i // 8)::VARCHAR", "i % 8", last)
    _copy(con, sql, paths["day"], "HEADER")
    con.close()
    return paths


def _copy(con, sql: str, path: Path, opts: str) -> None:
    """COPY to a side file, renamed when complete: an interrupted run leaves no truncated export."""
    part = path.with_name(path.name + ".part")
    con.execute(f"COPY ({sql}) TO '{part}' ({opts})")
    os.replace(part, path)


def config_for(events: Path, customers: Path, n: int) -> Path:
    """A config reading every `events-*` file beside `events` (a refresh adds one) and the customers."""
    cfg = events.parent / f"{events.name}.yml"
    pattern = "events-*" + events.name[len("events-000"):]
    cfg.write_text(yaml.safe_dump({"timezone": "Europe/Amsterdam", "limits": {
        "max_rows_per_source": 2 * n + 1000, "max_decompressed_bytes": 400 * n + 10**8,
        "temp_limit": "40GB"}, "sources": [
        {"name": "crm", "kind": "customers", "path": customers.name,
         "columns": {"customer_id": "cust", "segment": "segment"}},
        {"name": "web", "kind": "events", "path": pattern,
         "columns": {"customer_id": "cust", "journey_id": "session", "event_ts": "ts", "activity": "page",
                     "amount": "amount"},
         "maps": {"device": {"from": "dev", "values": {"D": "desktop", "M": "mobile", "A": "app"}}},
         "constants": {"channel": "web"}}]}))
    return cfg


def run_child(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter; return its JSON output plus that process's peak RSS."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True,
                            env=os.environ | {"CJW_PSEUDONYM_KEY": KEY})
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"benchmark child failed with exit code {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return result


INGEST = """
import json, sys, time
from cjworkbench.ingest import run_ingest
t, c = time.perf_counter(), time.process_time(); s = run_ingest(sys.argv[1], sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "rows": s.rows_read,
                  "loaded": s.rows_loaded,
                  "mode": getattr(s, "mode", "full")}))
"""
REFERENCE = """
import json, sys, time, duckdb
fmt, path = sys.argv[1], sys.argv[2]
con = duckdb.connect(sys.argv[3]); t, c = time.perf_counter(), time.process_time()
reader = "read_parquet(?)" if fmt == "parquet" else "read_csv(?, all_varchar=true)"
n = con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}", [path]).fetchone()[0]
con.close(); print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "rows": n}))
"""
ANALYSES = """
import json, statistics, sys, time
import cjworkbench
from cjworkbench.analysis.journeys.funnels import funnel_table
from cjworkbench.analysis.journeys.paths import variants_table
from cjworkbench.analysis.journeys.transitions import transitions_table
con = cjworkbench.connect(sys.argv[1])
calls = {"variants": lambda s: variants_table(con, filters={"segment": s}),
         "transitions": lambda s: transitions_table(con, filters={"segment": s}),
         "funnel": lambda s: funnel_table(con, steps=json.loads(sys.argv[3]), filters={"segment": s})}
# cold: the first segment picked on a fresh connection; warm: the viewer picks each other segment
segments = [sys.argv[2], *[s for s in ("Premium", "Standard", "Basic", "Trial") if s != sys.argv[2]]]
out = {}
for name, call in calls.items():
    times, cpu = [], []
    for s in segments:
        t, c = time.perf_counter(), time.process_time(); call(s)
        times.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
    out[name] = {"cold": times[0], "cold_cpu": cpu[0], "warm": statistics.median(times[1:]),
                 "warm_cpu": statistics.median(cpu[1:])}
print(json.dumps(out))
"""


def refresh_available() -> bool:
    """Brief R's incremental refresh: `run_ingest` of an existing database loads only new files."""
    import inspect

    from cjworkbench.ingest import run_ingest
    return "full" in inspect.signature(run_ingest).parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--formats", nargs="+", default=["csv"], choices=["csv", "csv.gz", "parquet"])
    parser.add_argument("--refresh-at", type=int, default=10_000_000, help="size whose database gets the refresh")
    parser.add_argument("--data", help="folder to generate into and keep (reused when the files are there)")
    args = parser.parse_args()
    root = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="cjw-bench-"))
    lines = [f"{'events':>11} {'format':<8} {'ingest s':>9} {'cpu s':>7} {'rows/s':>9} {'peak MB':>8} "
             f"{'bare s':>7} {'cpu s':>7} {'bare MB':>8} {'ratio':>6} {'cpu ratio':>9}"]
    extra = []
    print(lines[0], flush=True)
    try:
        for n in args.sizes:
            folder = root / f"n{n}"
            t = time.perf_counter()
            paths = make_events(folder, n, args.formats)
            print(f"# {n:,} events ready in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
            for fmt in args.formats:
                db = folder / f"{fmt}.duckdb"
                for old in folder.glob(f"{fmt}.duckdb*"):
                    old.unlink()
                ours = run_child(INGEST, str(config_for(paths[fmt], paths["customers"], n)), str(db))
                ref = run_child(REFERENCE, fmt, str(paths[fmt]), str(folder / f"ref-{fmt}.duckdb"))
                (folder / f"ref-{fmt}.duckdb").unlink()
                lines.append(f"{n:>11,} {fmt:<8} {ours['seconds']:>9.1f} {ours['cpu']:>7.1f} "
                             f"{ours['rows'] / ours['seconds']:>9,.0f} {ours['peak_mb']:>8,.0f} {ref['seconds']:>7.1f} "
                             f"{ref['cpu']:>7.1f} {ref['peak_mb']:>8,.0f} {ours['seconds'] / ref['seconds']:>6.1f} "
                             f"{ours['cpu'] / ref['cpu']:>9.1f}")
                print(lines[-1], flush=True)
                if fmt == args.formats[0] and n == max(args.sizes):
                    extra += _analyses(db, n)
                if fmt == "csv" and n == args.refresh_at:
                    extra.append(_refresh(paths, db, n, ours["seconds"]))
                    print(extra[-1], flush=True)
        print("\n".join(["", *lines, *extra]))
    finally:
        if not args.data:
            shutil.rmtree(root, ignore_errors=True)


def _refresh(paths: dict, db: Path, n: int, full_seconds: float) -> str:
    if not refresh_available():
        return f"refresh +1 day at {n:,}: n/a (refresh not available)"
    day = paths["csv"].parent / paths["day"].name
    shutil.copy(paths["day"], day)
    try:
        r = run_child(INGEST, str(paths["csv"].parent / f"{paths['csv'].name}.yml"), str(db))
    except SystemExit as exc:   # the refresh is another brief's work in progress: report, go on
        return f"refresh +1 day at {n:,}: failed ({exc})"
    finally:
        day.unlink()
    return (f"refresh +1 day at {n:,} ({r['mode']}): {r['rows']:,} rows read in {r['seconds']:.1f} s "
            f"(cpu {r['cpu']:.1f} s), {r['seconds'] / full_seconds:.2f} of the full ingest, peak {r['peak_mb']:,.0f} MB")


def _analyses(db: Path, n: int) -> list[str]:
    try:
        r = run_child(ANALYSES, str(db), SEGMENT, json.dumps(FUNNEL))
    except SystemExit as exc:
        return [f"analyses at {n:,} events: failed ({exc})"]
    peak = r.pop("peak_mb")
    out = [f"analyses at {n:,} events, segment {SEGMENT} (peak {peak:,.0f} MB):"]
    out += [f"  {name:<12} cold {v['cold']:6.2f} s (cpu {v['cold_cpu']:5.2f} s)   warm {v['warm']:6.2f} s "
            f"(cpu {v['warm_cpu']:5.2f} s)"
            for name, v in r.items()]
    for line in out:
        print(line, flush=True)
    return out


if __name__ == "__main__":
    main()
