"""Ingest throughput and peak memory on generated events: 1 M and 10 M rows, CSV, CSV.gz and Parquet.

Each ingest runs in its own process so its peak RSS is measured alone. The reference is a bare
DuckDB `CREATE TABLE AS SELECT * FROM read_csv/read_parquet` of the same file: the floor any
loader built on DuckDB's readers can reach; the ratio shows what validation, rejects, value maps
and the atomic swap cost on top.

    .venv/bin/python benchmarks/ingest.py            # 1 M and 10 M
    .venv/bin/python benchmarks/ingest.py --sizes 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

_ACTIVITIES = "['home','product','cart','checkout_start','checkout_payment','checkout_confirmed','search','help']"


def make_events(folder: Path, n: int) -> dict[str, Path]:
    """Write n events (with ~0.1 % duplicate lines) as CSV, CSV.gz and Parquet."""
    con = duckdb.connect()
    con.execute(f"""CREATE TABLE ev AS SELECT
        'C' || lpad((i // 50)::VARCHAR, 7, '0') AS cust,
        'S' || (i // 8)::VARCHAR AS session,
        strftime(TIMESTAMP '2025-01-01' + to_seconds(i * 3 + (i % 7)), '%Y-%m-%d %H:%M:%S') AS ts,
        {_ACTIVITIES}[1 + (hash(i) % 8)::INT] AS page,
        ['D','M','A'][1 + (i % 3)::INT] AS dev,
        CASE WHEN i % 10 = 0 THEN round((hash(i) % 20000) / 100, 2)::VARCHAR END AS amount,
        'Mozilla/5.0 agent ' || (i % 97)::VARCHAR AS user_agent
        FROM (SELECT CASE WHEN range % 1000 = 999 THEN range - 1 ELSE range END AS i FROM range({n}))""")
    paths = {"csv": folder / "events.csv", "csv.gz": folder / "events.csv.gz", "parquet": folder / "events.parquet"}
    con.execute(f"COPY ev TO '{paths['csv']}' (HEADER)")
    con.execute(f"COPY ev TO '{paths['csv.gz']}' (HEADER, COMPRESSION gzip)")
    con.execute(f"COPY ev TO '{paths['parquet']}' (FORMAT parquet)")
    con.close()
    return paths


def config_for(path: Path, folder: Path) -> Path:
    cfg = folder / f"{path.name}.yml"
    cfg.write_text(yaml.safe_dump({"timezone": "Europe/Amsterdam", "sources": [{
        "name": "web", "kind": "events", "path": path.name,
        "columns": {"customer_id": "cust", "journey_id": "session", "event_ts": "ts", "activity": "page",
                    "amount": "amount"},
        "maps": {"device": {"from": "dev", "values": {"D": "desktop", "M": "mobile", "A": "app"}}},
        "constants": {"channel": "web"}}]}))
    return cfg


def run_child(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter; return its JSON output plus that process's peak RSS."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
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
t = time.perf_counter(); s = run_ingest(sys.argv[1], sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t, "rows": s.rows_read, "loaded": s.rows_loaded}))
"""
REFERENCE = """
import json, sys, time, duckdb
fmt, path = sys.argv[1], sys.argv[2]
con = duckdb.connect(sys.argv[3]); t = time.perf_counter()
reader = "read_parquet(?)" if fmt == "parquet" else "read_csv(?, all_varchar=true)"
n = con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}", [path]).fetchone()[0]
con.close(); print(json.dumps({"seconds": time.perf_counter() - t, "rows": n}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    os.environ.setdefault("CJW_PSEUDONYM_KEY", "benchmark")
    print(f"{'events':>11} {'format':<8} {'ingest s':>9} {'rows/s':>11} {'peak MB':>8} "
          f"{'bare DuckDB s':>14} {'ratio':>6}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="cjw-bench-") as tmp:
            folder = Path(tmp)
            t = time.perf_counter()
            paths = make_events(folder, n)
            print(f"# generated {n:,} events in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            for fmt, path in paths.items():
                ours = run_child(INGEST, str(config_for(path, folder)), str(folder / f"{fmt}.duckdb"))
                ref = run_child(REFERENCE, fmt, str(path), str(folder / f"ref-{fmt}.duckdb"))
                print(f"{n:>11,} {fmt:<8} {ours['seconds']:>9.2f} {ours['rows'] / ours['seconds']:>11,.0f} "
                      f"{ours['peak_mb']:>8,.0f} {ref['seconds']:>14.2f} {ours['seconds'] / ref['seconds']:>6.1f}",
                      flush=True)


if __name__ == "__main__":
    main()
