"""Sessions by inactivity gap and bot exclusion: a hand-checked fixture and the real web log."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
import yaml

from cjworkbench import connect
from cjworkbench.scope import FilterError
from cjworkbench.analysis.journeys.sessions import DEFAULT_BOT_PATTERNS, sessionised_events, sessions_table
from cjworkbench.ingest import run_ingest

from .conftest import ROOT, write_config

CHROME = "Mozilla/5.0 (X11; Linux x86_64) Chrome/32.0"
# web: the user agent stays an unmapped column -> attributes['user_agent']
WEB = f"""visitor,ts,page,user_agent
U1,2024-05-01 10:00:00,/a,{CHROME}
U1,2024-05-01 10:30:00,/b,{CHROME}
U1,2024-05-01 11:00:01,/c,{CHROME}
U1,2024-05-01 11:00:01,/d,{CHROME}
U2,2024-05-01 10:00:00,/a,{CHROME}
G1,2024-05-01 10:00:00,/a,Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)
G1,2024-05-01 10:00:05,/b,Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)
B1,2024-05-01 12:00:00,/a,Mozilla/5.0 (compatible; BingBot/2.0)
D1,2024-05-01 12:00:00,/a,-
R1,2024-05-01 13:00:00,/a,{CHROME}
R1,2024-05-01 13:00:10,/b,{CHROME}
R1,2024-05-01 13:00:20,/c,{CHROME}
R1,2024-05-01 13:00:30,/d,{CHROME}
R1,2024-05-01 13:00:40,/e,{CHROME}
"""
# app: the user agent is mapped to device
APP = """visitor,ts,screen,agent
A1,2024-05-01 09:00:00,home,MyApp/1.0 iOS
A1,2024-05-01 09:45:00,home,MyApp/1.0 iOS
Y1,2024-05-01 09:00:00,home,Mozilla/5.0 (compatible; YandexBot/3.0)
"""


@pytest.fixture
def con(tmp_path):
    (tmp_path / "web.csv").write_text(WEB)
    (tmp_path / "app.csv").write_text(APP)
    cfg = write_config(tmp_path, [
        {"name": "web", "kind": "events", "path": "web.csv", "duplicates": "keep",
         "columns": {"customer_id": "visitor", "event_ts": "ts", "activity": "page"}},
        {"name": "app", "kind": "events", "path": "app.csv",
         "columns": {"customer_id": "visitor", "event_ts": "ts", "activity": "screen", "device": "agent"}}])
    run_ingest(cfg, tmp_path / "db.duckdb")
    return connect(tmp_path / "db.duckdb")


def _sessions(df):
    return {(r.customer_id, r.session_number): (r.n_events, r.duration_seconds) for r in df.itertuples()}


def test_split_exactly_at_the_gap_and_bots_left_out(con):
    df = sessions_table(con)
    # U1: 10:00 -> 10:30 is exactly 30 min (same session); 10:30 -> 11:00:01 is 30 min + 1 s (new);
    # the two 11:00:01 events tie and stay together. A1: 45 min apart -> two sessions.
    # G1 (Googlebot), B1 (BingBot), D1 ('-') and Y1 (YandexBot in device) are bots.
    assert _sessions(df) == {("U1", 1): (2, 1800), ("U1", 2): (2, 0), ("U2", 1): (1, 0),
                             ("R1", 1): (5, 40), ("A1", 1): (1, 0), ("A1", 2): (1, 0)}
    assert not df.is_bot.any()
    d = df.attrs["definition"]
    assert (d["n_sessions"], d["n_bot_customers"], d["n_bot_events"]) == (6, 4, 5)
    assert df.loc[df.customer_id == "U1", "session_id"].tolist() == ["U1#1", "U1#2"]
    assert df.loc[df.session_id == "U1#1", "start_ts"].iloc[0] == pd.Timestamp("2024-05-01 10:00:00")


def test_bots_kept_and_flagged_on_request(con):
    df = sessions_table(con, exclude_bots=False)
    assert sorted(df.loc[df.is_bot, "customer_id"]) == ["B1", "D1", "G1", "Y1"]
    assert _sessions(df)[("G1", 1)] == (2, 5)


def test_rate_limit_and_gap_option(con):
    # R1 has 5 events within 13:00 -> more than 4 per minute
    fast = sessions_table(con, max_events_per_minute=4)
    assert "R1" not in set(fast.customer_id) and fast.attrs["definition"]["n_bot_customers"] == 5
    assert "more than 4 events in one minute" in fast.attrs["definition"]["bot_rule"]
    longer = sessions_table(con, gap_minutes=60, source="web")
    assert _sessions(longer)[("U1", 1)] == (4, 3601)
    assert set(longer.customer_id) == {"U1", "U2", "R1"}
    only_patterns = sessions_table(con, bot_patterns=["googlebot"])
    assert {"B1", "D1", "Y1"} <= set(only_patterns.customer_id) and "G1" not in set(only_patterns.customer_id)


def test_sessionised_events_are_a_journey_unit(con):
    ev = sessionised_events(con)
    per = ev.group_by("journey_key").aggregate(n=ev.count()).order_by("journey_key").execute()
    assert dict(zip(per.journey_key, per.n)) == {"A1#1": 1, "A1#2": 1, "R1#1": 5, "U1#1": 2, "U1#2": 2, "U2#1": 1}


def test_bad_options(con):
    with pytest.raises(FilterError, match="Bot pattern '\\(bot' is not a valid regular expression"):
        sessions_table(con, bot_patterns=["(bot"])
    with pytest.raises(FilterError, match="gap_minutes must be a positive number"):
        sessions_table(con, gap_minutes=0)
    # hostile values are literals: nothing matches, nothing breaks
    df = sessions_table(con, bot_patterns=["'; DROP TABLE events; --", "ö'"], source="x' OR '1'='1")
    assert len(df) == 0


# --- real data: the Apache access log (visitor = pseudonymised IP | user agent) -----------------

WEBLOG = ROOT / "examples" / "real" / "weblog.yml"
APACHE = ROOT.parent / "shared" / "data" / "real" / "clickstream" / "apache_logs.csv.gz"


@pytest.fixture(scope="module")
def weblog(tmp_path_factory):
    if not APACHE.is_file():
        pytest.skip(f"real web log not found at {APACHE} (it lives beside the repo, never in it)")
    tmp = tmp_path_factory.mktemp("weblog")
    doc = yaml.safe_load(WEBLOG.read_text())
    for src in doc["sources"]:
        src["path"] = str((WEBLOG.parent / src["path"]).resolve())
        src["columns"]["device"] = "user_agent"      # keep the user agent on its own for bot detection
    (tmp / "weblog.yml").write_text(yaml.safe_dump(doc))
    run_ingest(tmp / "weblog.yml", tmp / "weblog.duckdb")
    return connect(tmp / "weblog.duckdb")


def _pandas_sessions(gap_seconds: int, exclude_bots: bool) -> int:
    """Independent count: sort each visitor's hits stably by time, split where the gap exceeds."""
    raw = pd.read_csv(APACHE, dtype=str, keep_default_na=False)
    raw["ts"] = pd.to_datetime(raw["timestamp"], utc=True)
    if exclude_bots:  # a visitor is IP | user agent, so one agent per visitor: drop the bot rows
        bot = raw["user_agent"].str.contains("|".join(f"(?:{p})" for p in DEFAULT_BOT_PATTERNS), flags=re.I)
        raw = raw[~bot]
    raw = raw.sort_values(["client_ip", "user_agent", "ts"], kind="stable")
    gap = raw.groupby(["client_ip", "user_agent"])["ts"].diff().dt.total_seconds()
    return int((gap.isna() | (gap > gap_seconds)).sum())


@pytest.mark.parametrize("exclude_bots", [True, False])
def test_weblog_session_count_matches_pandas(weblog, exclude_bots):
    df = sessions_table(weblog, exclude_bots=exclude_bots)
    assert len(df) == _pandas_sessions(1800, exclude_bots)
    assert df.n_events.sum() == (9_999 if not exclude_bots else 9_999 - df.attrs["definition"]["n_bot_events"])


def test_weblog_known_bots_excluded(weblog):
    df = sessions_table(weblog)
    agents = df.customer_id.str.split("|", n=1).str[1]
    for bot in ("Googlebot", "bingbot", "Baiduspider", "YandexBot", "msnbot", "Yahoo! Slurp", "AhrefsBot"):
        assert not agents.str.contains(bot, regex=False).any(), bot
    every = sessions_table(weblog, exclude_bots=False)
    flagged = every.loc[every.is_bot, "customer_id"].str.split("|", n=1).str[1]
    assert flagged.str.contains("Googlebot").any() and flagged.str.contains("bingbot").any()
    assert not every.loc[~every.is_bot, "customer_id"].str.contains("(?i)googlebot|bingbot").any()
