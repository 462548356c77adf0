"""Warm time of each "from insight to action" analysis on a demo database.

Times attribution (every model, Markov orders 1-3), the next-best-action back-test (the rules the
database's designs carry: the demo's designed/actions.yml, matched and weighted) and time to event
(Kaplan-Meier curves and the Cox table): the first call, then the best of `--repeat` runs after it
(warm: DuckDB's caches and the compiled SQL are in place; the conversion paths and a rule's replay
are kept per connection, so every model, order, method and resample count after the first reads
them; the models and the bootstrap run on each call). Intervals use `--resamples`. Before these
were kept (issue #18): 7-16 s warm per analysis on the 10 M-event demo, the odds-weighted bootstrap 81 s.

    .venv/bin/python benchmarks/actions.py --db /tmp/d200/cjworkbench.duckdb   # e.g. `cjw demo-data /tmp/d200 --customers 200000`
    .venv/bin/python benchmarks/actions.py --db demo/cjworkbench.duckdb --repeat 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cjworkbench as cjw


def warm(fn, repeat: int) -> tuple[float, float]:
    """(the first call's time, the best of `repeat` calls after it)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return first, min(times)


def cases(con, rules, n: int) -> dict:
    conv = "checkout_confirmed"
    out = {f"attribution {m}": (lambda m=m: cjw.attribution_table(con, conversion=conv, model=m, n_resamples=n))
           for m in ("last", "linear", "time_decay", "position", "shapley", "markov")}
    out |= {f"attribution markov order {k}": (lambda k=k: cjw.attribution_table(con, conversion=conv, order=k,
                                                                                   n_resamples=n)) for k in (2, 3)}
    out["attribution all models, no intervals"] = lambda: cjw.attribution_table(con, conversion=conv, model="all",
                                                                               n_resamples=0)
    out["actions back-test (match)"] = lambda: cjw.actions_table(con, rules=rules, n_resamples=n)
    out["actions back-test (ipw)"] = lambda: cjw.actions_table(con, rules=rules, method="ipw", n_resamples=n)
    out["actions back-test, no intervals"] = lambda: cjw.actions_table(con, rules=rules, n_resamples=0)
    out["survival curves by segment"] = lambda: cjw.survival_table(con, start="signup", event="order_placed",
                                                                   by="segment")
    out["survival: time to churn"] = lambda: cjw.survival_table(con, outcome="churn", by="segment")
    out["hazard table by has:verify_email"] = lambda: cjw.hazard_table(con, start="signup", event="order_placed",
                                                                       by="has:verify_email")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="a demo database (cjw demo-data + cjw ingest)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--only", default="", help="run the cases whose name contains this text")
    args = ap.parse_args()
    db = Path(args.db)
    con = cjw.connect(db)
    n_events = con.table("events").count().execute()
    print(f"{db}: {n_events:,} events; warm time, best of {args.repeat} (intervals: {args.resamples} resamples)")
    rules = None   # the database's `designs: actions:` (the demo's designed/actions.yml, stored at ingest)
    for name, fn in cases(con, rules, args.resamples).items():
        if args.only in name:
            first, best = warm(fn, args.repeat)
            print(f"  {name:<42} first {first:8.2f} s   warm {best:8.2f} s", flush=True)


if __name__ == "__main__":
    main()
