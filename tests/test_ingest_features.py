"""Ingest features real exports need (issue #13): `where:` / `derive:` per source, customers without
an id (`id: generated`), any attribute as a breakdown, and the reject ceiling that keeps the last
good database. Hand-made exports with counts worked out by hand, the real receipt log against
pandas, and breakdowns against pandas."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

import cjworkbench
from cjworkbench.analysis.journeys.funnels import funnel_table
from cjworkbench.analysis.segments.profiles import segments_table
from cjworkbench.analysis.segments.segments import clusters_table, personas_table
from cjworkbench.analysis.stats import wilson_interval
from cjworkbench.config import load_config
from cjworkbench.errors import ConfigError, FilterError, RejectedRowsError
from cjworkbench.ingest import run_ingest

# 10 lines: o2 is a `start` row (filtered), o5 has a bad timestamp (rejected), o6 repeats o1 exactly
# (duplicate), o4 has no delivery yet (days_late NULL: not in attributes)
ORDERS = """order_id,cust,created,promised,delivered,amount,lifecycle:transition
o1,C1,2026-01-01 10:00:00,2026-01-05,2026-01-07,50,complete
o2,C1,2026-01-02 10:00:00,2026-01-05,2026-01-04,150,start
o3,C2,2026-01-03 10:00:00,2026-01-06,2026-01-06,250,complete
o4,C3,2026-01-04 10:00:00,2026-01-08,,80,complete
o5,C3,bad,2026-01-08,2026-01-09,80,complete
o1,C1,2026-01-01 10:00:00,2026-01-05,2026-01-07,50,complete
o7,C4,2026-01-05 10:00:00,2026-01-06,2026-01-09,120,complete
o8,C4,2026-01-06 10:00:00,2026-01-07,2026-01-07,99.5,complete
o9,C5,2026-01-07 10:00:00,2026-01-08,2026-01-08,500,start
o10,C5,2026-01-08 10:00:00,2026-01-09,2026-01-12,20,complete
"""
WHERE = "\"lifecycle:transition\" = 'complete'"
DAYS_LATE = "date_diff('day', promised::DATE, TRY_CAST(delivered AS DATE))"
BAND = "CASE WHEN amount::DOUBLE < 100 THEN 'small' ELSE 'large' END"


def _orders_source(**over) -> dict:
    src = {"name": "orders", "kind": "events", "path": "orders.csv", "where": WHERE,
           "derive": {"days_late": DAYS_LATE, "amount_band": BAND},
           "columns": {"customer_id": "cust", "journey_id": "order_id", "event_ts": "created",
                       "activity": "lifecycle:transition", "touchpoint": "amount_band"},
           "maps": {"stage": {"from": "amount_band", "values": {"small": "S", "large": "L"}}}}
    return src | over


def _config(folder: Path, sources: list[dict], **top) -> Path:
    """A config without the test suite's lifted reject ceiling (conftest.write_config lifts it)."""
    path = folder / "cjworkbench.yml"
    path.write_text(yaml.safe_dump({**top, "sources": sources}, sort_keys=False))
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_where_and_derive_on_a_hand_made_export(tmp_path):
    (tmp_path / "orders.csv").write_text(ORDERS)
    s = run_ingest(_config(tmp_path, [_orders_source(max_reject_share=0.5)]), tmp_path / "db.duckdb").source("orders")
    # 10 read: 2 start rows filtered; of 8, o5 unparseable and the repeat of o1 rejected; 6 loaded
    assert (s.rows_read, s.rows_loaded, s.rows_rejected, s.rows_duplicate, s.rows_filtered) == (10, 6, 2, 1, 2)
    assert s.rows_read == s.rows_loaded + s.rows_rejected + s.rows_filtered
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT journey_id, touchpoint, stage, attributes['days_late'], "
                           "list_contains(map_keys(attributes), 'amount_band') FROM events ORDER BY seq").fetchall()
        run = con.execute("SELECT rows_read, rows_loaded, rows_rejected, rows_filtered FROM ingest_runs").fetchone()
    assert rows == [("o1", "small", "S", "2", False), ("o3", "large", "L", "0", False),
                    ("o4", "small", "S", None, False), ("o7", "large", "L", "3", False),
                    ("o8", "small", "S", "0", False), ("o10", "small", "S", "3", False)]
    assert run == (10, 6, 2, 2)


@pytest.mark.parametrize("over, message", [
    ({"where": "amount::DOUBLE > 1; DROP TABLE events"}, r"Source 'orders': where must be one SQL expression.*not 2"),
    ({"derive": {"x": "amount FROM events"}}, r"Source 'orders': derive.x must be one SQL expression.*no FROM"),
    ({"derive": {"x": "(SELECT max(amount) FROM orders)"}}, r"Source 'orders': derive.x .*subquery"),
    ({"where": "amount::DOUBLE >"}, r"Source 'orders': where .*DuckDB cannot parse"),
    ({"id": "generated"}, r"Source 'orders': 'id: generated' applies to customers sources only"),
    ({"max_reject_share": 2}, r"Source 'orders': 'max_reject_share' must be a share from 0 to 1"),
])
def test_malformed_expressions_are_refused_when_the_config_loads(tmp_path, over, message):
    (tmp_path / "orders.csv").write_text(ORDERS)
    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, [_orders_source(**over)]))


@pytest.mark.parametrize("over, message", [
    ({"where": "amout::DOUBLE > 1"}, r"Source 'orders': where names column 'amout'.*Did you mean 'amount'"),
    ({"derive": {"late": "date_diff('day', promised::DATE, delivred::DATE)"}},
     r"Source 'orders': derive.late names column 'delivred'.*Did you mean 'delivered'"),
    ({"where": "amount"}, r"Source 'orders': where must be true or false for each row; `amount` gives VARCHAR"),
    ({"derive": {"late": "date_diff('day', promised, delivered)"}},
     r"Source 'orders': derive.late `date_diff.*` does not work on the export.*cast them"),
    ({"derive": {"amount": "1"}}, r"Source 'orders': derive.amount is already an export column"),
    ({"derive": {"amount_band": BAND, "n": "promised::INTEGER"}},   # binds, then fails on a value
     r"Source 'orders': where / derive.amount_band / derive.n does not work on the export.*2026-01-0.*TRY_CAST"),
])
def test_expressions_are_checked_against_the_export(tmp_path, over, message):
    (tmp_path / "orders.csv").write_text(ORDERS)
    with pytest.raises(ConfigError, match=message):
        run_ingest(_config(tmp_path, [_orders_source(max_reject_share=1, **over)]), tmp_path / "db.duckdb")
    assert not (tmp_path / "db.duckdb").exists()   # nothing swapped in


def test_where_and_derive_on_the_real_receipt_log(tmp_path, real_data):
    path = real_data / "process_mining" / "receipt_wabo.csv.gz"
    late = "date_diff('day', TRY_CAST(\"case:enddate_planned\" AS TIMESTAMPTZ), TRY_CAST(\"case:enddate\" AS TIMESTAMPTZ))"
    src = {"name": "receipt", "kind": "events", "path": str(path), "duplicates": "keep",
           "where": "\"lifecycle:transition\" = 'complete' AND \"case:channel\" <> 'Intern'",
           "derive": {"days_late": late},
           "columns": {"customer_id": "case:concept:name", "event_ts": "time:timestamp", "activity": "concept:name"}}
    s = run_ingest(_config(tmp_path, [src]), tmp_path / "db.duckdb").source("receipt")
    ref = pd.read_csv(path, dtype=str)
    keep = ref[(ref["lifecycle:transition"] == "complete") & (ref["case:channel"] != "Intern")]
    assert (s.rows_read, s.rows_filtered, s.rows_loaded) == (len(ref), len(ref) - len(keep), len(keep))
    assert (s.rows_read, s.rows_filtered) == (8_577, 6)   # every event is `complete`; 6 came in by Intern
    day = lambda c: pd.to_datetime(keep[c], utc=True, format="ISO8601").dt.tz_convert("UTC").dt.normalize()
    expected = (day("case:enddate") - day("case:enddate_planned")).dt.days
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        got = con.execute("SELECT TRY_CAST(attributes['days_late'] AS BIGINT) FROM events ORDER BY seq").df().iloc[:, 0]
    assert got.notna().sum() == expected.notna().sum() == 7_954
    assert got.fillna(-999).tolist() == expected.fillna(-999).astype(int).tolist()


# two clear groups of 20 (young, low income, north; older, high income, south or east), so that
# personas and clusters pass the small-group rule (k_min 10) and KMeans has one obvious answer
PEOPLE = "age,income,region,plan\n" + "".join(
    f"{20 + i % 10},{30000 + 500 * i},north,basic\n" if i < 20 else
    f"{50 + i % 10},{90000 + 500 * i},{'south' if i % 2 else 'east'},premium\n" for i in range(40))
AFFLUENT = {"personas": [{"name": "affluent", "when": {"income": {"ge": 60000}}}]}


@pytest.fixture
def people(tmp_path):
    (tmp_path / "people.csv").write_text(PEOPLE)
    cfg = _config(tmp_path, [{"name": "panel", "kind": "customers", "path": "people.csv", "id": "generated",
                              "columns": {"segment": "plan"}}])
    summary = run_ingest(cfg, tmp_path / "db.duckdb")
    return summary, cfg, tmp_path / "db.duckdb"


def test_customers_without_an_id_get_a_stable_generated_one(people):
    summary, cfg, db = people
    assert summary.source("panel").rows_loaded == 40
    assert any("customer_id generated per row" in n for n in summary.source("panel").notes)
    assert "customer_id generated per row" in summary.format_text()
    with duckdb.connect(str(db), read_only=True) as con:
        first = con.execute("SELECT customer_id, attributes['age'] FROM customers ORDER BY customer_id").fetchall()
    ids = [r[0] for r in first]
    assert len(set(ids)) == 40 and all(i.startswith("p_") and len(i) == 22 for i in ids)
    run_ingest(cfg, db)                                        # the same file, the same key: the same ids
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT customer_id, attributes['age'] FROM customers ORDER BY customer_id").fetchall() == first
    with pytest.raises(ConfigError, match="'id: generated' and a mapped customer_id exclude each other"):
        load_config(_config(cfg.parent, [{"name": "panel", "kind": "customers", "path": "people.csv",
                                          "id": "generated", "columns": {"customer_id": "age"}}]))


def test_personas_and_clusters_on_customers_without_events(people):
    _, _, db = people
    con = cjworkbench.connect(db)
    ref = pd.read_csv(io.StringIO(PEOPLE))
    p = personas_table(con, personas=AFFLUENT).set_index(["persona", "measure", "category"])
    rich, rest = ref[ref.income >= 60000], ref[ref.income < 60000]
    share = p.loc[("affluent", "customers", "(all)")]
    assert (share.n_units, share.n_customers, share.value) == (40, 20, 0.5)
    age = p.loc[("affluent", "attribute age", "(mean)")]
    assert (age.value, age.rest_value) == pytest.approx((rich.age.mean(), rest.age.mean()))
    east = p.loc[("affluent", "attribute region", "east")]
    assert (east.value, east.rest_value) == pytest.approx(((rich.region == "east").mean(), (rest.region == "east").mean()))
    assert not any(m.startswith(("purchase", "journey")) for m in p.index.get_level_values("measure"))
    assert "no events for these customers" in p.attrs["definition"]["missing"]
    c = clusters_table(con, k=2, seed=0)
    assert c.n_customers.tolist() == [20, 20]
    assert "on its attributes" in c.attrs["definition"]["customers"]
    assert {"attribute_age", "attribute_income", "attribute_region=north"} <= set(c.attrs["definition"]["features"])
    young = c.set_index("attribute_region=north").loc[1.0]      # the north cluster is the young, low-income half
    assert (young.attribute_age, young.attribute_income) == pytest.approx((rest.age.mean(), rest.income.mean()))


def test_segment_breakdown_by_any_customer_attribute_equals_pandas(people):
    _, _, db = people
    con = cjworkbench.connect(db)
    ref = pd.read_csv(io.StringIO(PEOPLE))
    q = ref.income.quantile([0.25, 0.5, 0.75]).tolist()
    assert q == [34875.0, 69750.0, 104625.0]                     # linear interpolation, as DuckDB's quantile_cont
    names = ["≤ 34875", "(34875, 69750]", "(69750, 104625]", "> 104625"]
    band = pd.cut(ref.income, [-np.inf, *q, np.inf], labels=names).astype(str)
    df = segments_table(con, by="income")
    got = df[df.measure == "customers"].set_index("income")
    assert got.n_customers.to_dict() == band.value_counts().to_dict() == dict.fromkeys(names, 10)
    assert got.value.to_dict() == pytest.approx(dict.fromkeys(names, 0.25))
    assert "quantile bands cut at 34875, 69750, 104625" in df.attrs["definition"]["by_rule"]
    region = segments_table(con, by="region")
    got = region[region.measure == "customers"].set_index("region")
    assert got.n_customers.to_dict() == ref.region.value_counts().to_dict() == {"north": 20, "south": 10, "east": 10}
    assert tuple(got.loc["north", ["value", "low", "high"]]) == pytest.approx(wilson_interval(20, 40))
    with pytest.raises(FilterError, match=r"Unknown by 'regoin'\. Did you mean 'region'\?"):
        segments_table(con, by="regoin")


def test_clusters_say_what_is_missing(tmp_path):
    (tmp_path / "ids.csv").write_text("cust\nA\nB\nC\n")
    run_ingest(_config(tmp_path, [{"name": "crm", "kind": "customers", "path": "ids.csv",
                                   "columns": {"customer_id": "cust"}}]), tmp_path / "db.duckdb")
    with pytest.raises(FilterError, match="have no events and no attributes to cluster on"):
        clusters_table(cjworkbench.connect(tmp_path / "db.duckdb"), k=2)


EVENTS = [  # customer, journey, minute, activity, event attribute `promo`
    ("c1", "j1", 0, "A", "spring"), ("c1", "j1", 1, "B", ""), ("c2", "j2", 0, "A", "spring"),
    ("c3", "j3", 0, "A", "autumn"), ("c3", "j3", 5, "B", "spring"), ("c4", "j4", 0, "A", ""),
    ("c5", "j5", 0, "A", "autumn"), ("c5", "j5", 2, "B", ""), ("c6", "j6", 0, "A", "spring"),
    ("c6", "j6", 3, "B", ""), ("c7", "j7", 0, "A", "autumn"), ("c8", "j8", 0, "A", "spring")]
INCOME = {"c1": 20, "c2": 35, "c3": 50, "c4": 65, "c5": 80, "c6": 95, "c7": 110, "c8": 125}


@pytest.fixture
def breakdown_db(tmp_path):
    (tmp_path / "e.csv").write_text("cust,journey,ts,act,promo\n" + "".join(
        f"{c},{j},2026-03-02 10:{m:02d}:00,{a},{p}\n" for c, j, m, a, p in EVENTS))
    (tmp_path / "c.csv").write_text("cust,income\n" + "".join(f"{c},{v}\n" for c, v in INCOME.items()))
    cfg = _config(tmp_path, [
        {"name": "crm", "kind": "customers", "path": "c.csv", "columns": {"customer_id": "cust"}},
        {"name": "ev", "kind": "events", "path": "e.csv",
         "columns": {"customer_id": "cust", "journey_id": "journey", "event_ts": "ts", "activity": "act"}}])
    run_ingest(cfg, tmp_path / "db.duckdb")
    ev = pd.DataFrame(EVENTS, columns=["customer_id", "journey_id", "minute", "activity", "promo"])
    return cjworkbench.connect(tmp_path / "db.duckdb"), ev


def _pandas_funnel(ev: pd.DataFrame, group: pd.Series) -> dict:
    """Per group of each journey's A event: journeys entering (A) and reaching B after it."""
    a = ev[ev.activity == "A"].set_index("journey_id")
    b = ev[ev.activity == "B"].groupby("journey_id").minute.min()
    reached = a.index.to_series().map(lambda j: j in b.index and b[j] > a.minute[j])
    g = group.reindex(a.index)
    return {(k, 1): int((g == k).sum()) for k in g.unique()} | {(k, 2): int(reached[g == k].sum()) for k in g.unique()}


def test_funnel_by_an_event_attribute_equals_pandas(breakdown_db):
    con, ev = breakdown_db
    df = funnel_table(con, steps=["A", "B"], by="promo")
    got = {(r.promo, r.step): r.n_entered for r in df.itertuples()}
    a = ev[ev.activity == "A"].set_index("journey_id").promo.replace("", "(none)")
    assert got == _pandas_funnel(ev, a)
    assert got[("spring", 1)] == 4 and got[("spring", 2)] == 2 and got[("(none)", 1)] == 1
    computed = funnel_table(con, steps=["A", "B"], by="promo", filters={"activity": ["A", "B"]})  # not the stored route
    assert {(r.promo, r.step): r.n_entered for r in computed.itertuples()} == got


def test_funnel_by_a_numeric_customer_attribute_in_quartile_bands(breakdown_db):
    con, ev = breakdown_db
    df = funnel_table(con, steps=["A", "B"], by="income")
    q = pd.Series(INCOME).quantile([0.25, 0.5, 0.75]).tolist()   # linear interpolation, as DuckDB's quantile_cont
    assert q == [46.25, 72.5, 98.75]
    names = ["≤ 46.25", "(46.25, 72.5]", "(72.5, 98.75]", "> 98.75"]
    labels = pd.cut(pd.Series(INCOME), [-np.inf, *q, np.inf], labels=names).astype(str)
    journeys = ev.drop_duplicates("journey_id").set_index("journey_id").customer_id.map(labels)
    got = {(r.income, r.step): r.n_entered for r in df.itertuples()}
    assert got == _pandas_funnel(ev, journeys)
    assert set(df.income) == set(names)
    assert "attribute 'income'" in df.attrs["definition"]["by_rule"]


def test_an_unknown_breakdown_names_the_nearest(breakdown_db):
    con, _ = breakdown_db
    with pytest.raises(FilterError, match=r"Unknown by 'incom'\. Did you mean 'income'\?.*event attributes: promo"):
        funnel_table(con, steps=["A", "B"], by="incom")


# -- the reject ceiling -----------------------------------------------------------------------------

GOOD = "cust,ts,act\n" + "".join(f"c{i},2026-01-0{1 + i % 9} 10:00:00,view\n" for i in range(20))
SURVEY = "cust,when,score\n" + "".join(f"c{i},2026-01-0{1 + i % 9} 10:00:00,{i % 11}\n" for i in range(20))


def _good_then(tmp_path, bad_source: dict, bad_file: str, text: str) -> tuple[Path, Path, str, int]:
    """Ingest a good database, then a config with `bad_source`; return both configs, the hash and count."""
    (tmp_path / "e.csv").write_text(GOOD)
    (tmp_path / bad_file).write_text(text)
    events = {"name": "web", "kind": "events", "path": "e.csv",
              "columns": {"customer_id": "cust", "event_ts": "ts", "activity": "act"}}
    run_ingest(_config(tmp_path, [events]), tmp_path / "db.duckdb")
    db = tmp_path / "db.duckdb"
    return _config(tmp_path, [events, bad_source]), db, _sha(db), 20


def _cli(cfg: Path, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cjworkbench.cli", "ingest", "--config", str(cfg), "--db", str(db),
                           "--quiet"], capture_output=True, text=True, timeout=120)


def test_a_wrong_scale_fails_and_keeps_the_last_good_database(tmp_path):
    nps = {"name": "survey", "kind": "feedback", "path": "s.csv", "instrument": "csat", "scale": [1, 5],
           "columns": {"customer_id": "cust", "feedback_ts": "when", "score": "score"}}   # the answers are 0-10
    cfg, db, sha, n = _good_then(tmp_path, nps, "s.csv", SURVEY)
    done = _cli(cfg, db)
    assert done.returncode == 2, done.stderr
    # scores i % 11 for i = 0..19; outside 1-5: 0 (i = 0, 11), 6..10 (i = 6..10), 6..8 (i = 17..19): 10
    assert "Source 'survey' rejected 10 of 20 rows (50%, more than max_reject_share 0.2)" in done.stderr
    assert "10 score outside scale (e.g. s.csv:2 score='0'): check `scale:`" in done.stderr
    assert "(now [1, 5])" in done.stderr and "previous database is untouched" in done.stderr
    assert _sha(db) == sha
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == n
        assert con.execute("SELECT count(*) FROM feedback").fetchone()[0] == 0


def test_a_wrong_timestamp_format_rejects_every_row_and_fails(tmp_path):
    web = {"name": "app", "kind": "events", "path": "a.csv", "timestamp_format": "%d/%m/%Y %H:%M",
           "columns": {"customer_id": "cust", "event_ts": "ts", "activity": "act"}}
    cfg, db, sha, n = _good_then(tmp_path, web, "a.csv", GOOD)
    with pytest.raises(RejectedRowsError) as err:
        run_ingest(cfg, db)
    text = str(err.value)
    assert "Source 'app' rejected every row: 20 unparseable timestamp (e.g. a.csv:2 ts='2026-01-01 10:00:00')" in text
    assert "check `timestamp_format:`" in text and "(now %d/%m/%Y %H:%M)" in text
    assert _sha(db) == sha
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == n


def test_the_ceiling_can_be_raised_per_source_or_for_all(tmp_path):
    nps = {"name": "survey", "kind": "feedback", "path": "s.csv", "instrument": "csat", "scale": [1, 5],
           "columns": {"customer_id": "cust", "feedback_ts": "when", "score": "score"}}
    cfg, db, _, _ = _good_then(tmp_path, nps | {"max_reject_share": 0.5}, "s.csv", SURVEY)
    assert run_ingest(cfg, db).source("survey").rows_loaded == 10       # 10 of 20 is not more than 0.5
    cfg, db, _, _ = _good_then(tmp_path, nps | {"max_reject_share": 0.45}, "s.csv", SURVEY)
    with pytest.raises(RejectedRowsError, match="more than max_reject_share 0.45"):
        run_ingest(cfg, db)
    doc = yaml.safe_load(cfg.read_text())
    doc["sources"][1].pop("max_reject_share")
    doc["limits"] = {"max_reject_share": 0.7}
    cfg.write_text(yaml.safe_dump(doc))
    assert run_ingest(cfg, db).source("survey").rows_rejected == 10
    doc["limits"] = {"max_reject_share": 1.5}
    cfg.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="limits.max_reject_share must be a share from 0 to 1"):
        load_config(cfg)


def test_a_where_that_keeps_nothing_fails(tmp_path):
    (tmp_path / "orders.csv").write_text(ORDERS)
    with pytest.raises(RejectedRowsError, match=r"Source 'orders': `where: .*` kept none of its 10 rows"):
        run_ingest(_config(tmp_path, [_orders_source(where="\"lifecycle:transition\" = 'Complete'")]),
                   tmp_path / "db.duckdb")
    assert not (tmp_path / "db.duckdb").exists()
