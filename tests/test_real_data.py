"""The example configs load real public exports (read from ../shared, never copied) with known counts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
import yaml

from cjworkbench.ingest import run_ingest

from .conftest import ROOT

EXAMPLES = ROOT / "examples" / "real"


def _ingest(tmp_path: Path, name: str, **override):
    """Ingest examples/real/<name>.yml (paths made absolute so overrides can live in tmp)."""
    doc = yaml.safe_load((EXAMPLES / f"{name}.yml").read_text())
    if doc.get("designs"):
        doc["designs"] = _absolute(doc["designs"])
    for src in doc["sources"]:
        src["path"] = str((EXAMPLES / src["path"]).resolve())
        src.update(override)
    cfg = tmp_path / f"{name}.yml"
    cfg.write_text(yaml.safe_dump(doc))
    summary = run_ingest(cfg, tmp_path / f"{name}.duckdb")
    return summary, duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True)


def _absolute(value):
    """A designs block with its YAML file paths made absolute (the config is written elsewhere)."""
    if isinstance(value, str) and value.endswith((".yml", ".yaml")):
        return str((EXAMPLES / value).resolve())
    if isinstance(value, dict):
        return {k: _absolute(v) for k, v in value.items()}
    return value


def _one(con, sql):
    return con.execute(sql).fetchone()


def test_helpdesk_duplicates_dropped_by_default_and_kept_on_request(tmp_path, real_data):
    summary, con = _ingest(tmp_path, "helpdesk")
    s = summary.source("helpdesk")
    assert (s.rows_read, s.rows_loaded, s.rows_rejected, s.reasons) == (21_348, 21_221, 127, {"duplicate": 127})
    assert _one(con, "SELECT count(DISTINCT journey_id) FROM events") == (4_580,)
    keep, con_keep = _ingest(tmp_path, "helpdesk", duplicates="keep")
    assert keep.source("helpdesk").rows_loaded == 21_348
    assert _one(con_keep, "SELECT count(DISTINCT journey_id), count(DISTINCT customer_id) FROM events") == (4_580, 397)
    # the first event in file order keeps seq 1 and its UTC timestamp
    assert _one(con_keep, "SELECT journey_id, activity, event_ts FROM events WHERE seq = 1") == (
        "Case 1", "Assign seriousness", dt.datetime(2012, 10, 9, 14, 50, 17))


def test_helpdesk_xes_equals_csv(tmp_path, real_data):
    _, xes = _ingest(tmp_path, "helpdesk_xes")
    _, csv = _ingest(tmp_path, "helpdesk", duplicates="keep")
    q = "SELECT customer_id, journey_id, event_ts, activity FROM events ORDER BY seq"
    assert xes.execute(q).fetchall() == csv.execute(q).fetchall()


def test_receipt_mixed_offsets_become_utc(tmp_path, real_data):
    summary, con = _ingest(tmp_path, "receipt")
    assert summary.source("receipt").rows_loaded == 8_577
    assert _one(con, "SELECT count(DISTINCT journey_id) FROM events") == (1_434,)
    # file line 2: 2011-10-11T13:45:40.276+02:00 (summer time) -> 11:45:40.276 UTC
    assert _one(con, "SELECT event_ts FROM events WHERE seq = 1") == (dt.datetime(2011, 10, 11, 11, 45, 40, 276000),)
    assert dict(con.execute("SELECT channel, count(DISTINCT journey_id) FROM events GROUP BY 1").fetchall()).keys() \
        <= {"web", "store", "post", "email", "internal"}


def test_olist_leads_and_deals(tmp_path, real_data):
    summary, con = _ingest(tmp_path, "olist")
    assert summary.source("olist_leads").rows_loaded == 8_000
    assert summary.source("olist_deals").rows_loaded == 842
    both = _one(con, """SELECT count(*) FROM (SELECT customer_id FROM events GROUP BY 1
                        HAVING count(*) FILTER (activity = 'lead') = 1 AND count(*) FILTER (activity = 'deal won') = 1)""")
    assert both == (842,)


def test_airline_tweets_as_feedback(tmp_path, real_data):
    summary, con = _ingest(tmp_path, "airline_tweets")
    assert summary.source("airline_tweets").rows_loaded == 14_640
    assert _one(con, "SELECT count(DISTINCT customer_id), count(*) FILTER (customer_id LIKE 'p\\_%' ESCAPE '\\') "
                     "FROM feedback") == (7_701, 14_640)
    # 2/24/2015 11:35 US Pacific (PST, -08:00) -> 19:35 UTC
    assert _one(con, "SELECT feedback_ts FROM feedback WHERE seq = 1") == (dt.datetime(2015, 2, 24, 19, 35),)
    labels = dict(con.execute("SELECT attributes['airline_sentiment'], count(*) FROM feedback GROUP BY 1").fetchall())
    assert labels == {"negative": 9_178, "neutral": 3_099, "positive": 2_363}


def test_cdnow_purchases(tmp_path, real_data):
    summary, con = _ingest(tmp_path, "cdnow")
    assert summary.source("cdnow").rows_loaded == 69_659
    assert _one(con, "SELECT count(DISTINCT customer_id), round(sum(amount), 2) FROM events") == (23_570, 2_500_315.63)


def test_weblog_visitors_are_pseudonymous(tmp_path, real_data):
    summary, con = _ingest(tmp_path, "weblog")
    assert summary.source("weblog").rows_loaded == 9_999
    ips = _one(con, "SELECT count(DISTINCT split_part(customer_id, '|', 1)) FROM events")
    assert ips == (1_753,)
    assert b"83.149.9.216" not in (tmp_path / "weblog.duckdb").read_bytes()
