"""Variants, step matrix, anchor paths and transitions on hand-checked journeys; the stored
derived tables give exactly what the same expressions give on the events."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

import cjworkbench
from cjworkbench.analysis.journeys.paths import paths_around_table, step_matrix_table, variants_table
from cjworkbench.analysis.journeys.transitions import hotspots_table, transitions_table
from cjworkbench.errors import WorkbenchError
from cjworkbench.ingest import run_ingest

from .conftest import write_config

# journey: events (activity @ minute); J1..J4 of customers C1 (Premium), C2, C3 (Value)
EVENTS = [
    ("C1", "J1", 0, "A"), ("C1", "J1", 10, "B"), ("C1", "J1", 10, "C"), ("C1", "J1", 30, "D"),   # tie B/C: file order
    ("C2", "J2", 0, "A"), ("C2", "J2", 5, "B"), ("C2", "J2", 6, "B"), ("C2", "J2", 26, "C"), ("C2", "J2", 27, "D"),
    ("C3", "J3", 0, "A"), ("C3", "J3", 20, "B"), ("C3", "J3", 30, "C"), ("C3", "J3", 90, "D"),
    ("C3", "J4", 1440 * 40, "A"), ("C3", "J4", 1440 * 40 + 7, "D"),
]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paths")
    rows = [f"{c},{j},{pd.Timestamp('2024-01-01') + pd.Timedelta(minutes=m)},{a}" for c, j, m, a in EVENTS]
    (tmp / "e.csv").write_text("cust,journey,ts,act\n" + "\n".join(rows) + "\n")
    (tmp / "c.csv").write_text("cust,segment\nC1,Premium\nC2,Value\nC3,Value\n")
    cfg = write_config(tmp, [
        {"name": "crm", "kind": "customers", "path": "c.csv", "columns": {"customer_id": "cust", "segment": "segment"}},
        {"name": "e", "kind": "events", "path": "e.csv",
         "columns": {"customer_id": "cust", "journey_id": "journey", "event_ts": "ts", "activity": "act"}}])
    run_ingest(cfg, tmp / "db.duckdb")
    connection = cjworkbench.connect(tmp / "db.duckdb")
    connection.path = tmp / "db.duckdb"
    return connection


def test_variants_with_ties_in_file_order(con):
    v = variants_table(con)
    assert dict(zip(v.variant, v.n_journeys)) == {"A → B → C → D": 2, "A → B → B → C → D": 1, "A → D": 1}
    assert v.share.sum() == pytest.approx(1.0) and v.attrs["definition"]["n_variants"] == 3
    collapsed = variants_table(con, loops="collapse")
    assert dict(zip(collapsed.variant, collapsed.n_journeys)) == {"A → B → C → D": 3, "A → D": 1}


def test_top_with_other_bucket_sums_to_one(con):
    v = variants_table(con, top=1)
    assert v.variant.tolist() == ["A → B → C → D", "other (2 variants)"]
    assert v.n_journeys.tolist() == [2, 2] and v.share.sum() == pytest.approx(1.0)


def test_filters_segment_dates_and_unit(con):
    assert variants_table(con, filters={"segment": "Premium"}).n_journeys.tolist() == [1]
    feb = variants_table(con, filters={"start_date": "2024-02-01", "end_date": "2024-02-29"})
    assert feb.variant.tolist() == ["A → D"]                       # J4 starts 2024-02-10
    per_customer = variants_table(con, unit="customer")
    assert dict(zip(per_customer.variant, per_customer.n_journeys))["A → B → C → D → A → D"] == 1
    with pytest.raises(WorkbenchError, match="Unknown unit 'journeys'"):
        variants_table(con, unit="journeys")


def test_step_matrix_columns_sum_to_one(con):
    m = step_matrix_table(con, max_steps=5)
    assert m.groupby("step").share.sum().round(12).tolist() == [1.0] * 5
    cell = m.set_index(["step", "activity"]).n_journeys
    assert cell[(1, "A")] == 4 and cell[(2, "B")] == 3 and cell[(2, "D")] == 1
    assert cell[(3, "(end)")] == 1 and cell[(5, "D")] == 1 and cell[(5, "(end)")] == 3


def test_paths_after_and_before_anchor(con):
    after = paths_around_table(con, anchor="B", direction="after", max_steps=2)
    assert dict(zip(after.variant, after.n_journeys)) == {"C → D": 2, "B → C": 1}
    before = paths_around_table(con, anchor="D", direction="before", max_steps=1)
    assert dict(zip(before.variant, before.n_journeys)) == {"C": 3, "A": 1}


def test_transitions_counts_and_times(con):
    t = transitions_table(con).set_index(["from_activity", "to_activity"])
    assert t.loc[("A", "B"), "n_transitions"] == 3
    assert t.loc[("B", "B"), ["n_transitions", "n_journeys", "n_customers"]].tolist() == [1, 1, 1]
    # C -> D takes 20, 1 and 60 minutes: mean 27, median 20 minutes
    assert t.loc[("C", "D"), "mean_seconds"] == 27 * 60 and t.loc[("C", "D"), "median_seconds"] == 20 * 60
    assert t.loc[("(start)", "A"), "n_transitions"] == 4 and t.loc[("D", "(end)"), "n_transitions"] == 4
    assert t.loc[("A", "D"), "n_customers"] == 1
    assert transitions_table(con, unit="customer").set_index(["from_activity", "to_activity"]).loc[
        ("D", "A"), "n_transitions"] == 1


def test_hotspots_rank_each_kind_on_its_own(con):
    # issue #14: one measure (hours summed) per kind, each kind ranked on its own, n_journeys distinct
    # journeys. The old table ranked transitions by count x median beside activity totals (C -> D was
    # 3 x 20 min = 1 h while its events took 20 + 1 + 60 min) and summed per-edge journey counts.
    h = hotspots_table(con, top=3)
    assert h.kind.tolist() == ["activity"] * 3 + ["transition"] * 3 + ["rework"]
    assert h.groupby("kind", sort=False)["rank"].apply(list).tolist() == [[1, 2, 3], [1, 2, 3], [1]]
    act = h[h.kind == "activity"].set_index("name")
    # after C: 20 + 1 + 60 min = 1.35 h; after A: 10 + 5 + 20 + 7 = 42 min; after B: 0 + 1 + 20 + 10 = 31 min
    assert act.hours_lost.to_dict() == pytest.approx({"C": 1.35, "A": 0.7, "B": 31 / 60})
    # B happens 4 times in 3 journeys (twice in J2): 3 journeys, not the 4 the per-edge sum gave
    assert act.loc["B", ["volume", "n_journeys"]].tolist() == [4, 3] and act.loc["A", "n_journeys"] == 4
    assert act.journey_share["A"] == 1.0 and h.attrs["definition"]["n_in_scope"] == 4
    edge = h[h.kind == "transition"].set_index("name")
    assert edge.loc["C → D", ["volume", "n_journeys", "hours_lost"]].tolist() == [3, 3, pytest.approx(1.35)]
    assert edge.index[0] == "C → D"
    # the rework span of B in J2 counts once: 5 min -> 6 min, one repeat
    assert h[h.kind == "rework"].iloc[0][["name", "volume", "n_journeys", "hours_lost"]].tolist() == [
        "B (repeated)", 1, 1, pytest.approx(1 / 60)]


@pytest.mark.parametrize("filters", [None, {"segment": "Value"}, {"start_date": "2024-01-01", "end_date": "2024-01-31"}])
def test_stored_tables_equal_the_expressions(con, tmp_path, filters):
    """Drop the derived tables from a copy: the expressions on events must give the same tables."""
    import shutil

    copy = tmp_path / "copy.duckdb"
    shutil.copy(con.path, copy)
    with duckdb.connect(str(copy)) as w:
        w.execute("DROP TABLE journey_steps; DROP TABLE journeys")
    slow = cjworkbench.connect(copy)
    for fn in (variants_table, transitions_table, step_matrix_table):
        pd.testing.assert_frame_equal(fn(con, filters=filters), fn(slow, filters=filters), check_dtype=False)
