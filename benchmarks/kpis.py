"""The whole KPI scorecard (26 KPIs, current period, two baselines, a 12-month trend, intervals) on
demo data: what a dashboard user waits for, side by side with the path that cuts the KPIs from the
events on every call.

Generates and ingests the demo (or reuses `--db`), opens one connection and times `scorecard_table`:
- first call: roles inferred, every customer's unit rows built and pre-aggregated per customer class
  and business date (`analysis.measures.cube`), the statistics run;
- identical call: the same arguments again (the statistics kept per connection: a dashboard's chart
  and table views of one scorecard);
- another as_of (1, 9 and 40 days earlier): the cube aggregated for new windows;
- a new segment filter (three segments, each the first time), then the same segment again with
  another as_of (not the identical call);
- a persona filter (the database's personas design: built with the first call's classes);
- a customer attribute never filtered on before (`region`: its classes and cube are built), then
  another value of it;
- reference: an event-level filter that keeps every event and answer, so the KPIs are cut from the
  events on each call (the path before the unit rows and the cube; what channel / source / activity
  filters still cost), first call and another as_of, with its estimates compared to the cube's.
Each line: wall seconds and the process's CPU seconds (the comparable figure on a shared machine);
also the peak RSS and the load average.

    .venv/bin/python benchmarks/kpis.py                                     # 20,000 customers, seed 7
    nice -n 5 .venv/bin/python benchmarks/kpis.py --db /tmp/b4/d200k.duckdb # a 200,000-customer demo (10 M events)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

import cjworkbench
from cjworkbench.analysis.measures import scorecard_table
from cjworkbench.demo import generate
from cjworkbench.designs.personas import persona_of
from cjworkbench.designs.store import design, has_design
from cjworkbench.ingest import run_ingest


class Lap(NamedTuple):
    """Wall seconds and the process's CPU seconds (DuckDB's threads included) of one call."""
    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall:.3f} s ({self.cpu:.2f} CPU s)"


def timed(fn):
    t, c = time.perf_counter(), time.process_time()
    result = fn()
    return Lap(time.perf_counter() - t, time.process_time() - c), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="an ingested demo database (default: generate one)")
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    db = args.db
    if db is None:
        folder = Path(tempfile.mkdtemp(prefix="cjw_kpis_"))
        generate(folder, customers=args.customers, seed=args.seed)
        run_ingest(folder / "cjworkbench.yml", folder / "db.duckdb")
        db = folder / "db.duckdb"
    load = os.getloadavg()
    con = cjworkbench.connect(db)
    n_events = int(con.table("events").count().execute())
    first, card = timed(lambda: scorecard_table(con))
    end = pd.Timestamp(card.attrs["definition"]["as_of"]).date()
    lines = [("first call", first), ("identical call", timed(lambda: scorecard_table(con))[0])]
    as_of = [timed(lambda d=d: scorecard_table(con, as_of=end - dt.timedelta(days=d)))[0] for d in (1, 9, 40)]
    lines.append(("another as_of: 1, 9, 40 days earlier", as_of))
    segments = [timed(lambda s=s: scorecard_table(con, filters={"segment": s}))[0]
                for s in ("Premium", "Value", "Business")]
    lines.append(("new segment Premium / Value / Business", segments))
    lines.append(("same segment, another as_of", timed(lambda: scorecard_table(
        con, filters={"segment": "Value"}, as_of=end - dt.timedelta(days=3)))[0]))
    personas = sorted(set(persona_of(con, design(con, "personas"))["persona"].execute())) \
        if has_design(con, "personas") else []
    if personas:
        lines.append((f"persona '{personas[0]}'", timed(lambda: scorecard_table(con, filters={"persona": personas[0]}))[0]))
    regions = [r for r in sorted(set(con.table("customers").attributes["region"].execute().dropna()))][:2]
    if regions:
        lines.append((f"attribute region = {regions[0]} (first on this key: cube built)",
                      timed(lambda: scorecard_table(con, filters={"attributes": {"region": regions[0]}}))[0]))
        lines.append((f"attribute region = {regions[-1]} (another value)",
                      timed(lambda: scorecard_table(con, filters={"attributes": {"region": regions[-1]}}))[0]))
    sources = sorted(set(con.table("events").source.execute()) | set(con.table("feedback").source.execute()))
    ref = {"source": sources}
    ref_first, ref_card = timed(lambda: scorecard_table(con, filters=ref))
    ref_rerun = timed(lambda: scorecard_table(con, filters=ref, as_of=end - dt.timedelta(days=10)))[0]
    a, b = card["estimate"].to_numpy(float), ref_card["estimate"].to_numpy(float)
    same = bool(((a == b) | (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= 1e-9 * np.maximum(1, np.abs(b)))).all())
    lines += [("reference (events path): first call", ref_first), ("reference (events path): another as_of", ref_rerun)]
    print(f"events: {n_events:,}  KPIs: {len(card)} ({int(card['available'].sum())} available)  "
          f"period: {card['period'].iloc[0]}  load average at start: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    for label, t in lines:
        print(f"  {label:<58} " + (" / ".join(map(str, t)) if isinstance(t, list) else str(t)))
    print(f"same estimates from the cube and the events path: {same}; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; load average at end: "
          + " / ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
