"""cjworkbench.demo: determinism, files and config, exact mess counts, and every planted effect
recovered from the raw exports by an independent computation (DuckDB SQL / pandas / csv).

Tolerance: 3.5 standard errors computed from the sample at hand. The module makes about 40
such comparisons; at 3.5 SE the chance that any one fails by sampling alone is about 2 %
(at 3 SE it would be about 10 %), while a wrong effect size still fails by a wide margin."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import math
import re
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from cjworkbench.contract import DIRECTIONS, FIELDS, INSTRUMENTS, KINDS
from cjworkbench.demo import generate

N_CUSTOMERS, SEED = 5000, 11
FILES = ("crm_customers.csv", "web_clickstream.csv.gz", "orders.parquet", "deliveries.jsonl",
         "contact_cases.csv", "marketing_emails.csv", "nps_survey.xlsx", "csat_survey.csv", "ces_survey.csv")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict, dict]:
    out = tmp_path_factory.mktemp("demo")
    summary = generate(out, customers=N_CUSTOMERS, seed=SEED)
    return out, summary, json.loads((out / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def con(demo):
    """Raw exports as DuckDB views, read independently of cjworkbench.ingest."""
    out, _, _ = demo
    x = out / "exports"
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    c.execute("SET enable_progress_bar = false")
    c.execute(f"""CREATE TABLE hits AS SELECT DISTINCT session_id, cust_no, device, page,
        timezone('Europe/Amsterdam', try_strptime(ts, '%Y-%m-%d %H:%M:%S')) AS ts,
        try_strptime(ts, '%Y-%m-%d %H:%M:%S') AS local_ts
        FROM read_csv('{x / "web_clickstream.csv.gz"}', all_varchar = true, ignore_errors = true)""")
    c.execute(f"""CREATE TABLE steps AS SELECT DISTINCT case_id, cust_no, TRY_CAST(step_ts AS TIMESTAMPTZ) AS ts,
        chan, queue, action FROM read_csv('{x / "contact_cases.csv"}', all_varchar = true, ignore_errors = true)""")
    c.execute(f"""CREATE TABLE orders AS SELECT * FROM read_parquet('{x / "orders.parquet"}')""")
    c.execute(f"""CREATE TABLE deliv AS SELECT order_id, customer_ref, event, CAST("at" AS TIMESTAMPTZ) AS ts, days_late
        FROM read_json('{x / "deliveries.jsonl"}', columns = {{order_id: 'VARCHAR', customer_ref: 'VARCHAR',
        event: 'VARCHAR', "at": 'VARCHAR', promised_date: 'VARCHAR', days_late: 'INTEGER', carrier: 'VARCHAR'}})""")
    nps = pd.read_excel(x / "nps_survey.xlsx", sheet_name="NPS")
    c.register("nps_raw", nps)
    c.execute("""CREATE TABLE nps AS SELECT *, timezone('Europe/Amsterdam', answered_on::TIMESTAMP) AS answered
                 FROM nps_raw""")
    c.execute(f"""CREATE TABLE csat AS SELECT * FROM read_csv('{x / "csat_survey.csv"}', all_varchar = true)""")
    c.execute(f"""CREATE TABLE ces AS SELECT * FROM read_csv('{x / "ces_survey.csv"}', all_varchar = true)""")
    c.execute(f"""CREATE TABLE crm AS SELECT * FROM read_csv('{x / "crm_customers.csv"}', delim = ';',
                 encoding = 'latin-1', all_varchar = true)""")
    c.execute("""CREATE TABLE cases AS
        WITH per_case AS (SELECT case_id, any_value(cust_no) AS cust_no,
                 min(ts) FILTER (action = 'opened') AS opened, max(ts) AS last_ts,
                 count(DISTINCT chan) > 1 AS switched FROM steps GROUP BY case_id)
        SELECT *, coalesce(opened - lag(last_ts) OVER (PARTITION BY cust_no ORDER BY opened)
                           <= INTERVAL 7 DAY, false) AS repeat FROM per_case""")
    yield c
    c.close()


# --- helpers ---------------------------------------------------------------------------------

def within(measured: float, expected: float, se: float, k: float = 3.5) -> bool:
    return abs(measured - expected) <= k * se


def rate_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-4) / n)


def nps_and_se(scores: np.ndarray) -> tuple[float, float]:
    """NPS (promoters% - detractors%) and its standard error, in points."""
    pro, det = (scores >= 9).mean(), (scores <= 6).mean()
    var = pro + det - (pro - det) ** 2
    return 100 * (pro - det), 100 * math.sqrt(var / scores.size)


def mean_gap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """b - a and its standard error."""
    return b.mean() - a.mean(), math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)


# --- determinism, files, config ----------------------------------------------------------------

def test_same_seed_same_bytes_other_seed_other_bytes(demo, tmp_path):
    out, _, _ = demo
    generate(tmp_path / "again", customers=N_CUSTOMERS, seed=SEED)
    generate(tmp_path / "other", customers=N_CUSTOMERS, seed=SEED + 1)
    names = [f"exports/{f}" for f in FILES] + ["cjworkbench.yml", "designed/onboarding.yml", "truth.json"]
    for name in names:
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
    for name in [f"exports/{f}" for f in FILES]:
        assert (tmp_path / "other" / name).read_bytes() != (out / name).read_bytes(), name


def _count_rows(path: Path) -> int:
    if path.suffix == ".parquet":
        return pq.read_metadata(path).num_rows
    if path.suffix == ".xlsx":
        return len(pd.read_excel(path))
    if path.suffix == ".jsonl":
        return sum(1 for _ in path.open(encoding="utf-8"))
    opener = gzip.open if path.suffix == ".gz" else open
    encoding = "latin-1" if path.name.startswith("crm") else "utf-8"
    with opener(path, "rt", encoding=encoding, newline="") as f:
        if path.name in ("web_clickstream.csv.gz", "contact_cases.csv"):  # lines, malformed ones included
            return sum(1 for _ in f) - 1
        return sum(1 for _ in csv.reader(f, delimiter=";" if path.name.startswith("crm") else ",")) - 1


def test_files_exist_and_row_counts_match_summary(demo):
    out, summary, truth = demo
    assert set(summary["files"]) == {f"exports/{f}" for f in FILES}
    for name, rows in summary["files"].items():
        assert _count_rows(out / name) == rows, name
    assert truth["files"] == summary["files"]
    assert summary["n_customers"] == N_CUSTOMERS
    assert 35 * N_CUSTOMERS < summary["n_events"] < 80 * N_CUSTOMERS  # ~1 M events per 20,000 customers
    assert (out / "designed" / "onboarding.yml").is_file()


def _headers(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        return pq.read_schema(path).names
    if path.suffix == ".xlsx":
        return list(pd.read_excel(path, nrows=0).columns)
    if path.suffix == ".jsonl":
        return list(json.loads(path.open(encoding="utf-8").readline()))
    opener = gzip.open if path.suffix == ".gz" else open
    enc = "latin-1" if path.name.startswith("crm") else "utf-8"
    with opener(path, "rt", encoding=enc) as f:
        return next(csv.reader(f, delimiter=";" if path.name.startswith("crm") else ","))


def test_config_follows_the_schema_and_names_real_columns(demo):
    out, _, _ = demo
    cfg = yaml.safe_load((out / "cjworkbench.yml").read_text(encoding="utf-8"))
    assert cfg["timezone"] == "Europe/Amsterdam"
    allowed = {"name", "kind", "path", "format", "delimiter", "encoding", "sheet", "timezone", "timestamp_format",
               "duplicates", "columns", "constants", "maps", "personal", "drop", "instrument", "scale", "direction",
               "derive"}   # derive: the contact centre's caller_phone (issue #17)
    names = [s["name"] for s in cfg["sources"]]
    assert len(set(names)) == len(names) == 9
    assert {s["path"] for s in cfg["sources"]} == {f"exports/{f}" for f in FILES}
    for src in cfg["sources"]:
        assert set(src) <= allowed, src["name"]
        assert re.fullmatch(r"[a-z0-9_]+", src["name"]) and src["kind"] in KINDS
        header = set(_headers(out / src["path"]))
        fields = set(FIELDS[src["kind"]])
        assert set(src.get("columns", {})) <= fields and set(src.get("constants", {})) <= fields
        assert set(src.get("maps", {})) <= fields
        flat = {c for v in src.get("columns", {}).values() for c in ([v] if isinstance(v, str) else v)}
        used = flat | {m["from"] for m in src.get("maps", {}).values()}
        used |= set(src.get("personal", [])) | set(src.get("drop", []))
        assert used - set(src.get("derive", {})) <= header, (src["name"], used - header)
        if src["kind"] == "events":
            assert "activity" in set(src.get("maps", {})) | set(src.get("constants", {}))
        if src["kind"] == "feedback":
            assert src["instrument"] in INSTRUMENTS and src["direction"] in DIRECTIONS
            assert len(src["scale"]) == 2
    ces = next(s for s in cfg["sources"] if s["name"] == "ces")
    assert ces["direction"] == "lower_is_better" and ces["scale"] == [1, 7]
    crm = next(s for s in cfg["sources"] if s["name"] == "crm")
    assert crm["encoding"] == "latin-1" and crm["delimiter"] == ";"
    assert set(crm["personal"]) == {"first_name", "last_name", "email", "phone"}


def test_design_is_an_ordered_readable_journey(demo):
    out, _, _ = demo
    design = yaml.safe_load((out / "designed" / "onboarding.yml").read_text(encoding="utf-8"))
    steps = [s for stage in design["stages"] for s in stage["steps"]]
    assert [s["activity"] for s in steps][:3] == ["signup", "verify_email", "complete_profile"]
    assert any(s.get("optional") for s in steps) and any(s.get("alternatives") for s in steps)
    assert any("max_gap" in s for s in steps) and design["within"] == "30d"


def test_bad_options_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="at least 500.*--customers 500"):
        generate(tmp_path, customers=10)
    with pytest.raises(ValueError, match="end_date must be a date like 2026-10-31, got '31-10-2026'"):
        generate(tmp_path, end_date="31-10-2026")
    assert not (tmp_path / "exports").exists()


def test_crm_is_latin1_with_accents(demo):
    out, _, _ = demo
    raw = (out / "exports" / "crm_customers.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("latin-1")
    assert text.startswith('"cust_no";"first_name"') and re.search("[éëïöüøåçñ]", text)


# --- mess: counted independently from the raw lines --------------------------------------------

AMS = __import__("zoneinfo").ZoneInfo("Europe/Amsterdam")


def _local_kind(text: str) -> str:
    """'bad' (unparseable), 'gap' (does not exist in Amsterdam), 'fold' (ambiguous) or 'ok'."""
    try:
        t = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return "bad"
    if t.hour != 2 or t.month not in (3, 10):
        return "ok"
    there = t.replace(tzinfo=AMS)
    if there.astimezone(dt.UTC).astimezone(AMS).replace(tzinfo=None) != t:
        return "gap"
    return "fold" if there.utcoffset() != t.replace(tzinfo=AMS, fold=1).utcoffset() else "ok"


def test_clickstream_mess_matches_truth(demo):
    out, _, truth = demo
    m = truth["mess"]["exports/web_clickstream.csv.gz"]
    lines = gzip.decompress((out / "exports" / "web_clickstream.csv.gz").read_bytes()).decode().splitlines()[1:]
    assert len(lines) == m["data_lines"]
    assert len(lines) - len(set(lines)) == m["duplicate_lines"]
    assert 0.001 < m["duplicate_lines"] / len(lines) < 0.003
    rows = list(csv.reader(dict.fromkeys(lines)))
    assert sum(len(r) != 9 for r in rows) == m["malformed_lines"] == 7   # 9 fields: device_id and ip (issue #17)
    kinds = Counter(_local_kind(r[2]) for r in rows if len(r) == 9)
    assert kinds["bad"] == m["unparseable_timestamps"] == 5
    assert kinds["gap"] == m["nonexistent_local_times"] >= 3
    assert kinds["fold"] == m["ambiguous_local_times"] > 0
    assert m["valid_rows"] == len(rows) - m["malformed_lines"] - m["unparseable_timestamps"]


def test_case_log_mess_matches_truth(demo):
    out, _, truth = demo
    m = truth["mess"]["exports/contact_cases.csv"]
    lines = (out / "exports" / "contact_cases.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert len(lines) == m["data_lines"]
    assert len(lines) - len(set(lines)) == m["duplicate_lines"] > 0
    rows = list(csv.reader(dict.fromkeys(lines)))
    assert sum(len(r) != 9 for r in rows) == m["malformed_lines"] == 3

    def unparseable(text):
        try:
            return dt.datetime.fromisoformat(text).utcoffset() is None
        except ValueError:
            return True
    ok = [r for r in rows if len(r) == 9]
    assert sum(unparseable(r[2]) for r in ok) == m["unparseable_timestamps"] == 4
    offsets = Counter(r[2][-6:] for r in ok if not unparseable(r[2]))
    assert set(offsets) == {"+01:00", "+02:00"}
    assert sum(r[4] == "Q99" for r in ok if not unparseable(r[2])) == m["unmapped_queue_rows"] > 0


def test_comment_personal_data_matches_truth(demo, con):
    _, _, truth = demo
    for table, column, name in (("csat", "verbatim", "csat_survey.csv"), ("ces", "verbatim", "ces_survey.csv"),
                                ("nps", "comment", "nps_survey.xlsx")):
        email, phone, multi = con.execute(f"""SELECT
            count(*) FILTER (regexp_matches({column}, '[a-z.]+@(mail\\.)?example\\.(com|net|org)')),
            count(*) FILTER (regexp_matches({column}, '06-[0-9]{{8}}')),
            count(*) FILTER (contains({column}, chr(10))) FROM {table}""").fetchone()
        counts = truth["mess"][f"exports/{name}"]
        assert (email, phone, multi) == (counts["with_email"], counts["with_phone"], counts["multiline"]), name
        assert email > 0 and phone > 0


# --- planted effects, recovered from the raw exports -------------------------------------------

def test_e1_app_checkouts_with_a_phone_switch_complete_less_often(demo, con):
    e = demo[2]["effects"]["E1"]
    df = con.execute("""
        WITH att AS (SELECT session_id, any_value(cust_no) AS cust_no,
                        min(ts) FILTER (page = '/checkout/start') AS start_ts,
                        min(ts) FILTER (page = '/checkout/confirmed') AS conf_ts
                     FROM hits WHERE device = 'app' GROUP BY session_id HAVING start_ts IS NOT NULL),
             phones AS (SELECT cust_no, right(regexp_replace(phone, '[^0-9]', '', 'g'), 8) AS digits FROM crm),
             calls AS (SELECT coalesce(p.cust_no, s.cust_no) AS cust_no, ts FROM steps s   -- a caller logged by
                       LEFT JOIN phones p ON NOT regexp_matches(s.cust_no, '^C[0-9]+$')   -- phone number (issue #17)
                            AND p.digits = right(regexp_replace(s.cust_no, '[^0-9]', '', 'g'), 8)
                       WHERE action = 'opened' AND chan = 'TEL')
        SELECT conf_ts IS NOT NULL AS complete,
               EXISTS (SELECT 1 FROM calls c WHERE c.cust_no = att.cust_no AND c.ts > att.start_ts
                       AND c.ts < coalesce(att.conf_ts, att.start_ts + INTERVAL 2 HOUR)) AS switch
        FROM att""").df()
    sw, no = df.complete[df.switch], df.complete[~df.switch]
    assert within(len(sw) / len(df), e["planted"]["switch_rate"], rate_se(e["planted"]["switch_rate"], len(df)))
    se_sw, se_no = rate_se(sw.mean(), len(sw)), rate_se(no.mean(), len(no))
    assert within(no.mean(), e["expected"]["completion_no_switch"], se_no)
    assert within(sw.mean(), e["expected"]["completion_switch"], se_sw)
    gap = sw.mean() - no.mean()
    assert within(gap, e["planted"]["completion_gap"], math.hypot(se_sw, se_no)) and gap < -0.05


def test_e2_late_deliveries_lower_the_next_nps(demo, con):
    e = demo[2]["effects"]["E2"]["planted"]
    df = con.execute("""
        WITH d AS (SELECT customer_ref, ts, days_late FROM deliv WHERE event = 'delivered'),
             a AS (SELECT cust_no, answered, ltr, comment FROM nps WHERE touchpoint <> 'ONB')
        SELECT a.ltr, d.days_late > 3 AS late, a.comment FROM a ASOF JOIN d
            ON a.cust_no = d.customer_ref AND a.answered >= d.ts
        WHERE a.answered - d.ts <= INTERVAL 60 DAY""").df()
    late, on = df.ltr[df.late].to_numpy(), df.ltr[~df.late].to_numpy()
    assert len(late) > 100
    (nps_on, se_on), (nps_late, se_late) = nps_and_se(on), nps_and_se(late)
    assert within(nps_on, e["nps"]["on_time"], se_on) and within(nps_late, e["nps"]["late"], se_late)
    assert within(nps_late - nps_on, e["nps_gap"], math.hypot(se_on, se_late)) and e["nps_gap"] <= -30
    gap, se = mean_gap(on, late)
    assert within(gap, e["ltr_gap"], se) and gap < -0.3


def _case_scores(con, table: str, score: str):
    return con.execute(f"""SELECT c.repeat, c.switched, s.{score}::INT AS score
                           FROM {table} s JOIN cases c USING (case_id)""").df()


def test_e3_repeat_contacts_lower_csat_and_raise_effort(demo, con):
    e = demo[2]["effects"]["E3"]["planted"]
    csat = _case_scores(con, "csat", "csat")
    first, rep = csat.score[~csat.repeat].to_numpy(), csat.score[csat.repeat].to_numpy()
    assert len(rep) > 100
    assert within(first.mean(), e["csat"]["first"]["mean"], first.std() / math.sqrt(len(first)))
    assert within(rep.mean(), e["csat"]["repeat"]["mean"], rep.std() / math.sqrt(len(rep)))
    gap, se = mean_gap(first, rep)
    assert within(gap, e["csat_gap"], se) and gap < -0.5
    top_first, top_rep = (first == 5).mean(), (rep == 5).mean()
    assert within(top_first, e["csat"]["first"]["top_box"], rate_se(top_first, len(first)))
    assert within(top_rep, e["csat"]["repeat"]["top_box"], rate_se(top_rep, len(rep)))
    ces = _case_scores(con, "ces", "effort")
    gap, se = mean_gap(ces.score[~ces.repeat].to_numpy(), ces.score[ces.repeat].to_numpy())
    assert within(gap, e["ces_gap"], se) and gap > 0.5


def test_e4_channel_switch_lowers_csat_raises_effort_transfers_do_not(demo, con):
    e = demo[2]["effects"]["E4"]
    csat = _case_scores(con, "csat", "csat")
    gap, se = mean_gap(csat.score[~csat.switched].to_numpy(), csat.score[csat.switched].to_numpy())
    assert within(gap, e["planted"]["csat_gap"], se) and gap < -0.4
    ces = _case_scores(con, "ces", "effort")
    gap, se = mean_gap(ces.score[~ces.switched].to_numpy(), ces.score[ces.switched].to_numpy())
    assert within(gap, e["planted"]["ces_gap"], se) and gap > 0.8
    share = con.execute("SELECT avg(switched::INT), count(*) FROM cases").fetchone()
    assert within(share[0], e["planted"]["switch_rate"], rate_se(share[0], share[1]))
    transfer = con.execute("""SELECT c.case_id IN (SELECT case_id FROM steps WHERE action = 'transferred') AS t,
                              s.csat::INT AS score FROM csat s JOIN cases c USING (case_id)""").df()
    gap, se = mean_gap(transfer.score[~transfer.t].to_numpy(), transfer.score[transfer.t].to_numpy())
    assert within(gap, 0.0, se)  # the null control: hand-offs between departments carry no effect


def test_e5_traditional_persona_phones_after_browsing_on_desktop(demo, con):
    e = demo[2]["effects"]["E5"]
    con.execute("""CREATE OR REPLACE TEMP TABLE persona AS
                   SELECT cust_no, birth_year::INT < 1960 AS trad FROM crm""")
    orders = dict(con.execute("""SELECT trad, list_value(avg((channel = 'phone')::INT), count(*))
        FROM orders JOIN persona ON cust_no = customer_ref GROUP BY trad""").fetchall())
    sessions = dict(con.execute("""SELECT trad, list_value(avg((device = 'app')::INT), avg((device = 'desktop')::INT),
        count(*)) FROM (SELECT DISTINCT session_id, cust_no, device FROM hits) JOIN persona USING (cust_no)
        GROUP BY trad""").fetchall())
    for trad, name in ((True, "traditional"), (False, "other")):
        exp = e["expected"][name]
        share, n = orders[trad]
        assert within(share, exp["phone_share_of_orders"], rate_se(share, n)), name
        app, desktop, n = sessions[trad]
        assert within(app, exp["app_share_of_sessions"], rate_se(app, n)), name
        assert within(desktop, exp["desktop_share_of_sessions"], rate_se(desktop, n)), name
    assert orders[True][0] > 0.5 > 0.1 > orders[False][0]
    assert sessions[True][0] < 0.03 < 0.2 < sessions[False][0]
    before = dict(con.execute("""SELECT trad, list_value(avg(browsed::INT), count(*)) FROM (
        SELECT o.customer_ref, EXISTS (SELECT 1 FROM hits h WHERE h.cust_no = o.customer_ref AND h.device = 'desktop'
               AND h.ts BETWEEN o.ordered_at - INTERVAL 3 HOUR AND o.ordered_at) AS browsed
        FROM orders o WHERE channel = 'phone') JOIN persona ON cust_no = customer_ref GROUP BY trad""").fetchall())
    for trad, name in ((True, "traditional"), (False, "other")):
        p = e["planted"]["desktop_session_before_phone_order"][name]
        assert within(before[trad][0], p, rate_se(p, before[trad][1])), name


def test_e6_payment_step_drop_off_worsens_in_the_last_six_months(demo, con):
    e = demo[2]["effects"]["E6"]["planted"]
    got = dict(con.execute(f"""
        WITH s AS (SELECT session_id, min(local_ts) AS first_local, bool_or(page = '/checkout/payment') AS pay,
                          bool_or(page = '/checkout/confirmed') AS conf FROM hits GROUP BY session_id)
        SELECT first_local >= DATE '{e["drift_date"]}' AS late, list_value(avg((NOT conf)::INT), count(*))
        FROM s WHERE pay GROUP BY late""").fetchall())
    (before, n_b), (after, n_a) = got[False], got[True]
    assert within(before, e["drop_before"], rate_se(e["drop_before"], int(n_b)))
    assert within(after, e["drop_after"], rate_se(e["drop_after"], int(n_a)))
    assert after - before > 0.08


def test_e7_onboarding_deviations_lower_first_purchase_and_onboarding_nps(demo, con):
    truth = demo[2]
    e = truth["effects"]["E7"]
    end = dt.date.fromisoformat(truth["generator"]["end_date"]) + dt.timedelta(days=1)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE onb AS
        SELECT cust_no, signup, verify IS NULL OR profile < verify AS deviate,
               signup <= timezone('Europe/Amsterdam', TIMESTAMP '{end}') - INTERVAL 30 DAY AS in_pop
        FROM (SELECT cust_no, min(ts) FILTER (page = '/signup') AS signup,
                     min(ts) FILTER (page = '/verify-email') AS verify, min(ts) FILTER (page = '/profile') AS profile
              FROM hits GROUP BY cust_no) WHERE signup IS NOT NULL""")
    share = con.execute("SELECT avg(deviate::INT), count(*) FROM onb").fetchone()
    planted_dev = 1 - e["planted"]["paths"]["conform"]
    assert within(share[0], planted_dev, rate_se(planted_dev, share[1]))
    rates = dict(con.execute("""SELECT deviate, list_value(avg(bought::INT), count(*)) FROM (
        SELECT deviate, EXISTS (SELECT 1 FROM orders o WHERE o.customer_ref = onb.cust_no
               AND o.ordered_at BETWEEN onb.signup AND onb.signup + INTERVAL 30 DAY) AS bought
        FROM onb WHERE in_pop) GROUP BY deviate""").fetchall())
    for dev, name in ((False, "conform"), (True, "deviate")):
        p, n = rates[dev]
        assert within(p, e["expected"]["first_purchase_rate"][name], rate_se(p, n)), name
    assert rates[False][0] - rates[True][0] > 0.1
    ltr = con.execute("""SELECT onb.deviate, nps.ltr FROM nps JOIN onb USING (cust_no)
                         WHERE nps.touchpoint = 'ONB'""").df()
    conform, deviate = ltr.ltr[~ltr.deviate].to_numpy(), ltr.ltr[ltr.deviate].to_numpy()
    gap, se = mean_gap(conform, deviate)
    planted = e["planted"]["onboarding_ltr_mean"]
    assert within(gap, planted["deviate"] - planted["conform"], se) and gap < -0.4
    (n_c, se_c), (n_d, se_d) = nps_and_se(conform), nps_and_se(deviate)
    nps_planted = e["planted"]["onboarding_nps"]
    assert within(n_d - n_c, nps_planted["deviate"] - nps_planted["conform"], math.hypot(se_c, se_d))


def test_e8_comment_themes_follow_their_causes(demo, con):
    themes = demo[2]["effects"]["E8"]["planted"]
    late = con.execute(f"""
        WITH d AS (SELECT customer_ref, ts, days_late FROM deliv WHERE event = 'delivered'),
             a AS (SELECT cust_no, answered, comment FROM nps WHERE touchpoint <> 'ONB' AND comment IS NOT NULL)
        SELECT d.days_late > 3 AS cause, regexp_matches(a.comment, '{themes["late_delivery"]["pattern"]}') AS hit
        FROM a ASOF JOIN d ON a.cust_no = d.customer_ref AND a.answered >= d.ts
        WHERE a.answered - d.ts <= INTERVAL 60 DAY""").df()
    repeat = con.execute(f"""
        SELECT c.repeat AS cause, regexp_matches(s.verbatim, '{themes["repeat_contact"]["pattern"]}') AS hit
        FROM (SELECT case_id, verbatim FROM csat UNION ALL SELECT case_id, verbatim FROM ces) s
        JOIN cases c USING (case_id) WHERE s.verbatim IS NOT NULL""").df()
    for df, theme in ((late, "late_delivery"), (repeat, "repeat_contact")):
        for cause, key in ((True, "rate"), (False, "base")):
            hits = df.hit[df.cause == cause]
            p = themes[theme][key]
            assert within(hits.mean(), p, rate_se(p, len(hits))), (theme, key)
        assert df.hit[df.cause].mean() > 0.3 > 0.1 > df.hit[~df.cause].mean(), theme


def test_every_theme_phrase_matches_only_its_own_pattern():
    from cjworkbench.demo.comments import GENERIC, PATTERNS, PHRASES
    for theme, phrases in {**PHRASES, "generic": GENERIC}.items():
        for phrase in phrases:
            matched = {t for t, pattern in PATTERNS.items() if re.search(pattern, phrase)}
            assert matched == ({theme} if theme != "generic" else set()), phrase


def test_amsterdam_offsets_match_zoneinfo():
    from cjworkbench.demo.timeline import utc_offset
    ts = np.random.default_rng(0).integers(1_600_000_000, 1_900_000_000, 2000)
    expected = [dt.datetime.fromtimestamp(int(t), AMS).utcoffset().total_seconds() for t in ts]
    assert utc_offset(ts).tolist() == expected


# --- the ingest, once it exists -----------------------------------------------------------------

def test_ingest_reconciles_with_truth(demo, tmp_path):
    ingest = pytest.importorskip("cjworkbench.ingest")
    if not hasattr(ingest, "run_ingest"):
        pytest.skip("cjworkbench.ingest.run_ingest does not exist yet")
    out, _, truth = demo
    ingest.run_ingest(out / "cjworkbench.yml", tmp_path / "demo.duckdb")
    with duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True) as db:
        n = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("customers", "events", "feedback")}
        dupes = db.execute("SELECT sum(rows_duplicate) FROM ingest_runs").fetchone()[0]
        loaded = dict(db.execute("SELECT source, rows_loaded FROM ingest_runs").fetchall())
    can, mess = truth["canonical"], truth["mess"]
    assert n["customers"] == can["customers"] and n["feedback"] == can["feedback"]
    assert can["events"] - can["events_nonexistent_local_times"] <= n["events"] <= can["events"]
    assert dupes == sum(m.get("duplicate_lines", 0) for m in mess.values())
    web, cases = mess["exports/web_clickstream.csv.gz"], mess["exports/contact_cases.csv"]
    assert web["valid_rows"] - web["nonexistent_local_times"] <= loaded["web"] <= web["valid_rows"]
    assert loaded["contact_centre"] == cases["valid_rows"]
