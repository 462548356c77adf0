"""Segment cubes: a one-segment variants / transitions / funnel read from the by-segment table
equals the same analysis computed on the events (derived tables dropped), and the cube is built
once per connection, only for a filter that is one segment and nothing else."""

from __future__ import annotations

import random
import shutil

import duckdb
import pandas as pd
import pytest

import cjworkbench
from cjworkbench.analysis.journeys.funnels import funnel_table
from cjworkbench.analysis.journeys.paths import variants_table
from cjworkbench.analysis.journeys.transitions import transitions_table
from cjworkbench.errors import WorkbenchError
from cjworkbench.ingest import run_ingest

from .conftest import write_config

ACTS = ["home", "product", "cart", "pay", "done", "help"]
STEPS = ["product", "cart", "pay", "done"]


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    """(database, copy without the derived tables): 60 customers in 2 segments (and 5 without a
    customers row), 1-3 journeys each, ties on the timestamp, repeats and gaps of 1 min-3 h."""
    tmp, rng = tmp_path_factory.mktemp("cube"), random.Random(7)
    rows, t = [], pd.Timestamp("2024-03-01")
    for c in range(65):
        for j in range(rng.randint(1, 3)):
            ts = t + pd.Timedelta(days=rng.randint(0, 20))
            for _ in range(rng.randint(1, 9)):
                ts += pd.Timedelta(minutes=rng.choice([0, 1, 5, 30, 180]))
                act = STEPS[min(len(rows) % 5, 3)] if rng.random() < 0.5 else rng.choice(ACTS)
                rows.append(f"C{c},C{c}-{j},{ts},{act}")
    (tmp / "e.csv").write_text("cust,journey,ts,act\n" + "\n".join(rows) + "\n")
    (tmp / "c.csv").write_text("cust,segment\n" + "".join(f"C{c},{'Premium' if c % 3 else 'Value'}\n" for c in range(60)))
    cfg = write_config(tmp, [
        {"name": "crm", "kind": "customers", "path": "c.csv", "columns": {"customer_id": "cust", "segment": "segment"}},
        {"name": "e", "kind": "events", "path": "e.csv",
         "columns": {"customer_id": "cust", "journey_id": "journey", "event_ts": "ts", "activity": "act"}}])
    run_ingest(cfg, tmp / "db.duckdb")
    shutil.copy(tmp / "db.duckdb", tmp / "events_only.duckdb")
    with duckdb.connect(str(tmp / "events_only.duckdb")) as w:
        w.execute("DROP TABLE journey_steps; DROP TABLE journeys")
    return tmp / "db.duckdb", tmp / "events_only.duckdb"


CALLS = {
    "variants": lambda con, f: variants_table(con, filters=f, top=None),
    "variants top 3": lambda con, f: variants_table(con, filters=f, top=3),
    "transitions": lambda con, f: transitions_table(con, filters=f),
    "funnel": lambda con, f: funnel_table(con, steps=STEPS, filters=f),
    "funnel any, 1h": lambda con, f: funnel_table(con, steps=STEPS, order="any", window="1h", filters=f),
    "funnel strict": lambda con, f: funnel_table(con, steps=STEPS[:3], order="strict", filters=f),
    "funnel attempts": lambda con, f: funnel_table(con, steps=STEPS, unit="attempt", optional=[3], filters=f),
}


def _cubes(con) -> list:
    return [k for k in getattr(con, "_cjw_memos", {}).get("result", {}) if k[0] == "segment cube"]


def test_one_segment_from_the_cube_equals_the_events(dbs):
    db, events_only = dbs
    con, slow = cjworkbench.connect(db), cjworkbench.connect(events_only)
    for name, call in CALLS.items():
        for seg in ("Premium", ["Value"]):
            got, want = call(con, {"segment": seg}), call(slow, {"segment": seg})
            pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=f"{name}, {seg}")
            assert got.attrs == want.attrs
    # one cube per analysis definition, built by the first segment and read by the second
    assert len(_cubes(con)) == 6 and len(_cubes(slow)) == 0
    with pytest.raises(WorkbenchError, match="Unknown segment 'Nope'"):
        variants_table(con, filters={"segment": "Nope"})


@pytest.mark.parametrize("filters", [{"segment": ["Premium", "Value"]}, {"segment": "Premium", "start_date": "2024-03-05"},
                                     {"segment": "Premium", "channel": "web"}, None])
def test_other_filters_never_read_a_cube(dbs, filters):
    con = cjworkbench.connect(dbs[0])
    for call in (CALLS["variants top 3"], CALLS["transitions"], CALLS["funnel"]):   # the gate is shared
        try:
            call(con, filters)
        except WorkbenchError:   # channel 'web' is not in the data: the same error as before
            pass
    assert _cubes(con) == []


def test_a_cube_that_runs_out_of_memory_falls_back_to_the_filtered_query(dbs, monkeypatch):
    """At 100 M events a 1 GB connection cannot build a cube (it reads every segment) but can run
    the filtered query: the answer is the same, and the failed build is not tried again."""
    import duckdb

    from cjworkbench.analysis.journeys import funnels, paths, transitions

    def failing(module, name, is_cube):
        real = getattr(module, name)

        def fn(*args):
            if is_cube(*args):
                raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block")
            return real(*args)
        monkeypatch.setattr(module, name, fn)

    failing(paths, "_variants", lambda j, by: by == ["segment"])
    failing(transitions, "_grouped", lambda st, exact, by: by == ["segment"])
    failing(funnels, "_wide", lambda con, f: f.by == "segment")
    con, slow = cjworkbench.connect(dbs[0]), cjworkbench.connect(dbs[1])
    for name in ("variants top 3", "transitions", "funnel"):
        for _ in range(2):
            pd.testing.assert_frame_equal(CALLS[name](con, {"segment": "Value"}),
                                          CALLS[name](slow, {"segment": "Value"}), check_dtype=False)
    memos = con._cjw_memos["result"]
    assert len(_cubes(con)) == 3 and all(memos[k] is None for k in _cubes(con))
