"""Where an ingest's time goes: wall, process CPU and peak RSS of every statement it runs.

Wraps the staging connection of `cjworkbench.ingest.pipeline` (and so the Ibis backend the
derived-table builders use) and times each `execute`; prints the heaviest statements and writes
all of them to `<db>.profile.json`. CPU is the process's (DuckDB's threads included), so on a
shared machine it is the column to compare; wall time waits for the other processes.

    CJW_PSEUDONYM_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0 \\
    nice -n 5 .venv/bin/python benchmarks/ingest_profile.py /tmp/t_bench/n10000000/events-000.csv.yml /tmp/p.duckdb

(the config and data come from `benchmarks/ingest.py --data /tmp/t_bench`). For one statement's
operators, run it again with `SET enable_profiling = 'json'` on the built database.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import threading
import time

import cjworkbench.ingest.pipeline as pipeline

LOG: list[tuple[str, float, float, float]] = []
_PEAK = [0.0]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _sample() -> None:
    while True:
        _PEAK[0] = max(_PEAK[0], _rss_mb())
        time.sleep(0.05)


class Timed:
    """A DuckDB connection whose `execute` records (sql, wall s, CPU s, peak MB)."""

    def __init__(self, con):
        object.__setattr__(self, "_con", con)

    def execute(self, sql, *args, **kwargs):
        _PEAK[0] = 0.0
        t, c = time.perf_counter(), time.process_time()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            LOG.append((str(sql), time.perf_counter() - t, time.process_time() - c, max(_PEAK[0], _rss_mb())))

    def __getattr__(self, name):
        return getattr(self._con, name)

    def __setattr__(self, name, value):
        setattr(self._con, name, value)


def main() -> None:
    config, db = sys.argv[1], sys.argv[2]
    threading.Thread(target=_sample, daemon=True).start()
    staging = pipeline._staging_connection
    pipeline._staging_connection = lambda *a, **k: Timed(staging(*a, **k))   # benchmark-only wrapper
    t, c = time.perf_counter(), time.process_time()
    summary = pipeline.run_ingest(config, db, full=True)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"total wall {wall:.1f} s, cpu {cpu:.1f} s ({sum(r[2] for r in LOG):.1f} in statements), "
          f"{summary.rows_read:,} rows read, {summary.rows_loaded:,} loaded, "
          f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    print(f"{'wall s':>7} {'cpu s':>7} {'peak MB':>8}  statement")
    for sql, w, cp, mb in sorted(LOG, key=lambda r: -r[2])[:25]:
        one_line = re.sub(r"\s+", " ", sql)[:200]
        print(f"{w:7.1f} {cp:7.1f} {mb:8,.0f}  {one_line}")
    with open(db + ".profile.json", "w") as fh:
        json.dump(LOG, fh)


if __name__ == "__main__":
    main()
