"""Personas (rules, profiles), behavioural clusters and their overlap, RFM: hand-checked
fixtures, the planted persona difference (E5) on the demo, and RFM equal to lifetimes on CDNOW."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import cjworkbench
from cjworkbench.scope import FilterError
from cjworkbench.designs.personas import PersonaError, load_personas, persona_of
from cjworkbench.analysis.segments.rfm import rfm_table
from cjworkbench.analysis.segments.segments import clusters_table, customer_features, persona_clusters_table, personas_table
from cjworkbench.analysis.stats import newcombe_interval, wilson_interval
from cjworkbench.ingest import run_ingest

from .conftest import ROOT, write_config

PERSONAS = {"personas": [
    {"name": "traditional", "when": {"birth_year": {"lt": 1960}}},
    {"name": "business", "when": {"segment": "Business"}},
    {"name": "young", "when": {"birth_year": {"ge": 1985}, "income_band": ["40-70k", "70-100k"]}},
    {"name": "budget", "when": {"income_band": {"in": ["< 20k", "20-40k"]}}},
], "other": "rest"}
# customer, segment, birth_year, income_band -> expected persona
CUSTOMERS = [("P1", "Value", "1950", "< 20k", "traditional"),      # budget too: the first rule wins
             ("P2", "Business", "1955", "40-70k", "traditional"),
             ("P3", "Premium", "1990", "70-100k", "young"), ("P4", "Value", "1990", "20-40k", "budget"),
             ("P5", "Value", "unknown", "40-70k", "rest"),           # not a number: never matches lt / ge
             ("P6", "Business", "", "40-70k", "business")]
D0 = dt.datetime(2024, 1, 1, 10, 0)
# customer, journey, days after D0, activity, channel, device, amount
EVENTS = [("P1", "s1", 0, "view", "web", "desktop", ""), ("P1", "o1", 0.1, "order", "phone", "", 10),
          ("P1", "s2", 5, "view", "web", "desktop", ""), ("P1", "o2", 5.1, "order", "phone", "", 20),
          ("P2", "s3", 1, "view", "web", "desktop", ""), ("P2", "o3", 1.1, "order", "phone", "", 30),
          ("P2", "s4", 6, "view", "web", "desktop", ""),
          ("P3", "s5", 2, "view", "app", "app", ""), ("P3", "o4", 2.1, "order", "app", "", 15),
          ("P3", "s6", 7, "view", "app", "app", ""),
          ("P4", "s7", 3, "view", "app", "app", ""), ("P4", "o5", 3.1, "order", "app", "", 25),
          ("P4", "s8", 8, "view", "app", "app", ""),
          ("P5", "s9", 4, "view", "app", "app", ""), ("P5", "o6", 4.1, "order", "app", "", 5),
          ("P5", "s10", 9, "view", "app", "app", ""),
          ("P6", "s11", 2, "view", "app", "app", ""), ("P6", "o7", 2.1, "order", "app", "", 8),
          ("P6", "s12", 7, "view", "app", "app", "")]


def _ingest(tmp: Path, customers: list[str], events: list[tuple]) -> cjworkbench:
    (tmp / "c.csv").write_text("cust,segment,birth_year,income_band\n" + "".join(f"{r}\n" for r in customers))
    (tmp / "e.csv").write_text("cust,journey,ts,act,channel,device,amount\n" + "".join(
        f"{c},{j},{(D0 + dt.timedelta(days=d)).isoformat(sep=' ')},{a},{ch},{dv},{am}\n"
        for c, j, d, a, ch, dv, am in events))
    cfg = write_config(tmp, [
        {"name": "crm", "kind": "customers", "path": "c.csv", "columns": {"customer_id": "cust", "segment": "segment"}},
        {"name": "ev", "kind": "events", "path": "e.csv", "duplicates": "keep",
         "columns": {"customer_id": "cust", "journey_id": "journey", "event_ts": "ts", "activity": "act",
                     "channel": "channel", "device": "device", "amount": "amount"}}])
    run_ingest(cfg, tmp / "db.duckdb")
    return cjworkbench.connect(tmp / "db.duckdb")


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    rows = [",".join(c[:4]) for c in CUSTOMERS]
    return _ingest(tmp_path_factory.mktemp("segments"), rows, EVENTS)


def test_ids_with_events_but_no_customers_row_are_counted_not_silently_dropped(con, tmp_path):
    assert "left_out" not in clusters_table(con, k=2, seed=0).attrs["definition"]   # every id has a row
    guests = [("G1", "g1", 1, "view", "web", "desktop", ""), ("G1", "g2", 1.1, "order", "web", "", 9),
              ("G2", "g3", 2, "view", "app", "app", "")]
    with_guests = _ingest(tmp_path, [",".join(c[:4]) for c in CUSTOMERS], EVENTS + guests)
    assert clusters_table(with_guests, k=2, seed=0).n_customers.sum() == 6
    said = "2 ids with events in scope have no customers row and are not clustered"
    assert clusters_table(with_guests, k=2, seed=0).attrs["definition"]["left_out"] == said
    assert persona_clusters_table(with_guests, personas=PERSONAS, k=2, seed=0).attrs["definition"]["left_out"] == said


def test_persona_rules_first_match_wins(con):
    got = dict(persona_of(con, PERSONAS).execute().itertuples(index=False))
    assert got == {c[0]: c[4] for c in CUSTOMERS}
    assert load_personas(PERSONAS).names == ("traditional", "business", "young", "budget", "rest")


def test_persona_profile_counts_and_intervals(con):
    df = personas_table(con, personas=PERSONAS)
    trad = df[df.persona == "traditional"].set_index(["measure", "category"])
    share = trad.loc[("customers", "(all)")]
    assert (share.n_units, share.n_customers) == (6, 2)
    assert tuple(share[["value", "low", "high"]]) == pytest.approx(wilson_interval(2, 6))
    phone = trad.loc[("purchase channel", "phone")]                 # P1 2 + P2 1 of 3; the rest 0 of 4
    assert (phone.n_units, phone.value, phone.rest_n_units, phone.rest_value) == (3, 1.0, 4, 0.0)
    assert tuple(phone[["difference", "difference_low", "difference_high"]]) == pytest.approx(newcombe_interval(3, 3, 0, 4))
    desktop = trad.loc[("journey device", "desktop")]               # sessions only: orders have no device
    assert (desktop.n_units, desktop.value, desktop.rest_n_units, desktop.rest_value) == (4, 1.0, 8, 0.0)
    per = trad.loc[("purchases per customer", "(mean)")]
    assert (per.value, per.rest_value, per.difference) == (1.5, 1.0, 0.5)
    assert set(df.persona) == {"traditional", "business", "young", "budget", "rest"}


def test_customer_features(con):
    f = customer_features(con)
    p1 = f.loc["P1"]
    assert (p1.n_journeys, p1.n_events, p1.n_purchases, p1.revenue) == (4, 4, 2, 30.0)
    assert (p1.purchase_share_phone, p1.journey_share_desktop) == (1.0, 1.0)
    assert p1.recency_days == pytest.approx(9 - 5.1) and p1.tenure_days == pytest.approx(9)  # data end: P5 day 9


def test_clusters_and_overlap_with_personas(con):
    c = clusters_table(con, k=2, seed=0)
    assert c.n_customers.tolist() == [4, 2]                          # app users, then phone + desktop
    assert c.loc[1, "purchase_share_phone"] == 1.0 and c.loc[0, "journey_share_app"] == 1.0
    o = persona_clusters_table(con, personas=PERSONAS, k=2, seed=0).set_index(["persona", "cluster"])
    assert o.n_customers.to_dict() == {("budget", 0): 1, ("budget", 1): 0, ("business", 0): 1, ("business", 1): 0,
                                       ("rest", 0): 1, ("rest", 1): 0, ("traditional", 0): 0,
                                       ("traditional", 1): 2, ("young", 0): 1, ("young", 1): 0}
    assert o.loc[("traditional", 1)].share_of_cluster == 1.0 and o.loc[("traditional", 1)].best
    summary = o.attrs["summary"]
    assert summary["fit"]["traditional"] == 1.0 and summary["best_cluster"]["traditional"] == 1
    # partitions {P1 P2}{P3}{P4}{P5}{P6} vs {P1 P2}{P3 P4 P5 P6}: index C(2,2) = 1; pair sums 1 and
    # C(4,2) + C(2,2) = 7 of C(6,2) = 15 pairs: expected 1 x 7 / 15, maximum (1 + 7) / 2
    assert summary["adjusted_rand_index"] == pytest.approx((1 - 7 / 15) / (4 - 7 / 15))


@pytest.mark.parametrize("doc, message", [
    ({"personas": [{"name": "x", "when": {"birth_year": {"below": 1960}}}]}, "Unknown operator 'below'"),
    ({"personas": [{"name": "x", "whne": {}}]}, "Unknown key 'whne'.*Did you mean 'when'"),
    ({"personas": [{"name": "x"}, {"name": "x"}]}, "must be unique"),
    ({"personas": []}, "non-empty list"),
])
def test_persona_errors_name_the_fix(doc, message):
    with pytest.raises(PersonaError, match=message):
        load_personas(doc)


def test_hostile_persona_values_are_literals(con):
    bad = {"personas": [{"name": "x'; DROP TABLE customers; --", "when": {"income_band'--": "O'Brien\"ü"}}]}
    assert set(persona_of(con, bad).execute().persona) == {"other"}
    assert len(persona_of(con, PERSONAS).execute()) == 6


def test_shipped_personas_recover_the_traditional_persona(demo_db):
    """E5: customers born before 1960 order by phone and browse on a desktop; their shares and
    the differences with everyone else contain the expected values of this data set."""
    path, truth = demo_db
    con = cjworkbench.connect(path)
    df = personas_table(con, personas=path.parent / "designed" / "personas.yml")
    trad = df[df.persona == "traditional"].set_index(["measure", "category"])
    exp = truth["effects"]["E5"]["expected"]
    assert trad.loc[("customers", "(all)")].n_customers == exp["traditional"]["n_customers"]
    for (measure, category), key in {("purchase channel", "phone"): "phone_share_of_orders",
                                     ("journey device", "app"): "app_share_of_sessions",
                                     ("journey device", "desktop"): "desktop_share_of_sessions"}.items():
        row = trad.loc[(measure, category)]
        assert row.low <= exp["traditional"][key] <= row.high
        _, lo, hi = wilson_interval(round(row.rest_value * row.rest_n_units), row.rest_n_units)
        assert lo <= exp["other"][key] <= hi
        assert row.difference_low <= exp["traditional"][key] - exp["other"][key] <= row.difference_high
    o = persona_clusters_table(con, personas=path.parent / "designed" / "personas.yml", k=4, seed=0)
    best = o[(o.persona == "traditional") & o.best].iloc[0]
    assert best.share_of_persona > 0.7 and best.share_of_cluster > 0.7  # one cluster is the traditional persona


# --- RFM ----------------------------------------------------------------------------------
RFM_EVENTS = [("R1", "a", 0, "buy", "web", "", 10), ("R1", "b", 5 / 24, "buy", "web", "", 5),  # one day: 15
              ("R1", "c", 4, "buy", "web", "", 20), ("R1", "d", 9, "buy", "web", "", 40),
              ("R1", "v", 9.5, "view", "web", "", ""),                                          # no amount
              ("R2", "e", 14, "buy", "web", "", 7),
              ("R3", "f", 1, "buy", "web", "", 3), ("R3", "g", 19 + (14 * 3600 - 1) / 86_400, "buy", "web", "", 9)]


@pytest.fixture(scope="module")
def rfm_con(tmp_path_factory):
    return _ingest(tmp_path_factory.mktemp("rfm"), ["R1,Value,,", "R2,Value,,", "R3,Value,,"], RFM_EVENTS)


def test_rfm_hand_computed(rfm_con):
    r = rfm_table(rfm_con).set_index("customer_id")       # as_of: 2024-01-20 (R3's last purchase, 23:59:59)
    assert r[["frequency", "recency", "T", "monetary_value"]].to_dict("index") == {
        "R1": {"frequency": 2.0, "recency": 9.0, "T": 19.0, "monetary_value": 30.0},
        "R2": {"frequency": 0.0, "recency": 0.0, "T": 5.0, "monetary_value": 0.0},
        "R3": {"frequency": 1.0, "recency": 18.0, "T": 18.0, "monetary_value": 9.0}}
    assert r.rfm_score.to_dict() == {"R1": "155", "R2": "311", "R3": "533"}
    assert r.tier.to_dict() == {"R1": "at risk", "R2": "needs attention", "R3": "needs attention"}
    early = rfm_table(rfm_con, as_of="2024-01-12").set_index("customer_id")
    assert early.index.tolist() == ["R1", "R3"]                     # R2's only purchase is later
    assert early.loc["R1", ["frequency", "recency", "T"]].tolist() == [2.0, 9.0, 11.0]
    assert early.loc["R3", ["frequency", "monetary_value"]].tolist() == [0.0, 0.0]


def _lifetimes(transactions: pd.DataFrame, **kw) -> pd.DataFrame:
    summary = pytest.importorskip("lifetimes.utils").summary_data_from_transaction_data
    return summary(transactions, "customer_id", "date", monetary_value_col="amount", **kw).sort_index()


def test_rfm_fixture_equals_lifetimes(rfm_con):
    tx = pd.DataFrame([(c, D0 + dt.timedelta(days=d), a) for c, _, d, _, _, _, a in RFM_EVENTS if a != ""],
                      columns=["customer_id", "date", "amount"])
    mine = rfm_table(rfm_con).set_index("customer_id")[["frequency", "recency", "T", "monetary_value"]]
    pd.testing.assert_frame_equal(mine, _lifetimes(tx), check_names=False)


def _cdnow(tmp_path: Path):
    doc = yaml.safe_load((ROOT / "examples" / "real" / "cdnow.yml").read_text())
    for src in doc["sources"]:
        src["path"] = str((ROOT / "examples" / "real" / src["path"]).resolve())
    cfg = tmp_path / "cdnow.yml"
    cfg.write_text(yaml.safe_dump(doc))
    run_ingest(cfg, tmp_path / "cdnow.duckdb")
    return cjworkbench.connect(tmp_path / "cdnow.duckdb")


def test_rfm_equals_lifetimes_on_cdnow(tmp_path, real_data):
    """Every CDNOW customer: frequency, recency, T and monetary value as lifetimes computes them."""
    con = _cdnow(tmp_path)
    tx = pd.read_csv(real_data / "transactions" / "cdnow_transactions.csv", dtype={"customer_id": str},
                     parse_dates=["date"]).rename(columns={"dollar_value": "amount"})
    cols = ["frequency", "recency", "T", "monetary_value"]
    for as_of in (None, "1997-09-30"):
        mine = rfm_table(con, as_of=as_of).set_index("customer_id")[cols]
        ref = _lifetimes(tx, observation_period_end=as_of)
        assert len(mine) == len(ref) == 23_570
        pd.testing.assert_frame_equal(mine, ref, check_names=False, rtol=1e-12, atol=1e-9)
    r = rfm_table(con)
    assert set(r.r_score) == {1, 2, 3, 4, 5} and np.isclose(r.frequency.sum(), 44_021)


def test_rfm_activity_hostile_values_and_bad_options(rfm_con, con):
    assert rfm_table(rfm_con, activity="buy").frequency.sum() == 3.0     # the same purchases as non-NULL amounts
    assert rfm_table(rfm_con, activity="'; DROP TABLE events; --").empty
    with pytest.raises(FilterError, match="as_of must be a date"):
        rfm_table(rfm_con, as_of="yesterday")
    with pytest.raises(FilterError, match="k must be a whole number of clusters of at least 2"):
        clusters_table(con, k=1)


def test_persona_filter_keeps_exactly_that_personas_journeys(demo_db):
    """Filters(persona=…, personas=…) on the stored (fast) and computed (slow) routes: the journeys of
    customers whose first matching rule is the persona, counted independently in pandas."""
    path, _ = demo_db
    con = cjworkbench.connect(path)
    personas = path.parent / "designed" / "personas.yml"
    who = persona_of(con, personas).execute()
    traditional = set(who.loc[who["persona"] == "traditional", "customer_id"])
    ev = con.table("events").select("customer_id", "journey_id", "channel", "activity").execute()
    mine = ev[ev["customer_id"].isin(traditional)]
    # sessions belong to one customer (campaign ids are shared, so they are not used here)
    expected = mine.loc[mine["activity"] == "checkout_start", "journey_id"].nunique()
    f = cjworkbench.Filters(persona="traditional", personas=str(personas), has_activity="checkout_start")
    fast = cjworkbench.variants_table(con, top=None, filters=f)
    assert fast["n_journeys"].sum() == expected > 100
    web = mine[mine["channel"] == "web"]
    slow = cjworkbench.variants_table(con, top=None, filters=cjworkbench.Filters(
        persona="traditional", personas=str(personas), channel="web"))
    assert slow["n_journeys"].sum() == web["journey_id"].fillna(web["customer_id"]).nunique()
    # no rules passed: the personas the database carries (designs: personas: of the demo config)
    own = cjworkbench.variants_table(con, top=None, filters=cjworkbench.Filters(
        persona="traditional", has_activity="checkout_start"))
    assert own["n_journeys"].sum() == expected
