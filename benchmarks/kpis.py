"""The whole KPI scorecard (26 KPIs, current period, two baselines, a 12-month trend) on demo data.

Generates and ingests the demo (or reuses `--db`), then times `scorecard_table` in a fresh
connection:
- cold: the first call (roles inferred from the data, expressions built, SQL compiled, query run);
- warm: the same call again, as a dashboard's chart and table views ask for it (statistics kept in
  the one cache per connection and arguments);
- recomputed: the same scorecard for another as_of (expressions built, query run: nothing kept but
  the roles), best of `--repeat`;
- new filter: each segment asked for the first time (what a widget change costs), then again (warm).
Best of `--repeat` runs each; events are counted so the figures can be read per million events.

    .venv/bin/python benchmarks/kpis.py                                   # 20,000 customers, seed 7
    .venv/bin/python benchmarks/kpis.py --db /tmp/demo200k/db.duckdb      # an ingested 200,000-customer demo

The first call builds the stored-rule checks and keeps everyone's unit rows (sessions from the
stored `sessions` table) in temporary tables; recomputed and new-filter calls aggregate those.
Issue #19 measured 11-34 s for a recomputed scorecard on the 10 M-event demo before (KPIs cut from
the events on each call); the reference line below measures that path on the same database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import pandas as pd

import cjworkbench
from cjworkbench.analysis.measures import scorecard_table
from cjworkbench.demo import generate
from cjworkbench.ingest import run_ingest


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def best_of(repeat: int, fn) -> float:
    return min(timed(fn)[0] for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="an ingested demo database (default: generate one)")
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    db = args.db
    if db is None:
        folder = Path(tempfile.mkdtemp(prefix="cjw_kpis_"))
        generate(folder, customers=args.customers, seed=args.seed)
        run_ingest(folder / "cjworkbench.yml", folder / "db.duckdb")
        db = folder / "db.duckdb"
    con = cjworkbench.connect(db)
    n_events = int(con.table("events").count().execute())
    cold, card = timed(lambda: scorecard_table(con))
    warm = best_of(args.repeat, lambda: scorecard_table(con))
    end = pd.Timestamp(card.attrs["definition"]["as_of"]).date()
    rerun = min(timed(lambda d=d: scorecard_table(con, as_of=end - dt.timedelta(days=d)))[0]
                for d in range(1, args.repeat + 1))
    by_segment = {s: timed(lambda s=s: scorecard_table(con, filters={"segment": s}))[0]
                  for s in ("Premium", "Value", "Business")}
    again = best_of(args.repeat, lambda: scorecard_table(con, filters={"segment": "Value"}))
    print(f"events: {n_events:,}  KPIs: {len(card)} ({int(card['available'].sum())} available)  "
          f"period: {card['period'].iloc[0]}")
    print(f"scorecard cold (roles inferred, expressions built, SQL compiled, query run): {cold:.3f} s")
    print(f"scorecard warm (the same call again, statistics remembered): {warm:.3f} s")
    print(f"scorecard recomputed (another as_of: expressions built, query run), best of {args.repeat}: {rerun:.3f} s "
          f"= {rerun / n_events * 1e6:.3f} s per million events")
    print("scorecard with a new segment filter (query run): "
          + ", ".join(f"{k} {v:.3f} s" for k, v in by_segment.items()) + f"; the same filter again: {again:.3f} s")
    # the reference: every source named, an event-level filter that keeps every event and answer, so the
    # KPIs are cut from the events on each call (no stored sessions, no kept unit rows): the path before
    # them, and what an event-level filter still costs
    sources = sorted(set(con.table("events").source.execute()) | set(con.table("feedback").source.execute()))
    ref = {"source": sources}
    ref_first, ref_card = timed(lambda: scorecard_table(con, filters=ref))
    ref_rerun = timed(lambda: scorecard_table(con, filters=ref, as_of=end - dt.timedelta(days=10)))[0]
    same = (ref_card["estimate"].fillna(-1).round(9) == card["estimate"].fillna(-1).round(9)).all()
    print(f"reference, cut from the events on every call: first {ref_first:.3f} s, another as_of {ref_rerun:.3f} s "
          f"(same estimates as above: {bool(same)})")

if __name__ == "__main__":
    main()
