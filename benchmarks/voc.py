"""Voice-of-the-customer timings: the driver model and theme discovery, on the default demo and
on 1 M feedback rows.

    .venv/bin/python benchmarks/voc.py                       # demo/cjworkbench.duckdb (`make demo`) + 1 M rows
    .venv/bin/python benchmarks/voc.py --rows 200000 --db path/to/other.duckdb

The 1 M-row database is a temporary copy of the demo whose feedback table is the demo's answers
repeated with new ids and sequence numbers, their answer times shifted by up to ±30 minutes
(seeded), until it holds `--rows` rows; events and customers stay as they are, so every copy
has a real journey before it. Each measurement runs in its own process, so its peak memory
(ru_maxrss: Python, DuckDB and numpy together, imports included) is its own. Times are the wall
and CPU seconds (all threads) of one cold call, a dashboard's first click, lazy imports of
statsmodels and scipy included; wall time grows with whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _jobs() -> dict:
    from cjworkbench.analysis.voc.drivers import drivers_table
    from cjworkbench.analysis.voc.journey_facts import journey_facts
    from cjworkbench.analysis.voc.voc_journey import feedback_on_journey_table, path_contrast_table

    jobs = {
        "journey_facts nps": lambda con: journey_facts(con, instrument="nps"),
        "drivers csat": lambda con: drivers_table(con, outcome="csat"),
        "drivers ces": lambda con: drivers_table(con, outcome="ces"),
        "drivers nps (delivery+brand)": lambda con: drivers_table(con, outcome="nps",
                                                                  feedback_touchpoint=("delivery", "brand")),
        "drivers detractor (all nps)": lambda con: drivers_table(con, outcome="detractor"),
        "feedback_on_journey by transition": lambda con: feedback_on_journey_table(con, by="transition",
                                                                                   sentiment=False),
        "path_contrast delivery": lambda con: path_contrast_table(con, feedback_touchpoint="delivery"),
    }
    try:
        from cjworkbench.analysis.voc.theme_discovery import discover_themes_table
    except ImportError:  # written by another part of the project; timed when present
        return jobs
    jobs["discover_themes"] = lambda con: discover_themes_table(con)
    return jobs


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_job(name: str, db: str) -> dict:
    """One measurement, in this process: seconds, result rows, answers used, peak memory."""
    import cjworkbench

    con = cjworkbench.connect(db)
    fn = _jobs()[name]
    cpu0, t = _cpu(), time.perf_counter()
    df = fn(con)
    seconds, cpu = time.perf_counter() - t, _cpu() - cpu0
    d = df.attrs.get("definition", {})
    n = d.get("n_used") or (len(df) if name.startswith("journey_facts") else None)
    return {"seconds": seconds, "cpu": cpu, "rows": len(df), "answers": n,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def build_big(src: Path, dst: Path, rows: int, seed: int = 0) -> int:
    """Copy `src` to `dst` and grow its feedback table to `rows` rows (see the module docstring)."""
    import duckdb

    shutil.copy(src, dst)
    with duckdb.connect(str(dst)) as c:
        c.execute("SET enable_progress_bar = false")
        n0, seq0 = c.execute("SELECT count(*), max(seq) FROM feedback").fetchone()
        copies = math.ceil(rows / n0) - 1
        c.execute("SELECT setseed(?)", [seed / 1000])
        c.execute("""CREATE TEMP TABLE extra AS
            SELECT f.* REPLACE (f.feedback_id || '-r' || k.k AS feedback_id,
                                f.feedback_ts + to_microseconds(CAST((random() * 2 - 1) * 1800e6 AS BIGINT))
                                    AS feedback_ts,
                                ? + row_number() OVER () AS seq)
            FROM feedback f CROSS JOIN range(1, ? + 1) k(k)""", [seq0, copies])
        c.execute("INSERT INTO feedback SELECT * FROM extra LIMIT ?", [rows - n0])
        c.execute("CHECKPOINT")
        return c.execute("SELECT count(*) FROM feedback").fetchone()[0]


def _child(name: str, db: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--job", name, "--db", str(db)], capture_output=True,
                         text=True, cwd=ROOT, timeout=1800)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report(label: str, db: Path) -> None:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as c:
        n_fb, n_ev = c.execute("SELECT (SELECT count(*) FROM feedback), (SELECT count(*) FROM events)").fetchone()
    print(f"\n{label}: {db}  ({n_fb:,} feedback rows, {n_ev:,} events)")
    print(f"{'analysis':<36} {'seconds':>8} {'cpu s':>8} {'peak MB':>8} {'answers':>10} {'rows':>6}")
    for name in _jobs():
        r = _child(name, db)
        if "error" in r:
            print(f"{name:<36} failed: {r['error']}")
            continue
        answers = f"{r['answers']:,}" if r["answers"] else "-"
        print(f"{name:<36} {r['seconds']:>8.2f} {r['cpu']:>8.2f} {r['peak_mb']:>8.0f} {answers:>10} {r['rows']:>6}",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=str(ROOT / "demo" / "cjworkbench.duckdb"))
    ap.add_argument("--rows", type=int, default=1_000_000, help="feedback rows of the big database")
    ap.add_argument("--job", help=argparse.SUPPRESS)
    ap.add_argument("--build", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.job:
        print(json.dumps(run_job(args.job, args.db)))
        return
    if args.build:
        build_big(Path(args.db), Path(args.build), args.rows)
        return
    db = Path(args.db)
    if not db.is_file():
        sys.exit(f"{db} does not exist: build the default demo with `make demo` (or pass --db).")
    _report("default demo", db)
    with tempfile.TemporaryDirectory(prefix="cjw-voc-") as tmp:
        big = Path(tmp) / "voc_big.duckdb"
        t = time.perf_counter()  # built in a child: a process's peak memory survives fork + exec
        subprocess.run([sys.executable, __file__, "--build", str(big), "--db", str(db), "--rows", str(args.rows)],
                       check=True, cwd=ROOT)
        print(f"\nbuilt the big database in {time.perf_counter() - t:.1f} s")
        _report(f"{args.rows:,} feedback rows", big)


if __name__ == "__main__":
    main()
