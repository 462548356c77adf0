"""Funnels on tiny hand-checked logs: order modes, window, optional and excluded steps, units,
entry dates, by= groups, times, drop-off next activities, hostile values, the real helpdesk log."""

from __future__ import annotations

import csv
import datetime as dt
import re
import time

import pandas as pd
import pytest
import yaml

import cjworkbench
from cjworkbench.scope import FilterError
from cjworkbench.analysis.journeys.funnels import (funnel_dropoff_next_table, funnel_table, funnel_times_table,
                                          parse_window)
from cjworkbench.ingest import run_ingest

from .conftest import ROOT, write_config

ABC = ["A", "B", "C"]


def _db(tmp_path, events, customers=None):
    """Ingest (customer, journey, 'YYYY-MM-DD HH:MM:SS', activity, channel) rows, in file order."""
    with open(tmp_path / "events.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("cust", "journey", "ts", "act", "chan"), *events])
    sources = [{"name": "web", "kind": "events", "path": "events.csv",
                "columns": {"customer_id": "cust", "journey_id": "journey", "event_ts": "ts",
                            "activity": "act", "channel": "chan"}}]
    if customers:
        with open(tmp_path / "customers.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([("cust", "segment"), *customers.items()])
        sources.append({"name": "crm", "kind": "customers", "path": "customers.csv",
                        "columns": {"customer_id": "cust", "segment": "segment"}})
    run_ingest(write_config(tmp_path, sources), tmp_path / "db.duckdb")
    return cjworkbench.connect(tmp_path / "db.duckdb")


def _journey(cust, journey, day, *steps, chan="web"):
    """Events of one journey: steps are (time, activity), time 'HH:MM[:SS]' on `day` or a full timestamp."""
    return [(cust, journey, at if len(at) > 8 else f"{day} {at}", act, chan) for at, act in steps]


def _n(df) -> list[int]:
    return df["n_entered"].tolist()


@pytest.fixture
def orders(tmp_path):
    # J1: A B C        converts in every mode
    # J2: A X B C      X sits between A and B: ordered and any convert, strict stops at A
    # J3: A C B        C before B: ordered reaches B only, any converts, strict stops at A
    return _db(tmp_path, _journey("c1", "j1", "2024-01-01", ("10:00", "A"), ("10:05", "B"), ("10:10", "C"))
               + _journey("c2", "j2", "2024-01-01", ("10:00", "A"), ("10:01", "X"), ("10:02", "B"), ("10:03", "C"))
               + _journey("c3", "j3", "2024-01-02", ("09:00", "A"), ("09:30", "C"), ("10:00", "B")))


def test_order_modes(orders):
    ordered = funnel_table(orders, steps=ABC)
    assert _n(ordered) == [3, 3, 2]
    assert ordered["n_dropped"].tolist() == [0, 0, 1]                            # J3 has no C after its B
    assert ordered["conversion_from_start"].tolist() == pytest.approx([1, 1, 2 / 3])
    assert _n(funnel_table(orders, steps=ABC, order="strict")) == [3, 1, 1]     # only J1 is A,B,C back to back
    any_order = funnel_table(orders, steps=ABC, order="any")
    assert _n(any_order) == [3, 3, 3]
    # any: step 3 is reached when both B and C have happened: J1 10m, J2 3m, J3 60m (B at 10:00) -> median 10m
    assert any_order["median_seconds_to_step"].tolist() == [0, 300, 600]
    # B alone: J1 300 s, J2 120 s, J3 3600 s -> median 300; p90 = 300 + 0.8 * (3600 - 300) = 2940
    assert any_order["p90_seconds_to_step"].tolist()[1] == pytest.approx(2940)


def test_equal_timestamps_follow_file_order(tmp_path):
    # j1 lists A then B at the same second, j2 lists B then A: only j1's B comes after its A
    con = _db(tmp_path, _journey("c1", "j1", "2024-01-01", ("10:00", "A"), ("10:00", "B"))
              + _journey("c2", "j2", "2024-01-01", ("10:00", "B"), ("10:00", "A")))
    for order in ("ordered", "strict", "any"):
        df = funnel_table(con, steps=["A", "B"], order=order)
        assert _n(df) == [2, 1] and df["median_seconds_to_step"].tolist() == [0, 0]


def test_window_is_inclusive(tmp_path):
    # j1: B exactly 7 days (604,800 s) after A; j2: B one second later
    con = _db(tmp_path, _journey("c1", "j1", "2024-01-01", ("12:00", "A"), ("2024-01-08 12:00", "B"))
              + _journey("c2", "j2", "2024-01-01", ("12:00", "A"), ("2024-01-08 12:00:01", "B")))
    for order in ("ordered", "strict", "any"):
        assert _n(funnel_table(con, steps=["A", "B"], order=order, window="7d")) == [2, 1]
        assert _n(funnel_table(con, steps=["A", "B"], order=order, window="168h")) == [2, 1]
        assert _n(funnel_table(con, steps=["A", "B"], order=order, window=604_801)) == [2, 2]
        assert _n(funnel_table(con, steps=["A", "B"], order=order)) == [2, 2]


def test_parse_window():
    assert [parse_window(w) for w in ("7d", "24h", "30min", "30m", "90s", "1.5h", "2 weeks", 60, None)] == \
        [604_800, 86_400, 1_800, 1_800, 90, 5_400, 1_209_600, 60, None]
    assert parse_window(dt.timedelta(hours=1)) == 3_600
    with pytest.raises(FilterError, match="window must be a duration like '7d'.*got '7 parsecs'"):
        parse_window("7 parsecs")
    with pytest.raises(FilterError, match="zero or more"):
        parse_window(-5)


@pytest.fixture
def optional_log(tmp_path):
    # J1: A B C   J2: A X B C   J3: A C B   J4: A B X C
    return _db(tmp_path, _journey("c1", "j1", "2024-01-01", ("10:00", "A"), ("10:05", "B"), ("10:10", "C"))
               + _journey("c2", "j2", "2024-01-01", ("10:00", "A"), ("10:01", "X"), ("10:02", "B"), ("10:03", "C"))
               + _journey("c3", "j3", "2024-01-01", ("10:00", "A"), ("10:01", "C"), ("10:02", "B"))
               + _journey("c4", "j4", "2024-01-01", ("10:00", "A"), ("10:01", "B"), ("10:02", "X"), ("10:03", "C")))


def test_optional_step(optional_log):
    steps = ["A", "X", "B", "C"]
    df = funnel_table(optional_log, steps=steps, optional=["X"])
    # ordered: X after A in J2, J4 -> 2; B in all four (skipping X); C after B in J1, J2, J4 -> 3
    assert _n(df) == [4, 2, 4, 3]
    assert df["optional"].tolist() == [False, True, False, False]
    assert df["previous_step"].tolist() == [pd.NA, 1, 1, 3]                    # X is never B's previous step
    assert df["n_dropped"].tolist() == [0, 2, 0, 1]                            # 2 skipped X, J3 dropped at C
    assert df["conversion_from_previous"].tolist() == [1, 0.5, 1, 0.75]
    # strict: J1 A,B,C (X skipped); J2 A,X,B,C; J3 stops at A (C follows A); J4 A,B then X, not C
    # -> X: J2; B: J1, J2, J4; C: J1, J2
    assert _n(funnel_table(optional_log, steps=steps, optional=[2], order="strict")) == [4, 1, 3, 2]
    # any: X in J2, J4; B in all; C in all (J3's C before B still counts)
    assert _n(funnel_table(optional_log, steps=steps, optional=2, order="any")) == [4, 2, 4, 4]


def test_excluded_step(tmp_path):
    con = _db(tmp_path, _journey("c1", "j1", "2024-01-01", ("10:00", "A"), ("10:01", "B"), ("10:02", "C"))
              + _journey("c2", "j2", "2024-01-01", ("10:00", "A"), ("10:01", "X"), ("10:02", "B"), ("10:03", "C"))
              + _journey("c3", "j3", "2024-01-01", ("10:00", "A"), ("10:01", "B"), ("10:02", "X"), ("10:03", "C"))
              + _journey("c4", "j4", "2024-01-01", ("09:00", "X"), ("10:00", "A"), ("10:01", "B"), ("10:02", "C"))
              + _journey("c5", "j5", "2024-01-01", ("10:00", "A"), ("10:01", "B"), ("10:02", "C"), ("10:03", "X")))
    assert _n(funnel_table(con, steps=ABC)) == [5, 5, 5]
    # J2 dropped at B (X after A), J3 at C (X after B); X before entry (J4) or after conversion (J5) is harmless
    df = funnel_table(con, steps=ABC, exclude=["X"])
    assert _n(df) == [5, 4, 3] and df["n_dropped"].tolist() == [0, 1, 1]
    assert df.attrs["definition"]["exclude"] == [{"activity": ("X",), "label": "X"}]
    assert _n(funnel_table(con, steps=ABC, exclude="X", order="any")) == [5, 4, 3]
    assert _n(funnel_table(con, steps=ABC, exclude=[{"activity": "X"}], order="strict")) == [5, 4, 3]


def test_customer_unit_spans_journeys(tmp_path):
    # c1 starts in journey j1 (A) and finishes in j2 (B, C); c2: j3 = A B; c3 has no journey id: A B C
    con = _db(tmp_path, _journey("c1", "j1", "2024-01-01", ("10:00", "A"))
              + _journey("c1", "j2", "2024-01-02", ("10:00", "B"), ("10:05", "C"))
              + _journey("c2", "j3", "2024-01-01", ("10:00", "A"), ("10:05", "B"))
              + _journey("c3", "", "2024-01-01", ("10:00", "A"), ("10:05", "B"), ("10:10", "C")))
    assert _n(funnel_table(con, steps=ABC)) == [3, 2, 1]                       # j1, j3, c3 enter; j2 has no A
    assert _n(funnel_table(con, steps=ABC, unit="customer")) == [3, 3, 2]
    assert _n(funnel_table(con, steps=ABC, unit="customer", order="strict")) == [3, 3, 2]


def test_session_unit_splits_after_30_minutes(tmp_path):
    # c1: A (web journey w1) 10:00, B (phone journey p1) 10:20, then 41 min later C: two visits
    con = _db(tmp_path, _journey("c1", "w1", "2024-01-01", ("10:00", "A"))
              + _journey("c1", "p1", "2024-01-01", ("10:20", "B"), ("11:01", "C")))
    assert _n(funnel_table(con, steps=ABC, unit="session")) == [1, 1, 0]
    assert _n(funnel_table(con, steps=ABC, unit="customer")) == [1, 1, 1]
    assert _n(funnel_table(con, steps=ABC)) == [1, 0, 0]                       # w1 holds only A


def test_stored_steps_and_computed_route_agree(optional_log):
    """Journey units read positions from the stored `journey_steps`; an event filter that keeps
    every event forces the route that computes them: both must give the same table."""
    for order in ("ordered", "strict", "any"):
        for unit in ("journey", "attempt"):
            kw = {"steps": ["A", "X", "B", "C"], "optional": [2], "order": order, "unit": unit, "window": "150s"}
            every = {"channel": "web"}                                         # all events are web
            stored, computed = funnel_table(optional_log, **kw), funnel_table(optional_log, filters=every, **kw)
            pd.testing.assert_frame_equal(stored, computed)
            nxt = [funnel_dropoff_next_table(optional_log, at_step=4, filters=fl, **kw) for fl in (None, every)]
            pd.testing.assert_frame_equal(*nxt)


def test_attempt_unit(tmp_path):
    # J1: A A B C (two attempts: 10:00 alone, 11:00 converts); J2: A B; J3: A B A (second attempt: A only)
    con = _db(tmp_path, _journey("c1", "j1", "2024-01-01", ("10:00", "A"), ("11:00", "A"), ("11:10", "B"),
                                 ("11:20", "C"))
              + _journey("c2", "j2", "2024-01-01", ("10:00", "A"), ("10:05", "B"))
              + _journey("c3", "j3", "2024-01-01", ("10:00", "A"), ("10:05", "B"), ("10:30", "A")))
    assert _n(funnel_table(con, steps=ABC)) == [3, 3, 1]
    df = funnel_table(con, steps=ABC, unit="attempt")
    assert _n(df) == [5, 3, 1]
    # B: J1 10 min after the 11:00 attempt, J2 5 min, J3 5 min -> median 300 s
    assert df["median_seconds_to_step"].tolist() == [0, 300, 1_200]
    assert _n(funnel_table(con, steps=ABC, order="strict")) == [3, 2, 0]        # J1's A is followed by A
    assert _n(funnel_table(con, steps=ABC, order="strict", unit="attempt")) == [5, 3, 1]
    assert _n(funnel_table(con, steps=ABC, order="any", unit="attempt")) == [5, 3, 1]


def test_entry_date_range_applies_to_step_one_only(tmp_path):
    con = _db(tmp_path, _journey("c1", "j1", "2024-01-31", ("23:50", "A"), ("2024-02-01 00:10", "B"))
              + _journey("c2", "j2", "2024-02-01", ("09:00", "A"), ("09:05", "B"))
              + _journey("c3", "j3", "2024-01-05", ("2023-12-31 23:00", "A"), ("09:00", "A"), ("09:01", "B")))
    df = funnel_table(con, steps=["A", "B"], start_date="2024-01-01", end_date="2024-01-31")
    # j1 enters on 31 Jan and its B on 1 Feb counts; j2 enters after end_date; j3 enters at its 5 Jan A
    assert _n(df) == [2, 2]
    # B: j1 1,200 s, j3 60 s -> median 630; p90 = 60 + 0.9 * 1,140 = 1,086
    assert df["median_seconds_to_step"].tolist()[1] == 630
    assert df["p90_seconds_to_step"].tolist()[1] == pytest.approx(1_086)
    everything = funnel_table(con, steps=["A", "B"])
    assert _n(everything) == [3, 3]
    # j3 now enters on 31 Dec 23:00: B 4 d 10 h 1 min later = 381,660 s; sorted 300, 1,200, 381,660
    assert everything["median_seconds_to_step"].tolist()[1] == 1_200
    assert everything.attrs["definition"]["entry_rule"].endswith("the date range applies to step 1 only")


def test_by_takes_the_entry_value(tmp_path):
    # j1 enters on web and converts on app; j2 all app; j3 web, no B; j4's customer has no CRM row
    con = _db(tmp_path, [("c1", "j1", "2024-01-01 10:00", "A", "web"), ("c1", "j1", "2024-01-01 10:01", "B", "app"),
                         ("c2", "j2", "2024-01-01 10:00", "A", "app"), ("c2", "j2", "2024-01-01 10:02", "B", "app"),
                         ("c3", "j3", "2024-01-01 10:00", "A", "web"), ("c4", "j4", "2024-01-01 10:00", "A", "")],
              customers={"c1": "gold", "c2": "gold", "c3": "silver"})
    df = funnel_table(con, steps=["A", "B"], by="channel")
    got = {(r.channel, r.step): r.n_entered for r in df.itertuples()}
    assert got == {("web", 1): 2, ("web", 2): 1, ("app", 1): 1, ("app", 2): 1, ("(none)", 1): 1, ("(none)", 2): 0}
    seg = funnel_table(con, steps=["A", "B"], by="segment")
    got = {(r.segment, r.step): (r.n_entered, r.median_seconds_to_step) for r in seg.itertuples()}
    assert got[("gold", 2)] == (2, 90)                                          # 60 s and 120 s
    assert got[("silver", 2)][0] == 0 and got[("(none)", 1)] == (1, 0)
    assert seg["segment"].tolist()[:2] == ["gold", "gold"]                     # biggest group first
    with pytest.raises(FilterError, match="Unknown by 'chanel'.*Did you mean 'channel'"):
        funnel_table(con, steps=["A", "B"], by="chanel")


@pytest.fixture
def timed(tmp_path):
    # to B: 60, 120, 300 s; to C: 600 s, 3,600 s, 1 d 1 h = 90,000 s; j4 never reaches C
    return _db(tmp_path, _journey("c1", "j1", "2024-01-01", ("10:00", "A"), ("10:01", "B"), ("10:10", "C"))
               + _journey("c2", "j2", "2024-01-01", ("10:00", "A"), ("10:02", "B"), ("11:00", "C"))
               + _journey("c3", "j3", "2024-01-01", ("10:00", "A"), ("10:05", "B"), ("2024-01-02 11:00", "C"))
               + _journey("c4", "j4", "2024-01-01", ("10:00", "A"), ("10:01", "Y")))


def test_time_to_convert(timed):
    df = funnel_table(timed, steps=ABC)
    assert df["median_seconds_to_step"].tolist() == [0, 120, 3_600]
    # p90 of 3 values sits at rank 1.8: B 120 + 0.8 * 180 = 264; C 3,600 + 0.8 * 86,400 = 72,720
    assert df["p90_seconds_to_step"].tolist() == pytest.approx([0, 264, 72_720])
    bins = funnel_times_table(timed, steps=ABC)
    hit = bins[bins["n_converted"] > 0]
    assert hit["bin"].tolist() == ["5m–15m", "1h–6h", "1d–3d"] and hit["n_converted"].tolist() == [1, 1, 1]
    assert bins["share"].sum() == pytest.approx(1) and bins["cumulative_share"].iloc[-1] == pytest.approx(1)
    coarse = funnel_times_table(timed, steps=ABC, bins=["1h", "1d"])
    # 600 s < 1 h; 3,600 s falls in [1 h, 1 d); 90,000 s >= 1 d
    assert coarse[["bin", "n_converted"]].values.tolist() == [["0s–1h", 1], ["1h–1d", 1], ["1d+", 1]]
    assert coarse.attrs["definition"]["n_converted"] == 3


def test_dropoff_next_activity(tmp_path):
    con = _db(tmp_path, _journey("c1", "j1", "2024-01-01", ("10:00", "A"), ("10:01", "B"), ("10:02", "C"))
              + _journey("c2", "j2", "2024-01-01", ("10:00", "A"), ("10:01", "X"))
              + _journey("c3", "j3", "2024-01-01", ("10:00", "A"))
              + _journey("c4", "j4", "2024-01-01", ("10:00", "A"), ("10:01", "X"), ("10:02", "Y"))
              + _journey("c5", "j5", "2024-01-01", ("10:00", "A"), ("10:01", "Y"), ("10:02", "B"), ("10:03", "Z")))
    df = funnel_dropoff_next_table(con, steps=ABC, at_step=2)
    # dropped at B: j2 and j4 did X next, j3 nothing -> (end)
    assert df[["next_activity", "n_dropped"]].values.tolist() == [["X", 2], ["(end)", 1]]
    assert df["share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert df.attrs["definition"]["n_dropped"] == funnel_table(con, steps=ABC)["n_dropped"].tolist()[1]
    # dropped at C: j5 after its B did Z (the Y between A and B is not 'next')
    assert funnel_dropoff_next_table(con, steps=ABC, at_step="C")["next_activity"].tolist() == ["Z"]
    # strict: j5 drops at B too (Y follows A)
    strict = funnel_dropoff_next_table(con, steps=ABC, at_step=2, order="strict", top=1)
    assert strict[["next_activity", "n_dropped"]].values.tolist() == [["X", 2], ["other (2 activities)", 2]]
    with pytest.raises(FilterError, match="at_step must be step 2 or later"):
        funnel_dropoff_next_table(con, steps=ABC, at_step=1)


def test_predicate_steps(tmp_path):
    # j1: view (web), pay (app); j2: browse, pay (web); j3: home (web), pay (app)
    day = "2024-01-01"
    con = _db(tmp_path, _journey("c1", "j1", day, ("10:00", "view"))
              + _journey("c1", "j1", day, ("10:01", "pay"), chan="app")
              + _journey("c2", "j2", day, ("10:00", "browse"), ("10:01", "pay"))
              + _journey("c3", "j3", day, ("10:00", "home"))
              + _journey("c3", "j3", day, ("10:01", "pay"), chan="app"))
    df = funnel_table(con, steps=[{"activity": ["view", "browse"], "label": "look"},
                                  {"activity": "pay", "channel": "app", "label": "pay in app"}])
    assert df["label"].tolist() == ["look", "pay in app"] and _n(df) == [2, 1]
    labels = funnel_table(con, steps=[{"activity": ["view", "browse"]}, "pay"])["label"].tolist()
    assert labels == ["activity=view|browse", "pay"]


def test_bad_options_say_what_to_do(orders):
    cases = [({"order": "strct"}, "Unknown order 'strct'. Expected one of: ordered, strict, any. "
                                  "Did you mean 'strict'?"),
             ({"unit": "customers"}, "Unknown unit 'customers'. Expected one of: journey, customer, session, "
                                     "attempt. Did you mean 'customer'?"),
             ({"optional": [1]}, "The first and last steps cannot be optional (steps 1 and 3)."),
             ({"optional": ["Q"]}, "Unknown optional step 'Q'. Expected one of: 1, 2, 3, A, B, C."),
             ({"steps": [{"activty": "A"}]}, "Unknown step column 'activty'."),
             ({"steps": [{"activity": []}]}, "step column 'activity' needs text"),
             ({"steps": "A"}, "steps must be a non-empty list"),
             ({"window": "a week"}, "window must be a duration like '7d'"),
             ({"start_date": "31/01/2024"}, "start_date must be a date like 2026-01-31, got '31/01/2024'."),
             ({"filters": {"chanel": "web"}}, "Unknown filter in ['chanel']")]
    for options, message in cases:
        with pytest.raises(FilterError, match=re.escape(message)):
            funnel_table(orders, **{"steps": ABC, **options})


def test_definition_states_the_rules(orders):
    df = funnel_table(orders, steps=["A", "X", "B"], order="strict", window="1h", unit="attempt", optional=["X"],
                      exclude=["C"], filters={"channel": "web"}, start_date="2024-01-01")
    d = df.attrs["definition"]
    assert (d["unit"], d["order"], d["window"], d["window_seconds"]) == ("attempt", "strict", "1h", 3600)
    assert d["optional"] == ["X"] and d["exclude"] == [{"activity": ("C",), "label": "C"}]
    assert d["time_zone"] == "UTC" and "seq" in d["tie_rule"] and d["filters"] == {"channel": "web"}
    assert d["n_entered"] == 3 and d["start_date"] == "2024-01-01"                # one attempt per web journey
    for rule in ("order_rule", "unit_rule", "entry_rule", "window_rule", "optional_rule", "exclusion_rule"):
        assert d[rule]


HOSTILE = ["O'Brien's step", "'; DROP TABLE events; --", "Zoë ✓ 🚀", 'say "hi"']


def test_hostile_values(tmp_path):
    con = _db(tmp_path, [("c1", "j1", "2024-01-01 10:00", HOSTILE[0], HOSTILE[3]),
                         ("c1", "j1", "2024-01-01 10:01", HOSTILE[1], "web"),
                         ("c1", "j1", "2024-01-01 10:02", HOSTILE[2], "web"),
                         ("c2", "j2", "2024-01-01 10:00", HOSTILE[0], "web"),
                         ("c2", "j2", "2024-01-01 10:01", HOSTILE[2], "web")])
    steps = [{"activity": HOSTILE[0], "label": HOSTILE[3]}, HOSTILE[1], HOSTILE[2]]
    # an excluded activity no event has is an error naming the real ones (issue #14); it used to exclude
    # nothing silently, so the counts below are those of the funnel without it
    with pytest.raises(FilterError, match="Unknown activity"):
        funnel_table(con, steps=steps, exclude=[HOSTILE[3]])
    df = funnel_table(con, steps=steps, by="channel", optional=[HOSTILE[1]],
                      filters={"channel": [HOSTILE[3], "web"]})
    assert {(r.channel, r.label): r.n_entered for r in df.itertuples()} == {
        (HOSTILE[3], HOSTILE[3]): 1, (HOSTILE[3], HOSTILE[1]): 1, (HOSTILE[3], HOSTILE[2]): 1,
        ("web", HOSTILE[3]): 1, ("web", HOSTILE[1]): 0, ("web", HOSTILE[2]): 1}
    for order in ("strict", "any"):                                              # j2 skips the optional step
        assert _n(funnel_table(con, steps=steps, order=order, optional=2)) == [2, 1, 2]
    nxt = funnel_dropoff_next_table(con, steps=steps[:2], at_step=HOSTILE[1])
    assert nxt["next_activity"].tolist() == [HOSTILE[2]]
    assert con.table("events").count().execute() == 5                          # the table is still there


def test_real_helpdesk_matches_pandas(tmp_path, real_data):
    """A 4-step funnel on the real helpdesk log equals a plain pandas walk over the same events."""
    doc = yaml.safe_load((ROOT / "examples" / "real" / "helpdesk.yml").read_text())
    for src in doc["sources"]:
        src["path"] = str((ROOT / "examples" / "real" / src["path"]).resolve())
    (tmp_path / "helpdesk.yml").write_text(yaml.safe_dump(doc))
    run_ingest(tmp_path / "helpdesk.yml", tmp_path / "helpdesk.duckdb")
    con = cjworkbench.connect(tmp_path / "helpdesk.duckdb")
    steps = ["Assign seriousness", "Take in charge ticket", "Resolve ticket", "Closed"]
    started = time.perf_counter()
    got = {order: _n(funnel_table(con, steps=steps, order=order, window="30d")) for order in ("ordered", "strict")}
    assert time.perf_counter() - started < 10
    ev = con.table("events").select("journey_id", "event_ts", "seq", "activity").execute()
    ev = ev.sort_values(["journey_id", "event_ts", "seq"])
    want = {"ordered": [0] * 4, "strict": [0] * 4}
    for _, j in ev.groupby("journey_id", sort=False):
        acts, ts = j["activity"].tolist(), j["event_ts"].tolist()
        if steps[0] not in acts:
            continue
        i = acts.index(steps[0])
        for order in want:
            k, at = 1, i
            for step in steps[1:]:
                later = range(at + 1, len(acts)) if order == "ordered" else range(at + 1, min(at + 2, len(acts)))
                at = next((p for p in later if acts[p] == step), None)
                if at is None or ts[at] - ts[i] > pd.Timedelta(days=30):
                    break
                k += 1
            for s in range(k):
                want[order][s] += 1
    assert got == want
    assert got["ordered"][0] == 4_495 > got["ordered"][1]
