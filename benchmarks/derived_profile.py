"""Where the derived-table build's time, memory and spill go: every statement of
`model.build_derived` on a copy of an ingested database, run as the ingest runs it.

The ingest's staging connection is mimicked: its own database a scratch file (`staging.duckdb`,
where the full build's intermediates go), the database attached as `out`, `memory_limit` and a
spill folder. Each statement is printed as it starts and ends (wall and process CPU seconds);
every 20 s a line gives the RSS, the spill folder and the staging file. The derived tables of
the copy are replaced; the original is not touched.

    nice -n 5 .venv/bin/python benchmarks/derived_profile.py /tmp/s100/data/n100000000/csv.duckdb --memory 4GB

(session 7 found the aggregates DuckDB cannot spill this way; benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import ibis

from cjworkbench import model


class Timed:
    """A DuckDB connection that prints each `execute` with its wall and CPU seconds."""

    def __init__(self, con):
        self._con = con

    def execute(self, sql, *args, **kwargs):
        t, c = time.perf_counter(), time.process_time()
        print(f"> {' '.join(str(sql).split())[:160]}", flush=True)
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            print(f"< {time.perf_counter() - t:.1f} s wall {time.process_time() - c:.1f} cpu", flush=True)

    def __getattr__(self, name):
        return getattr(self._con, name)


def _watch(scratch: Path) -> None:
    while True:
        with open("/proc/self/statm") as fh:
            rss = int(fh.read().split()[1]) * resource.getpagesize() / 1e9
        files = [f for f in scratch.rglob("*") if f.is_file()]
        spill = sum(f.stat().st_size for f in files if f.name != "staging.duckdb") / 1e9
        staging = sum(f.stat().st_size for f in files if f.name == "staging.duckdb") / 1e9
        print(f"  [{time.strftime('%H:%M:%S')}] rss {rss:.1f} GB spill {spill:.1f} GB staging {staging:.1f} GB",
              flush=True)
        time.sleep(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", help="an ingested database (copied first)")
    parser.add_argument("--memory", default="4GB", help="DuckDB memory_limit (the ingest's default: 4GB)")
    parser.add_argument("--work", help="folder for the copy and the scratch files (default: a new temp folder)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="cjw-derived-"))
    scratch = work / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    copy = work / "copy.duckdb"
    shutil.copy(args.db, copy)
    con = duckdb.connect(str(scratch / "staging.duckdb"), config={
        "preserve_insertion_order": True, "memory_limit": args.memory, "max_temp_directory_size": "40GB",
        "temp_directory": str(scratch)})
    con.execute("SET enable_progress_bar = false")
    con.execute("ATTACH '" + str(copy).replace("'", "''") + "' AS out")
    con.execute("USE out")
    threading.Thread(target=_watch, args=(scratch,), daemon=True).start()
    backend = ibis.duckdb.from_connection(con)
    backend.con = Timed(con)
    t = time.perf_counter()
    model.build_derived(backend)
    print(f"done in {time.perf_counter() - t:.0f} s, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.1f} GB; copy and scratch in {work}")


if __name__ == "__main__":
    main()
