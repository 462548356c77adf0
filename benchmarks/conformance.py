"""Conformance to the designed onboarding journey on about 1 M demo events (20,000 customers).

Generates and ingests the demo data (or reuses `--folder` when it already holds db.duckdb), then
times `conformance_table` and `deviations_table` (best of `--repeat` runs, the query and the
pandas hand-over included). The reference is a plain pandas computation of the same fitness and
completion (events sorted by (event_ts, seq), instances cut in Python/pandas); the script checks
that both give identical values and prints the ratio.

    .venv/bin/python benchmarks/conformance.py                     # 20,000 customers, seed 7
    .venv/bin/python benchmarks/conformance.py --folder /tmp/demo20k --customers 20000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

import cjworkbench
from cjworkbench.analysis.design.conformance import conformance_table, deviations_table
from cjworkbench.designs.journey import load_design
from cjworkbench.demo import generate
from cjworkbench.ingest import run_ingest


def best_of(repeat: int, fn):
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def pandas_fitness(db: Path, design) -> pd.DataFrame:
    """The same fitness and completion with pandas: the reference (and a cross-check)."""
    d = load_design(design)
    con = duckdb.connect(str(db), read_only=True)
    ev = con.execute("SELECT customer_id, event_ts, seq, activity FROM events").df()
    con.close()
    ev = ev.sort_values(["customer_id", "event_ts", "seq"], kind="stable")
    start = ev[ev.activity == d.starts_with].groupby("customer_id", sort=False).head(1)
    ev = ev.merge(start[["customer_id", "event_ts", "seq"]].rename(columns={"event_ts": "s_ts", "seq": "s_seq"}),
                  on="customer_id")
    ev = ev[((ev.event_ts > ev.s_ts) | ((ev.event_ts == ev.s_ts) & (ev.seq >= ev.s_seq)))
            & ((ev.event_ts - ev.s_ts).dt.total_seconds() <= d.within_seconds)].copy()
    ev["pos"] = ev.groupby("customer_id", sort=False).cumcount() + 1
    step_of = {a: j for j, s in enumerate(d.steps) for a in s.activities}
    ev["step"] = ev.activity.map(step_of)
    goal_pos = ev[ev.step == d.goal].groupby("customer_id").pos.min()
    ev = ev[ev.pos <= ev.customer_id.map(goal_pos).fillna(np.inf)]
    first = ev.dropna(subset=["step"]).groupby(["customer_id", "step"]).pos.min().unstack()
    first = first.reindex(columns=range(len(d.steps))).reindex(start.customer_id)
    in_order = pd.DataFrame(index=first.index)
    for k, j in enumerate(d.required):
        ok = first[j].notna()
        for i in d.required[:k]:
            ok &= first[i].fillna(0) < first[j]
        in_order[j] = ok
    return pd.DataFrame({"fitness": in_order.sum(axis=1) / len(d.required),
                         "completed": first[d.goal].notna()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--folder", type=Path, default=None, help="demo folder to create or reuse")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.folder is not None:
        run(args.folder, args)
    else:
        with tempfile.TemporaryDirectory(prefix="cjw-conformance-") as tmp:
            run(Path(tmp), args)


def run(folder: Path, args) -> None:
    db = folder / "db.duckdb"
    if not db.exists():
        t = time.perf_counter()
        generate(folder, customers=args.customers, seed=args.seed)
        run_ingest(folder / "cjworkbench.yml", db)
        print(f"demo data: {args.customers:,} customers generated and ingested in {time.perf_counter() - t:.1f} s")
    design = folder / "designed" / "onboarding.yml"
    con = cjworkbench.connect(db)
    n_events = con.table("events").count().execute()
    t_conf, conf = best_of(args.repeat, lambda: conformance_table(con, design=design))
    t_dev, _ = best_of(args.repeat, lambda: deviations_table(con, design=design))
    t_ref, ref = best_of(args.repeat, lambda: pandas_fitness(db, design))
    mine = conf.set_index("customer_id")[["fitness", "completed"]].sort_index()
    same = mine.equals(ref.sort_index().astype(mine.dtypes.to_dict()))
    print(f"events: {n_events:,}   journey instances: {len(conf):,}")
    print(f"conformance_table:  {t_conf:6.2f} s   ({n_events / t_conf / 1e6:.1f} M events/s)")
    print(f"deviations_table:   {t_dev:6.2f} s")
    print(f"pandas reference:   {t_ref:6.2f} s   (fitness and completion only; identical: {same})")
    print(f"ratio conformance_table / pandas reference: {t_conf / t_ref:.2f}")


if __name__ == "__main__":
    main()
