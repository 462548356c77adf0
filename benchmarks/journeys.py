"""Journey analyses on generated demo data (~1 M and ~10 M events): cjworkbench vs pm4py vs polars.

For each engine, in its own process (so peak memory is its own): load, then per analysis one
cold run and five warm runs with a segment filter (what a dashboard does when a stakeholder
picks a segment); the median warm time is reported, with the ratio of the fastest peer to us.

    .venv/bin/python benchmarks/journeys.py                      # 20,000 and 200,000 customers
    .venv/bin/python benchmarks/journeys.py --customers 20000

The warm runs repeat one segment. The demo's campaign journeys hold several customers, so its
segment filters compute on the events every time; on a database whose journeys each belong to one
customer, the first segment call would build the segment cube (`analysis/journeys/segment_cube.py`)
and the repeats would read it: use `ingest.py`'s analyses (warm = the other segments) there.

The polars versions are hand-written to the same definitions (order by (ts, seq), exact median
and p90). pm4py has no funnel: its peer is a chain of eventually-follows case filters, which
asks a looser question (an approximation of the same work, timed for scale only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FUNNEL = ["view_product", "view_cart", "checkout_start", "checkout_payment", "checkout_confirmed"]
SEGMENT = "Premium"
WARM_RUNS = 5


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _measure(analyses: dict) -> dict:
    """analyses: name -> (cold callable, warm callable). Returns seconds per analysis."""
    out = {}
    for name, (cold, warm) in analyses.items():
        c = _timed(cold)
        w = statistics.median(_timed(warm) for _ in range(WARM_RUNS))
        out[name] = {"cold": c, "warm": w}
    return out


def run_cjworkbench(db: str) -> dict:
    import cjworkbench
    from cjworkbench.analysis.journeys.funnels import funnel_table
    from cjworkbench.analysis.journeys.paths import variants_table
    from cjworkbench.analysis.journeys.transitions import transitions_table

    t = time.perf_counter()
    con = cjworkbench.connect(db)
    load = time.perf_counter() - t
    seg = {"segment": SEGMENT}
    return {"load": load, "analyses": _measure({
        "variants": (lambda: variants_table(con), lambda: variants_table(con, filters=seg)),
        "transitions": (lambda: transitions_table(con), lambda: transitions_table(con, filters=seg)),
        "funnel": (lambda: funnel_table(con, steps=FUNNEL), lambda: funnel_table(con, steps=FUNNEL, filters=seg)),
    })}


def _frame(db: str):
    import duckdb

    with duckdb.connect(db, read_only=True) as con:
        return con.execute("""SELECT s.journey_key AS case_id, s.customer_id, s.activity, s.event_ts, s.seq,
                                     c.segment FROM journey_steps s LEFT JOIN customers c USING (customer_id)""").fetch_arrow_table()


def run_polars(db: str) -> dict:
    import polars as pl

    t = time.perf_counter()
    df = pl.from_arrow(_frame(db)).sort(["case_id", "event_ts", "seq"])
    load = time.perf_counter() - t

    def variants(d):
        v = d.group_by("case_id", maintain_order=True).agg(pl.col("activity").str.join(" → ").alias("variant"))
        return v.group_by("variant").len().sort("len", descending=True)

    def transitions(d):
        d = d.with_columns(nxt=pl.col("activity").shift(-1).over("case_id"),
                           dt=(pl.col("event_ts").shift(-1).over("case_id") - pl.col("event_ts")).dt.total_seconds())
        d = d.filter(pl.col("nxt").is_not_null())
        return d.group_by(["activity", "nxt"]).agg(pl.len(), pl.col("case_id").n_unique().alias("n_journeys"),
                                                   pl.col("customer_id").n_unique().alias("n_customers"), pl.col("dt").mean().alias("mean"),
                                                   pl.col("dt").median().alias("median"),
                                                   pl.col("dt").quantile(0.9, "linear").alias("p90"))

    def funnel(d):
        d = d.with_columns(pos=pl.int_range(pl.len()).over("case_id"))
        cur = d.filter(pl.col("activity") == FUNNEL[0]).group_by("case_id").agg(pl.col("pos").min())
        counts = [cur.height]
        for step in FUNNEL[1:]:
            nxt = d.filter(pl.col("activity") == step).select("case_id", p2="pos")
            cur = (cur.join(nxt, on="case_id").filter(pl.col("p2") > pl.col("pos"))
                   .group_by("case_id").agg(pos=pl.col("p2").min()))
            counts.append(cur.height)
        return counts

    seg = lambda: df.filter(pl.col("segment") == SEGMENT)  # noqa: E731
    return {"load": load, "analyses": _measure({
        "variants": (lambda: variants(df), lambda: variants(seg())),
        "transitions": (lambda: transitions(df), lambda: transitions(seg())),
        "funnel": (lambda: funnel(df), lambda: funnel(seg())),
    })}


def run_pm4py(db: str) -> dict:
    import pm4py

    t = time.perf_counter()
    df = _frame(db).to_pandas()
    df = pm4py.format_dataframe(df, case_id="case_id", activity_key="activity", timestamp_key="event_ts")
    load = time.perf_counter() - t

    def transitions(d):
        pm4py.discover_dfg(d)
        pm4py.discover_performance_dfg(d)

    def funnel(d):
        counts = [d.loc[d["concept:name"] == FUNNEL[0], "case:concept:name"].nunique()]
        for a, b in zip(FUNNEL, FUNNEL[1:]):
            d = pm4py.filter_eventually_follows_relation(d, [(a, b)], retain=True)
            counts.append(d["case:concept:name"].nunique())
        return counts

    seg = lambda: df[df["segment"] == SEGMENT]  # noqa: E731
    return {"load": load, "analyses": _measure({
        "variants": (lambda: pm4py.get_variants(df), lambda: pm4py.get_variants(seg())),
        "transitions": (lambda: transitions(df), lambda: transitions(seg())),
        "funnel": (lambda: funnel(df), lambda: funnel(seg())),
    })}


ENGINES = {"cjworkbench": run_cjworkbench, "polars": run_polars, "pm4py": run_pm4py}


def _child(engine: str, db: str) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import journeys; "
            f"print(json.dumps(journeys.ENGINES[{engine!r}]({db!r})))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        return {"error": f"exit {os.waitstatus_to_exitcode(status)}"}
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024
    return result


BUILD = """
import json, os, sys, time
os.environ.setdefault("CJW_PSEUDONYM_KEY", "benchmark")
from pathlib import Path
from cjworkbench.demo import generate
from cjworkbench.ingest import run_ingest
folder = Path(sys.argv[1]); generate(folder, customers=int(sys.argv[2]), seed=7)
t = time.perf_counter(); s = run_ingest(folder / "cjworkbench.yml", folder / "db.duckdb")
print(json.dumps({"events": sum(x.rows_loaded for x in s.sources if x.kind == "events"),
                  "seconds": time.perf_counter() - t}))
"""


def build(folder: Path, customers: int) -> tuple[Path, int, float]:
    """Generate and ingest in a child, so this process stays small (children inherit its peak RSS)."""
    out = subprocess.run([sys.executable, "-c", BUILD, str(folder), str(customers)], capture_output=True,
                         text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return folder / "db.duckdb", r["events"], r["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES))
    parser.add_argument("--db", help="measure an existing demo database instead of generating one")
    args = parser.parse_args()
    if args.db:
        report(Path(args.db), None, None, args.engines)
        return
    for customers in args.customers:
        with tempfile.TemporaryDirectory(prefix="cjw-bench-") as tmp:
            db, events, ingest_s = build(Path(tmp), customers)
            print(f"\n## {events:,} events ({customers:,} customers); ingest incl. derived tables {ingest_s:.1f} s")
            report(db, events, ingest_s, args.engines)


def report(db: Path, events, ingest_s, engines) -> None:
    """Run every engine on `db` in its own process and print the table and the ratios."""
    if events is None:
        print(f"\n## {db}")
    results = {e: _child(e, str(db)) for e in engines}
    analyses = ("variants", "transitions", "funnel")
    print(f"{'engine':<12} {'load s':>7} {'peak MB':>8} "
          + " ".join(f"{a + ' cold':>17} {a + ' warm':>17}" for a in analyses))
    for engine, r in results.items():
        if "error" in r:
            print(f"{engine:<12} {r['error']}")
            continue
        cells = " ".join(f"{r['analyses'][a]['cold']:>17.3f} {r['analyses'][a]['warm']:>17.3f}" for a in analyses)
        print(f"{engine:<12} {r['load']:>7.1f} {r['peak_mb']:>8,.0f} {cells}")
    ours = results.get("cjworkbench", {})
    for a in analyses:
        peers = [r["analyses"][a]["warm"] for e, r in results.items() if e != "cjworkbench" and "error" not in r]
        if peers and "analyses" in ours:
            print(f"warm {a}: fastest peer / cjworkbench = {min(peers) / ours['analyses'][a]['warm']:.1f}x")


if __name__ == "__main__":
    main()
