"""A one-day (~1 %) incremental refresh against the full ingest, with a reader running throughout.

On the demo exports of a given size (`cjw demo-data`: 1 M events at 20,000 customers, 10 M at
200,000), the web clickstream source is turned into a glob (`web_clickstream*.csv.gz`) and:
1. a full ingest builds the database (time);
2. a new file holding `--fraction` of the events (the last rows of the clickstream, shifted one
   span later so they are new, with their sessions continuing) is written beside the first;
3. `run_ingest` refreshes: it loads that file only (time, ratio to the full ingest, the customers
   whose derived rows were redone), while a read-only reader process counts events in a loop
   (queries answered, errors, longest query, the counts it saw);
4. the copy of the database a refresh starts with is timed alone (the cost of option (a) in
   docs/adr/0003-refresh-and-readers.md) and extrapolated linearly to 100 M events.
Figures go to stdout and, with --json, to a file. The exports are symlinked, never written.

    nice -n 5 .venv/bin/python benchmarks/refresh.py --exports /tmp/kpis_dev/d20k --work /tmp/cjw-refresh-1m
    nice -n 5 .venv/bin/python benchmarks/refresh.py --exports /tmp/kpis_dev/d200k --work /tmp/cjw-refresh-10m
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from cjworkbench.ingest import run_ingest

READER = """
import sys, time, duckdb
stop, seen, n_q, worst, errors = sys.argv[2], [], 0, 0.0, []
import os
while not os.path.exists(stop):
    t = time.perf_counter()
    try:
        with duckdb.connect(sys.argv[1], read_only=True) as con:
            n = con.execute("SELECT count(*) FROM events").fetchone()[0]
            con.execute("SELECT count(*) FROM journeys WHERE n_steps > 3").fetchone()
        n_q += 1
        if not seen or seen[-1] != n:
            seen.append(n)
    except Exception as exc:
        errors.append(str(exc).splitlines()[0])
    worst = max(worst, time.perf_counter() - t)
    time.sleep(0.05)
print(repr({"queries": n_q, "counts_seen": seen, "errors": errors[:3], "n_errors": len(errors), "worst_s": round(worst, 3)}))
"""


def prepare(exports: Path, work: Path) -> Path:
    """The work folder: exports symlinked, the config copied with the web source as a glob."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "exports").mkdir(parents=True)
    for f in (exports / "exports").iterdir():
        (work / "exports" / f.name).symlink_to(f)
    if (exports / "designed").is_dir():
        shutil.copytree(exports / "designed", work / "designed")
    text = (exports / "cjworkbench.yml").read_text()
    assert "path: exports/web_clickstream.csv.gz" in text
    (work / "cjworkbench.yml").write_text(text.replace("path: exports/web_clickstream.csv.gz",
                                                      "path: exports/web_clickstream*.csv.gz"))
    return work / "cjworkbench.yml"


def new_day(work: Path, n_events: int, fraction: float) -> int:
    """Write `exports/web_clickstream_new.csv.gz`: the last rows of the clickstream, one span later."""
    rows = int(n_events * fraction)
    src, out = work / "exports" / "web_clickstream.csv.gz", work / "exports" / "web_clickstream_new.csv.gz"
    with duckdb.connect() as con:
        con.execute(f"""CREATE TABLE tail AS SELECT * FROM read_csv('{src}', all_varchar = true, header = true, ignore_errors = true)
                        WHERE try_strptime(ts, '%Y-%m-%d %H:%M:%S') IS NOT NULL
                        ORDER BY ts DESC LIMIT {rows}""")
        span = con.execute("SELECT max(ts::TIMESTAMP) - min(ts::TIMESTAMP) + INTERVAL 1 DAY FROM tail").fetchone()[0]
        con.execute("UPDATE tail SET ts = strftime(ts::TIMESTAMP + ?::INTERVAL, '%Y-%m-%d %H:%M:%S')", [span])
        con.execute(f"COPY tail TO '{out}' (HEADER, COMPRESSION gzip)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exports", type=Path, required=True, help="folder of a `cjw demo-data` export set")
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (removed first)")
    ap.add_argument("--fraction", type=float, default=0.01, help="new events as a share of the events")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    cfg = prepare(args.exports, args.work)
    db = args.work / "db.duckdb"
    t0 = time.perf_counter()
    full = run_ingest(cfg, db)
    t_full = time.perf_counter() - t0
    with duckdb.connect(str(db), read_only=True) as con:
        n_events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    size = db.stat().st_size
    added = new_day(args.work, n_events, args.fraction)
    stop = args.work / "stop-reader"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db), str(stop)], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    lines = []
    t0 = time.perf_counter()
    refresh = run_ingest(cfg, db, progress=lambda m: lines.append(f"{time.perf_counter() - t0:7.1f}s  {m}"))
    t_refresh = time.perf_counter() - t0
    time.sleep(1.0)
    stop.touch()
    seen = eval(reader.communicate(timeout=120)[0])   # a dict literal printed by READER
    t0 = time.perf_counter()
    shutil.copyfile(db, args.work / "copy.duckdb")
    t_copy = time.perf_counter() - t0
    (args.work / "copy.duckdb").unlink()
    with duckdb.connect(str(db), read_only=True) as con:
        n_after = con.execute("SELECT count(*) FROM events").fetchone()[0]
    figures = {"events": n_events, "db_bytes": size, "full_s": round(t_full, 1), "full_mode": full.mode,
               "new_events_in_file": added, "refresh_loaded": refresh.rows_loaded, "refresh_s": round(t_refresh, 1),
               "refresh_to_full": round(t_refresh / t_full, 3), "refresh_mode": refresh.mode,
               "events_after": n_after, "copy_s": round(t_copy, 2),
               "copy_s_at_100M_extrapolated": round(t_copy * 100e6 / n_events, 1),
               "disk_peak_bytes_refresh": 2 * db.stat().st_size, "reader": seen}
    print("\n".join(lines))
    for k, v in figures.items():
        print(f"{k:>30}: {v}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
