"""Sentiment: the packaged model works offline, the customer-experience lexicon reads service texts
the way a CX analyst would, per-response and grouped tables on a tiny fixture, the labelled airline
tweets (accuracy and macro-F1 against the majority class), and late deliveries in the demo."""

from __future__ import annotations

import csv

import duckdb
import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import accuracy_score, f1_score

import cjworkbench
from cjworkbench.analysis.voc.scores import nps_interval
from cjworkbench.analysis.voc.sentiment import (LEXICON_FILE, SentimentError, read_lexicon, score_texts,
                                            sentiment_labels, sentiment_table)
from cjworkbench.ingest import run_ingest

from .conftest import ROOT, write_config


def test_model_ships_with_its_package():
    import vaderSentiment.vaderSentiment as v

    assert "vaderSentiment" in v.__file__ and LEXICON_FILE.is_file()  # lexicons are files in the wheels
    terms = read_lexicon()
    assert terms["on hold"] < 0 and terms["resolved"] > 0 and "never" not in terms and "no" not in terms
    lines = [x for x in LEXICON_FILE.read_text().splitlines() if x.strip() and not x.startswith("#")]
    assert len(terms) == len(lines) and all(-4 <= v <= 4 for v in terms.values())  # no term listed twice


def test_lexicon_file_errors_name_the_line(tmp_path):
    (tmp_path / "lex.txt").write_text("# ok\nlate\t-1.2\twhy\nslow\tvery\twhy\n")
    with pytest.raises(SentimentError, match=r"lex.txt:3: valence must be a number, got 'very'"):
        read_lexicon(tmp_path / "lex.txt")


@pytest.mark.parametrize("text, cx, vader", [
    ("My flight was delayed again and I am still waiting", "negative", "negative"),
    ("Please help, my bag is lost", "negative", "positive"),          # a request, not praise
    ("@united I was on hold for 2 hours", "negative", "positive"),    # '@united' read as 'united' +1.8
    ("Thanks for the 3 hour delay!", "negative", "positive"),        # courtesy in a failure report
    ("Can you help me change my booking number?", "neutral", "positive"),
    ("The parcel arrived on time, great service", "positive", "positive"),
    ("No help at all from customer care", "negative", "positive"),   # 'no' stays a negation; care +2.2
    ("It never arrived", "negative", "neutral"),
])
def test_cx_lexicon_reads_service_texts(text, cx, vader):
    assert sentiment_labels(score_texts([text]))[0] == cx
    assert sentiment_labels(score_texts([text], lexicon="vader"))[0] == vader


def test_scores_labels_and_custom_terms():
    c = score_texts(["The agent was great", None, "  ", "The agent was great"])
    assert c[0] == c[3] == pytest.approx(score_texts(["The agent was great"], lexicon="vader")[0])
    assert np.isnan(c[1]) and np.isnan(c[2])
    assert list(sentiment_labels([0.05, 0.0499, -0.0499, -0.05, np.nan])) == \
        ["positive", "neutral", "neutral", "negative", None]
    assert score_texts(["the parcel"])[0] == 0  # VADER normalises a sum s to s / sqrt(s² + 15):
    assert score_texts(["the parcel"], lexicon={"parcel": -2})[0] == pytest.approx(-2 / np.sqrt(4 + 15), abs=1e-4)
    with pytest.raises(SentimentError, match="Unknown lexicon 'vadr'.*Did you mean 'vader'"):
        score_texts(["x"], lexicon="vadr")


TEXTS = [("f1", "c1", "2024-01-05 10:00:00", "nps", 9, "shop", "Great staff, very helpful"),
         ("f2", "c2", "2024-01-06 10:00:00", "nps", 3, "shop", "Parcel never arrived, still waiting"),
         ("f3", "c3", "2024-02-07 10:00:00", "nps", 7, "web", "I ordered a lamp"),
         ("f4", "c1", "2024-02-08 10:00:00", "nps", 2, "web", "Terrible, cancelled without a refund"),
         ("f5", "c2", "2024-02-09 10:00:00", "nps", 8, "web", ""),
         ("f6", "c3", "2024-02-10 10:00:00", "social", None, "web", "Love the new app!"),
         ("f7", "c1", "2024-02-11 10:00:00", "social", None, "shop", "Zoë's parcel is lost; call 06-12345678")]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    d = tmp_path_factory.mktemp("sentiment")
    sources = []
    for instrument in ("nps", "social"):
        with open(d / f"{instrument}.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([("id", "cust", "ts", "score", "tp", "text"),
                                      *[(*t[:3], *t[4:]) for t in TEXTS if t[3] == instrument]])
        sources.append({"name": instrument, "kind": "feedback", "path": f"{instrument}.csv", "instrument": instrument,
                        "columns": {"feedback_id": "id", "customer_id": "cust", "feedback_ts": "ts", "score": "score",
                                    "touchpoint": "tp", "text": "text"}})
    run_ingest(write_config(d, sources), d / "db.duckdb")
    return cjworkbench.connect(d / "db.duckdb")


def test_per_response_table(con):
    df = sentiment_table(con)
    assert list(df.feedback_id) == ["f1", "f2", "f3", "f4", "f6", "f7"]  # f5 has no text
    assert "text" not in df.columns  # verbatims (and the phone number in f7) stay out of the table
    want = score_texts([t[-1] for t in TEXTS if t[-1]])
    assert df.compound.to_numpy() == pytest.approx(want)
    assert list(df.label) == ["positive", "negative", "neutral", "negative", "positive", "negative"]
    assert list(sentiment_table(con, instrument="social").feedback_id) == ["f6", "f7"]
    assert df.attrs["definition"]["lexicon"] == "cx"


def test_grouped_table(con):
    df = sentiment_table(con, by="touchpoint", min_n=3).set_index("touchpoint")
    shop = df.loc["shop"]  # f1 positive, f2 negative, f7 negative
    assert (shop.n_answers, shop.negative_rate, shop.positive_rate, shop.neutral_rate) == (3, pytest.approx(2 / 3),
                                                                                    pytest.approx(1 / 3), 0)
    assert (shop.net_sentiment, shop.net_low, shop.net_high) == pytest.approx(tuple(nps_interval(1, 2, 3)))
    c = score_texts([TEXTS[i][-1] for i in (0, 1, 6)])
    lo, hi = sps.t.interval(0.95, 2, loc=c.mean(), scale=sps.sem(c))
    assert (shop.mean_compound, shop.mean_low, shop.mean_high) == pytest.approx((c.mean(), lo, hi))
    assert not shop.small and df.loc["web"].small == (df.loc["web"].n_answers < 3)
    per = sentiment_table(con, by=["instrument", "period"])
    assert per.n_answers.sum() == 6 and set(per.instrument) == {"nps", "social"}
    assert sorted(str(p)[:7] for p in per.period.unique()) == ["2024-01", "2024-02"]


def test_bad_and_hostile_values(con):
    with pytest.raises(SentimentError, match="Did you mean 'touchpoint'"):
        sentiment_table(con, by="touchpont")
    with pytest.raises(SentimentError, match="Unknown text_column"):
        sentiment_table(con, text_column="comment'; DROP TABLE feedback; --")
    assert len(sentiment_table(con, by="touchpoint", filters={"touchpoint": "shop'; DROP TABLE feedback; --"})) == 0
    assert len(sentiment_table(con, instrument="x' OR '1'='1")) == 0
    assert len(sentiment_table(con)) == 6


def test_by_theme(con):
    pytest.importorskip("cjworkbench.analysis.voc.themes")
    with pytest.raises(SentimentError, match="taxonomy="):
        sentiment_table(con, by="theme")
    tax = {"delivery": ["parcel"], "praise": ["great", "love"]}
    df = sentiment_table(con, by="theme", taxonomy=tax).set_index("theme")
    assert df.n_answers.to_dict() == {"(none)": 2, "delivery": 2, "praise": 2}  # f3, f4 | f2, f7 | f1, f6
    assert (df.loc["delivery", "negative_rate"], df.loc["praise", "positive_rate"]) == (1.0, 1.0)
    by_tp = sentiment_table(con, by=["touchpoint", "theme"], taxonomy=tax)
    assert {(r.touchpoint, r.theme): r.n_answers for r in by_tp.itertuples()} == \
        {("shop", "delivery"): 2, ("shop", "praise"): 1, ("web", "(none)"): 2, ("web", "praise"): 1}


# --- the labelled airline tweets -----------------------------------------------------------------

@pytest.fixture
def tweets(real_data, tmp_path):
    db = tmp_path / "db.duckdb"
    run_ingest(ROOT / "examples" / "real" / "airline_tweets.yml", db)
    gold = duckdb.connect(str(db), read_only=True).sql(
        "SELECT feedback_id, attributes['airline_sentiment'] AS gold FROM feedback").df()
    return cjworkbench.connect(db), gold


@pytest.mark.real
def test_airline_tweets_beat_the_majority_class(tweets):
    """Measured (benchmarks/sentiment.py): on the held-out half (odd _unit_id; the lexicon was revised
    looking at errors of the even half only) accuracy 0.640, macro-F1 0.590 (plain VADER 0.552 /
    0.518); majority class 0.624 / 0.256."""
    con, gold = tweets
    df = sentiment_table(con).merge(gold, on="feedback_id", validate="one_to_one")
    assert len(df) == 14_640 and set(df.gold) == {"negative", "neutral", "positive"}
    held = df[df.feedback_id.astype("int64") % 2 == 1]
    majority = (held.gold == "negative").mean()
    majority_f1 = f1_score(held.gold, ["negative"] * len(held), average="macro")
    acc, f1 = accuracy_score(held.gold, held.label), f1_score(held.gold, held.label, average="macro")
    assert acc > majority + 0.01 and acc >= 0.63
    assert f1 >= 0.57 and f1 > 2 * majority_f1
    text = con.table("feedback").select("feedback_id", "text").execute().set_index("feedback_id").text
    plain = sentiment_labels(score_texts(held.feedback_id.map(text), lexicon="vader"))
    assert f1_score(held.gold, plain, average="macro") < f1 - 0.05  # the CX lexicon is what lifts VADER


# --- the demo data -------------------------------------------------------------------------------

def test_demo_late_delivery_comments_are_more_negative(demo_db):
    """E2/E8: comments on late deliveries (days_late > 3) carry the late_delivery theme 55 % of the time."""
    db, _ = demo_db
    con = cjworkbench.connect(db)
    s = sentiment_table(con, instrument="nps", filters={"touchpoint": "delivery"})
    raw = duckdb.connect(str(db), read_only=True)
    late = set(raw.sql("SELECT journey_id FROM events WHERE activity = 'order_delivered' "
                       "AND TRY_CAST(attributes['days_late'] AS DOUBLE) > 3").df().journey_id)
    jid = raw.sql("SELECT feedback_id, journey_id FROM feedback").df()
    s = s.merge(jid, on="feedback_id")
    is_late = s.journey_id.isin(late)
    a, b = s.compound[is_late], s.compound[~is_late]
    assert len(a) >= 40
    assert a.mean() - b.mean() < -0.1
    assert sps.ttest_ind(a, b, equal_var=False).pvalue < 0.01
    assert (s.label[is_late] == "negative").mean() - (s.label[~is_late] == "negative").mean() > 0.15


def test_demo_sentiment_by_theme(demo_db):
    """E8 themes: complaint themes read negative, friendly_staff positive, per the demo taxonomy."""
    pytest.importorskip("cjworkbench.analysis.voc.themes")
    con = cjworkbench.connect(demo_db[0])
    df = sentiment_table(con, by="theme", taxonomy=ROOT / "cjworkbench" / "demo" / "themes.yml").set_index("theme")
    for theme in ("late_delivery", "repeat_contact", "app_payment"):
        assert df.loc[theme, "mean_high"] < df.loc["(none)", "mean_low"]
        assert df.loc[theme, "negative_rate"] > 0.5
    assert df.loc["friendly_staff", "mean_low"] > df.loc["(none)", "mean_high"]
