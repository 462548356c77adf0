"""The stored `sessions` table (`cjworkbench.sessions`) on the hand-worked log of test_measures:
built by hand-checkable rows, read by the KPIs only when its rule is the one asked for, rebuilt
for some customers only; roles and targets from the designs; `by=` a customer attribute."""

from __future__ import annotations

import json
import shutil

import duckdb
import ibis
import pandas as pd
import pytest

import cjworkbench
from cjworkbench.analysis.measures import MeasureError, kpi_table, scorecard_table
from cjworkbench.analysis.measures.kpis import context
from cjworkbench.analysis.measures.units import stored_sessions
from cjworkbench.contract import DDL
from cjworkbench.sessions import build_sessions

from .test_measures import EXPECTED, write_db

WEB = ["bounce_rate", "conversion_rate", "cart_abandonment", "checkout_abandonment", "checkout_time"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The tiny log with sessions stored (as the ingest does) and designs: roles, targets."""
    path = tmp_path_factory.mktemp("sessions") / "db.duckdb"
    write_db(path)
    con = ibis.duckdb.connect(str(path))
    build_sessions(con)
    con.disconnect()
    raw = duckdb.connect(str(path))
    raw.execute(DDL["designs"])
    raw.execute("INSERT INTO designs VALUES ('targets', 'targets', ?, '', now())",
                [json.dumps({"bounce_rate": 0.4, "checkout_abandonment": 0.25})])
    raw.execute("UPDATE customers SET attributes = MAP {'tier': 'gold'} WHERE customer_id = 'A'")
    raw.close()
    return path


def sessions_of(path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as raw:
        return raw.sql("SELECT customer_id, session_no, hits, single, cart, goal FROM sessions "
                       "ORDER BY customer_id, session_no").df()


def test_stored_sessions_by_hand(stored):
    s = sessions_of(stored)
    # A: 4 hits and the web order then 1 (75 min later); B: 3 hits (the cart exactly 30 min after home stays
    # in; B's order is by phone); C: 1 app hit
    assert s[["customer_id", "session_no", "hits"]].values.tolist() == [["A", 1, 5], ["A", 2, 1], ["B", 1, 3],
                                                                        ["C", 1, 1]]
    assert s["single"].tolist() == [False, True, False, True]
    assert s["cart"].tolist() == [True, False, True, False] and s["goal"].tolist() == [True, False, False, False]


def test_kpis_read_the_stored_table_only_when_its_rule_matches(stored):
    con = cjworkbench.connect(stored)
    assert stored_sessions(context(con)[0])
    assert stored_sessions(context(con, filters={"segment": "Value"})[0])       # whole customers: still exact
    assert not stored_sessions(context(con, gap_minutes=29)[0])
    assert not stored_sessions(context(con, filters={"channel": "web"})[0])     # an event-level filter
    assert not stored_sessions(context(con, roles={"goal": "view_cart"})[0])
    df = kpi_table(con, kpis=WEB).set_index("kpi")
    for name in WEB:
        assert (df.loc[name, "estimate"], df.loc[name, "n_units"]) == (pytest.approx(EXPECTED[name][0]),
                                                                      EXPECTED[name][1]), name
    # segment Value (B, C) from the stored table; web-only (no C's app hit) cut on the fly
    value = kpi_table(con, kpis=["bounce_rate"], filters={"segment": "Value"}).iloc[0]
    web = kpi_table(con, kpis=["bounce_rate"], filters={"channel": "web"}).iloc[0]
    assert (value["estimate"], value["n_units"]) == (0.5, 2) and (web["estimate"], web["n_units"]) == (1 / 3, 3)
    # a 29-minute gap cuts B's session at the 30-minute gap: B home | cart, checkout -> 5 sessions, 3 bounces
    gap = kpi_table(con, kpis=["bounce_rate"], gap_minutes=29).iloc[0]
    assert (gap["estimate"], gap["n_units"]) == (pytest.approx(3 / 5), 5)


def test_rebuild_for_some_customers(stored, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copy(stored, path)
    with duckdb.connect(str(path)) as raw:   # a new hit of A three hours later, and of C within C's session
        raw.execute("INSERT INTO events (customer_id, event_ts, event_date, activity, channel, source, seq) VALUES "
                    "('A', TIMESTAMP '2026-03-02 15:00', DATE '2026-03-02', 'view_home', 'web', 'log', 100), "
                    "('C', TIMESTAMP '2026-03-02 08:10', DATE '2026-03-02', 'view_cart', 'app', 'log', 101)")
        raw.execute("CREATE TABLE touched AS SELECT 'A' AS customer_id")
    con = ibis.duckdb.connect(str(path))
    build_sessions(con, customers=con.table("touched"))   # the model.py protocol: only A's rows are rebuilt
    con.disconnect()
    s = sessions_of(path)
    assert s[["customer_id", "hits"]].values.tolist() == [["A", 5], ["A", 1], ["A", 1], ["B", 3], ["C", 1]]
    with duckdb.connect(str(path)) as raw:
        raw.execute("UPDATE touched SET customer_id = 'C'")
    con = ibis.duckdb.connect(str(path))
    build_sessions(con, customers=con.table("touched"))
    con.disconnect()
    assert sessions_of(path)[["customer_id", "hits"]].values.tolist()[-1] == ["C", 2]


def test_targets_and_roles_from_the_designs(stored, tmp_path):
    con = cjworkbench.connect(stored)
    card = scorecard_table(con, kpis=["bounce_rate", "checkout_abandonment", "nps"], as_of="2026-03-31")
    card = card.set_index("kpi")
    assert card.loc["bounce_rate", "target"] == 0.4 and card.loc["bounce_rate", "target_gap"] == pytest.approx(0.1)
    assert not card.loc["bounce_rate", "target_met"]
    assert card.loc["checkout_abandonment", "target_gap"] == pytest.approx(0.25)
    assert pd.isna(card.loc["nps", "target"]) and pd.isna(card.loc["nps", "target_gap"])
    assert card.attrs["definition"]["targets_from"] == "designs: targets"
    given = scorecard_table(con, kpis=["bounce_rate"], as_of="2026-03-31", targets={"bounce_rate": 0.6}).iloc[0]
    assert given["target"] == 0.6 and given["target_met"]
    path = tmp_path / "roles.duckdb"
    shutil.copy(stored, path)
    with duckdb.connect(str(path)) as raw:
        raw.execute("INSERT INTO designs VALUES ('roles', 'roles', ?, '', now())", [json.dumps({"goal": "view_cart"})])
    df = kpi_table(cjworkbench.connect(path), kpis=["conversion_rate"])
    assert df.iloc[0]["estimate"] == pytest.approx(2 / 4)        # A1 and B1 have a cart hit
    assert df.attrs["definition"]["roles"]["goal"] == "designs: roles"


def test_by_a_customer_attribute(stored):
    con = cjworkbench.connect(stored)
    df = kpi_table(con, kpis=["conversion_rate"], by="tier")
    assert df[["tier", "estimate", "n_units"]].values.tolist() == [["(none)", 0.0, 2], ["gold", 0.5, 2]]
    with pytest.raises(MeasureError, match="event attribute"):
        kpi_table(con, kpis=["conversion_rate"], by="handle_s")
    with pytest.raises(MeasureError, match="Did you mean 'tier'"):
        kpi_table(con, kpis=["conversion_rate"], by="tierr")
