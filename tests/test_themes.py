"""Themes: taxonomy matching, theme shares, theme impact on NPS and theme discovery.

A hand fixture pins the matches, shares and impacts; a seeded bootstrap checks the impact
interval; the demo's planted E8 themes are recovered at their planted rates; the airline tweets'
negative reasons are recovered by examples/real/airline_themes.yml with a measured agreement.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from cjworkbench import connect
from cjworkbench.analysis.voc.theme_discovery import discover_themes_table
from cjworkbench.analysis.voc.theme_impact import impact_sums, theme_impact_table
from cjworkbench.analysis.voc.themes import (ThemeError, feedback_rows, keyword_regex, load_taxonomy, matched,
                                         theme_matches, themes_table)
from cjworkbench.ingest import run_ingest

from .conftest import ROOT, write_config

TAXONOMY = {"late": {"keywords": ["late", "still waiting", "delay*"], "exclude": [r"\bnot late\b"]},
            "price": {"keywords": ["price*", "expensive"]},
            "staff": ["friendly"]}
ROWS = [  # id, score, text, touchpoint
    ("F01", 10, "Friendly staff, fast delivery", "delivery"),
    ("F02", 9, "Parcel was LATE but staff were friendly", "delivery"),
    ("F03", 3, "Late again. Too expensive!", "delivery"),
    ("F04", 0, "still waiting. Mail me at a.b@example.com", "delivery"),
    ("F05", 6, "Prices too high", "brand"),
    ("F06", 8, "", "brand"),
    ("F07", 7, "Not late this time", "brand"),
    ("F08", 10, "Great", "brand"),
    ("F09", 2, "Delivery was delayed; price is steep", "delivery"),
    ("F10", 5, None, "delivery"),
]


def _feedback_db(folder: Path, rows, *, redact: bool = True) -> Path:
    df = pd.DataFrame(rows, columns=["id", "score", "comment", "tp"])
    df["cust"] = "c" + df.index.astype(str)
    df["ts"] = [f"2026-0{1 + i % 3}-1{i % 9} 10:00" for i in range(len(df))]
    df.to_csv(folder / "nps.csv", index=False)
    cfg = write_config(folder, [{"name": "nps", "kind": "feedback", "path": "nps.csv", "instrument": "nps",
                                 "redact_text": redact, "columns": {
                                     "feedback_id": "id", "customer_id": "cust", "feedback_ts": "ts",
                                     "score": "score", "text": "comment", "touchpoint": "tp"}}])
    run_ingest(cfg, folder / "db.duckdb")
    return folder / "db.duckdb"


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    con = connect(_feedback_db(tmp_path_factory.mktemp("themes"), ROWS))
    yield con
    con.disconnect()


def test_keywords_become_whole_word_regexes():
    assert keyword_regex("late") == r"\blate\b"
    assert keyword_regex("still  waiting") == r"\bstill\s+waiting\b"
    assert keyword_regex("verif*") == r"\bverif\w*"
    assert keyword_regex("c++ (beta)") == r"\bc\+\+\s+\(beta\)"
    tax = load_taxonomy({"themes": {"a": {"keywords": "late", "patterns": ["(?i)Later than"]}}})
    assert tax["a"]["match"] == r"(?i)(?:\blate\b)|(?:Later than)" and tax["a"]["exclude"] is None


def test_taxonomy_mistakes_are_named():
    with pytest.raises(ThemeError, match="Did you mean 'keywords'"):
        load_taxonomy({"a": {"keyword": ["x"]}})
    with pytest.raises(ThemeError, match="look-arounds"):
        load_taxonomy({"a": {"patterns": ["late(?! delivery)"]}})
    with pytest.raises(ThemeError, match="not a valid regular expression"):
        load_taxonomy({"a": {"patterns": ["(late"]}})
    with pytest.raises(ThemeError, match="has no keywords or patterns"):
        load_taxonomy({"a": {"exclude": ["x"]}})
    with pytest.raises(ThemeError, match="not found"):
        load_taxonomy("no/such/themes.yml")
    with pytest.raises(ThemeError, match="non-empty mapping"):
        load_taxonomy({})


def test_theme_matches_by_hand(hand):
    m = theme_matches(hand, taxonomy=TAXONOMY)
    assert list(m.columns) == ["feedback_id", "theme"]
    assert list(m.itertuples(index=False, name=None)) == [
        ("F01", "staff"), ("F02", "late"), ("F02", "staff"), ("F03", "late"), ("F03", "price"),
        ("F04", "late"), ("F05", "price"), ("F09", "late"), ("F09", "price")]
    only_brand = theme_matches(hand, taxonomy=TAXONOMY, filters={"touchpoint": "brand"})
    assert only_brand.feedback_id.tolist() == ["F05"]


def test_themes_table_shares_and_wilson_by_hand(hand):
    t = themes_table(hand, taxonomy=TAXONOMY)
    assert t.theme.tolist() == ["late", "price", "staff"]
    assert t.n_mentions.tolist() == [4, 3, 2] and t.n_comments.tolist() == [8, 8, 8]  # F06 empty, F10 null
    low, high = proportion_confint([4, 3, 2], 8, alpha=0.05, method="wilson")
    assert np.allclose(t.theme_rate, [4 / 8, 3 / 8, 2 / 8]) and np.allclose(t.low, low) and np.allclose(t.high, high)
    ex = t.set_index("theme").examples
    assert ex["late"] == ["Delivery was delayed; price is steep", "Late again. Too expensive!",
                          "Parcel was LATE but staff were friendly"]  # most recent (F09, F03, F02) first, at most 3
    by = themes_table(hand, taxonomy=TAXONOMY, by="touchpoint").set_index(["touchpoint", "theme"])
    assert by.loc[("brand", "price"), ["n_mentions", "n_comments"]].tolist() == [1, 3]
    assert by.loc[("delivery", "late"), ["n_mentions", "n_comments"]].tolist() == [4, 5]
    assert by.loc[("brand", "late"), "n_mentions"] == 0  # F07 "not late" is excluded
    assert t.attrs["definition"]["unit"].startswith("comment")


def test_examples_are_redacted_even_when_ingest_kept_the_raw_text(tmp_path):
    con = connect(_feedback_db(tmp_path, [("A", 3, "Still late, call 06-12345678", "x"), ("B", 3, "late", "x"),
                                          ("C", 9, "late, mail a.b@example.com", "x")], redact=False))
    assert con.table("feedback").filter(ibis._.feedback_id == "A").text.execute()[0].endswith("06-12345678")
    t = themes_table(con, taxonomy=TAXONOMY)
    assert sorted(t.set_index("theme").examples["late"]) == ["Still late, call [phone]", "late",
                                                             "late, mail [email]"]
    con.disconnect()


def test_theme_impact_on_nps_by_hand(hand):
    t = theme_impact_table(hand, taxonomy=TAXONOMY).set_index("theme")
    # all 10: 3 promoters (F01 F02 F08), 5 detractors (F03 F04 F05 F09 F10): NPS -20
    assert t.score_all.tolist() == [-20.0] * 3 and t.n_answers.tolist() == [10] * 3
    # late = F02 F03 F04 F09 (1 P, 3 D): NPS -50; without: F01 F05 F06 F07 F08 F10 (2 P, 2 D): 0
    assert t.loc["late", ["n_theme", "score_theme", "score_without", "impact"]].tolist() == [4, -50.0, 0.0, -20.0]
    # price = F03 F05 F09; without: 3 P (F01 F02 F08) and 2 D (F04 F10) of 7
    assert t.loc["price", "impact"] == pytest.approx(-20 - 100 / 7)
    # staff = F01 F02; without: 1 P (F08), 5 D of 8: -50, so the theme lifts NPS by 30 points
    assert t.loc["staff", "impact"] == pytest.approx(30.0)
    assert (t.low < t.impact).all() and (t.impact < t.high).all()


def test_impact_interval_agrees_with_a_seeded_bootstrap(tmp_path):
    rng = np.random.default_rng(5)
    n = 600
    has = rng.random(n) < 0.25
    score = np.where(has, rng.choice(11, n, p=[.1] * 5 + [.05] * 4 + [.15, .15]),
                     rng.choice(11, n, p=[.02] * 6 + [.08, .12, .2, .2, .28]))
    rows = [(f"R{i:03d}", int(s), "late again" if h else "fine", "x") for i, (s, h) in enumerate(zip(score, has))]
    con = connect(_feedback_db(tmp_path, rows))
    t = theme_impact_table(con, taxonomy={"late": ["late"]}).iloc[0]
    con.disconnect()
    v = np.where(score >= 9, 100.0, np.where(score <= 6, -100.0, 0.0))
    assert t.impact == pytest.approx(v.mean() - v[~has].mean())
    idx = np.random.default_rng(0).integers(0, n, (4000, n))
    vb, hb = v[idx], has[idx]
    boot = vb.mean(axis=1) - (vb * ~hb).sum(axis=1) / (~hb).sum(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    width = hi - lo
    assert abs(t.low - lo) < 0.1 * width and abs(t.high - hi) < 0.1 * width
    assert (t.high - t.low) == pytest.approx(width, rel=0.08)


def test_csat_top_box_and_mean_metrics(tmp_path):
    folder = tmp_path
    pd.DataFrame({"id": ["A", "B", "C", "D"], "cust": list("abcd"), "ts": ["2026-01-01"] * 4,
                  "score": [5, 4, 5, 1], "comment": ["slow", "slow", "ok", None]}).to_csv(folder / "c.csv", index=False)
    columns = {"feedback_id": "id", "customer_id": "cust", "feedback_ts": "ts", "score": "score", "text": "comment"}
    cfg = write_config(folder, [{"name": "csat", "kind": "feedback", "path": "c.csv", "instrument": "csat",
                                 "scale": [1, 5], "columns": columns}])
    run_ingest(cfg, folder / "db.duckdb")
    con = connect(folder / "db.duckdb")
    top = theme_impact_table(con, taxonomy={"slow": ["slow"]}, instrument="csat").iloc[0]
    assert top.metric == "top_box" and top.score_all == 50.0 and top.score_without == 50.0 and top.impact == 0.0
    mean = theme_impact_table(con, taxonomy={"slow": ["slow"]}, instrument="csat", metric="mean").iloc[0]
    assert mean.score_all == pytest.approx(15 / 4) and mean.score_theme == 4.5
    assert mean.impact == pytest.approx(15 / 4 - 3)  # without the theme: C 5 and D 1, mean 3
    with pytest.raises(ThemeError, match="Unknown metric 'median'"):
        theme_impact_table(con, taxonomy={"slow": ["slow"]}, instrument="csat", metric="median")
    con.disconnect()


def test_hostile_values_are_literals(hand):
    tax = {"it's'; DROP TABLE feedback; --": {"keywords": ["o'brien", "'; DROP TABLE feedback; --", "café"]}}
    assert theme_matches(hand, taxonomy=tax).empty
    t = themes_table(hand, taxonomy=tax, filters={"segment": "x'); DROP TABLE feedback; --"})
    assert t.n_comments.tolist() == [] or t.n_mentions.sum() == 0
    assert hand.table("feedback").count().execute() == 10


def test_theme_expressions_compile_for_spark():
    con = ibis.duckdb.connect()
    con.raw_sql("CREATE TABLE feedback (feedback_id VARCHAR, customer_id VARCHAR, feedback_ts TIMESTAMP, "
                "instrument VARCHAR, score DOUBLE, scale_min DOUBLE, scale_max DOUBLE, direction VARCHAR, "
                "touchpoint VARCHAR, channel VARCHAR, text VARCHAR, source VARCHAR, seq BIGINT)")
    ibis.pyspark  # noqa: B018  (loads the backend's options, needed to compile for it)
    tax = load_taxonomy(ROOT / "cjworkbench" / "demo" / "themes.yml")
    for expr in (matched(feedback_rows(con), tax), impact_sums(feedback_rows(con), tax, "nps")):
        sql = ibis.to_sql(expr, dialect="pyspark")
        assert "RLIKE" in sql.upper() or "REGEXP" in sql.upper()


# --- the demo: planted E8 themes -------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(demo_db):
    db, truth = demo_db
    con = connect(db)
    yield con, db, truth, db.parent / "designed" / "themes.yml"
    con.disconnect()


def _rate_ok(hits: pd.Series, p: float) -> bool:
    return abs(hits.mean() - p) <= 3.5 * math.sqrt(p * (1 - p) / len(hits))


def test_demo_taxonomy_finds_every_planted_theme_mention(demo):
    con, db, truth, themes = demo
    m = theme_matches(con, taxonomy=themes)
    raw = duckdb.connect(str(db), read_only=True)
    for theme, spec in truth["effects"]["E8"]["planted"].items():
        expected = raw.execute("SELECT feedback_id FROM feedback WHERE regexp_matches(text, ?) ORDER BY 1",
                               [spec["pattern"]]).fetchall()
        assert sorted(m.feedback_id[m.theme == theme]) == [r[0] for r in expected], theme
    raw.close()


def test_demo_late_delivery_and_repeat_contact_rates_match_truth(demo):
    con, db, truth, themes = demo
    planted = truth["effects"]["E8"]["planted"]
    m = theme_matches(con, taxonomy=themes)
    raw = duckdb.connect(str(db), read_only=True)
    late = raw.execute("""
        WITH d AS (SELECT customer_id, event_ts, TRY_CAST(attributes['days_late'] AS INT) AS days_late
                   FROM events WHERE activity = 'order_delivered'),
             a AS (SELECT feedback_id, customer_id, feedback_ts FROM feedback
                   WHERE instrument = 'nps' AND touchpoint IN ('delivery', 'brand') AND text IS NOT NULL)
        SELECT a.feedback_id, d.days_late > 3 AS cause FROM a ASOF JOIN d
          ON a.customer_id = d.customer_id AND a.feedback_ts >= d.event_ts
        WHERE a.feedback_ts - d.event_ts <= INTERVAL 60 DAY""").df()
    repeat = raw.execute("""
        WITH c AS (SELECT journey_id, customer_id, min(event_ts) FILTER (activity = 'case_opened') AS opened,
                          max(event_ts) AS ended FROM events WHERE source = 'contact_centre' GROUP BY ALL),
             r AS (SELECT journey_id, lag(ended) OVER (PARTITION BY customer_id ORDER BY opened, journey_id) AS prev
                   FROM c)
        SELECT f.feedback_id, coalesce(r.prev >= (c.opened - INTERVAL 7 DAY), false) AS cause
        FROM feedback f JOIN r USING (journey_id) JOIN c USING (journey_id)
        WHERE f.instrument IN ('csat', 'ces') AND f.text IS NOT NULL""").df()
    raw.close()
    for df, theme in ((late, "late_delivery"), (repeat, "repeat_contact")):
        hit = df.feedback_id.isin(m.feedback_id[m.theme == theme])
        assert df.cause.sum() > 50
        assert _rate_ok(hit[df.cause], planted[theme]["rate"]), (theme, hit[df.cause].mean())
        assert _rate_ok(hit[~df.cause], planted[theme]["base"]), (theme, hit[~df.cause].mean())


def test_demo_themes_table_by_instrument(demo):
    con, _db, _truth, themes = demo
    t = themes_table(con, taxonomy=themes, by="instrument").set_index(["instrument", "theme"])
    fb = con.table("feedback").to_pandas()
    fb = fb[fb.text.notna() & (fb.text.str.strip() != "")]
    n_ces = (fb.instrument == "ces").sum()
    assert (t.loc["ces", "n_comments"] == n_ces).all()
    from cjworkbench.demo.comments import PATTERNS  # English and Dutch phrases (issue #14)
    hits = fb.text[fb.instrument == "nps"].str.contains(PATTERNS["late_delivery"])
    assert t.loc[("nps", "late_delivery"), "n_mentions"] == hits.sum()
    assert t.loc[("nps", "price_value"), "theme_rate"] > t.loc[("ces", "price_value"), "theme_rate"]
    by_channel = themes_table(con, taxonomy=themes, by="channel", instrument="nps")  # NPS has no channel
    assert by_channel.channel.isna().all() and (by_channel.examples.str.len() == 3).all()


def test_demo_late_delivery_lowers_nps(demo):
    con, _db, _truth, themes = demo
    t = theme_impact_table(con, taxonomy=themes).set_index("theme")
    late = t.loc["late_delivery"]
    assert late.high < 0 and late.score_theme < late.score_without - 15
    assert t.loc["price_value", "high"] < 0  # planted on NPS answers with a low value rating


def test_demo_discovery_finds_the_planted_themes(demo):
    """A planted theme is found when a discovered theme's three top terms hold a word of the
    theme's planted phrases and at least two of its three examples carry that theme."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from cjworkbench.demo.comments import PHRASES

    con, _db, truth, _themes = demo
    d = discover_themes_table(con, n_themes=8, seed=0)
    assert d.equals(discover_themes_table(con, n_themes=8, seed=0))  # deterministic
    planted = truth["effects"]["E8"]["planted"]
    found = set()
    for theme, phrases in PHRASES.items():
        words = set(re.findall(r"[a-z]{2,}", " ".join(phrases).lower())) - ENGLISH_STOP_WORDS
        for row in d.itertuples():
            top = {w for term in row.top_terms[:3] for w in term.split()}
            pure = sum(bool(re.search(planted[theme]["pattern"], e)) for e in row.examples) >= 2
            if top & words and pure:
                found.add(theme)
    assert len(found) >= 4, (found, d[["theme", "top_terms"]])
    assert d.attrs["definition"]["n_comments"] == con.table("feedback").text.notnull().sum().execute()


# --- real data: airline tweets ---------------------------------------------------------------

@pytest.fixture(scope="module")
def airline(tmp_path_factory):
    from .conftest import REAL

    if not REAL.is_dir():
        pytest.skip(f"real exports not found at {REAL} (they live beside the repo, never in it)")
    db = tmp_path_factory.mktemp("airline") / "db.duckdb"
    run_ingest(ROOT / "examples" / "real" / "airline_tweets.yml", db)
    con = connect(db)
    yield con
    con.disconnect()


def test_airline_negative_reasons_are_recovered(airline):
    from sklearn.metrics import cohen_kappa_score

    path = ROOT / "examples" / "real" / "airline_themes.yml"
    themes = list(load_taxonomy(path))
    m = theme_matches(airline, taxonomy=path)
    fb = airline.table("feedback")
    gold = fb.select("feedback_id", sentiment=fb.attributes["airline_sentiment"],
                     reason=fb.attributes["negativereason"]).to_pandas()
    neg = gold[gold.sentiment == "negative"].copy()
    assert len(neg) == 9178 and set(themes) == set(neg.reason) - {"Can't Tell"}
    sets = m.groupby("feedback_id")["theme"].agg(set)
    neg["themes"] = [sets.get(f, set()) for f in neg.feedback_id]
    known = neg[neg.reason != "Can't Tell"]
    agreement = np.mean([r in s for r, s in zip(known.reason, known.themes)])
    assert agreement >= 0.60  # measured 0.634
    recall = {t: np.mean([t in s for s in known.themes[known.reason == t]]) for t in themes}
    precision = {t: np.mean(neg.reason[[t in s for s in neg.themes]] == t) for t in themes}
    assert recall["Cancelled Flight"] >= 0.70 and precision["Cancelled Flight"] >= 0.68  # 0.754, 0.724
    assert recall["Lost Luggage"] >= 0.74 and recall["Late Flight"] >= 0.54  # 0.782, 0.577
    best = [next((t for t in themes if t in s), "Can't Tell") for s in neg.themes]
    kappa = cohen_kappa_score(neg.reason, best)
    majority = (neg.reason == neg.reason.mode()[0]).mean()
    assert kappa >= 0.41 and np.mean(np.array(best) == neg.reason.to_numpy()) > majority + 0.15  # 0.444; 0.527 vs 0.317


def test_airline_discovery_finds_the_big_complaints(airline):
    d = discover_themes_table(airline, n_themes=10, seed=0, stop_words=["flight", "flights"])
    leads = [" ".join(terms[:3]) for terms in d.top_terms]
    for complaint in (r"\bcancel", r"\bhold\b", r"\bcustomer service\b", r"\bdelayed\b"):
        assert any(re.search(complaint, lead) for lead in leads), (complaint, leads)
    assert d.n_answers.max() < 0.25 * d.attrs["definition"]["n_comments"]  # no catch-all theme


def test_event_filters_select_the_same_answers_as_scores(demo):
    """device/activity filters mean "customers with such an event" for every VoC analysis: the theme
    base and the NPS count equal an independent pandas count of those customers' answers."""
    import cjworkbench as cjw

    con, _, _, themes = demo
    ev = con.table("events").select("customer_id", "device").execute()
    app_users = set(ev.loc[ev["device"] == "app", "customer_id"])
    fb = con.table("feedback").select("customer_id", "instrument", "text").execute()
    mine = fb[fb["customer_id"].isin(app_users)]
    written = mine["text"].fillna("").str.strip().str.len() > 0
    f = {"device": "app"}
    t = cjw.themes_table(con, taxonomy=themes, filters=f)
    assert int(t["n_comments"].iloc[0]) == int(written.sum()) < int((fb["text"].fillna("").str.strip() != "").sum())
    s = cjw.scores_table(con, instrument="nps", filters=f)
    assert int(s["n_answers"].iloc[0]) == int((mine["instrument"] == "nps").sum())
    assert "customers with such an event" in t.attrs["definition"]["filter_rules"]
