"""Scores with confidence: hand-computed NPS / CSAT / CES / review figures and intervals on a tiny
ingested fixture, tests checked against scipy / statsmodels, groups (segment, persona, period),
hostile values, and the demo data against a direct pandas count of the feedback table."""

from __future__ import annotations

import csv

import duckdb
import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest
from statsmodels.stats.weightstats import DescrStatsW

import cjworkbench
from cjworkbench.errors import EmptyScopeError
from cjworkbench.scope import Filters
from cjworkbench.analysis.voc.scores import (ScoresError, holm, nps_interval, scores_compare_table, scores_table,
                                         welch_summary)
from cjworkbench.ingest import run_ingest

from .conftest import write_config

# NPS: shop has 5 promoters, 2 passives, 3 detractors (NPS 20); web 3 / 3 / 6 (NPS -25), half in February.
NPS = {"shop": [10, 10, 9, 9, 9, 8, 7, 6, 3, 0], "web": [10, 9, 8, 8, 7, 6, 5, 4, 2, 1, 0, 9]}
CSAT = {"chat": [5, 5, 5, 4, 4, 3, 2, 1], "phone": [5, 4, 4, 3, 3, 2, 1, 1, 1, 2]}
CES_LOW = {"chat": [1, 2, 2, 3, 5, 7], "phone": [4, 5, 6, 7, 3]}  # effort 1-7, lower is better
CES_HIGH = [5, 4, 4, 2, 1]                                        # ease 1-5, higher is better
REVIEW = [5, 4, 4, 3, 1]
PERSONAS = {"personas": [{"name": "alpha", "when": {"segment": "A"}}], "other": "rest"}


def _rows(groups: dict, prefix: str, month=lambda tp, i: 1):
    """(id, customer, ts, score, touchpoint) rows; customers alternate over segments A (even) / B (odd)."""
    out = []
    for tp, scores in groups.items():
        for i, s in enumerate(scores):
            out.append((f"{prefix}{len(out)}", f"c{len(out) % 7}", f"2024-{month(tp, i):02d}-15 10:00:00", s, tp))
    return out


def _write(path, rows):
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([("id", "cust", "ts", "score", "tp"), *rows])


def _source(name, instrument, scale, direction):
    return {"name": name, "kind": "feedback", "path": f"{name}.csv", "instrument": instrument, "scale": scale,
            "direction": direction, "columns": {"feedback_id": "id", "customer_id": "cust", "feedback_ts": "ts",
                                                "score": "score", "touchpoint": "tp"}}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    d = tmp_path_factory.mktemp("scores")
    _write(d / "nps.csv", _rows(NPS, "n", month=lambda tp, i: 2 if tp == "web" and i >= 6 else 1))
    _write(d / "csat.csv", _rows(CSAT, "s"))
    _write(d / "ces_low.csv", _rows(CES_LOW, "e"))
    _write(d / "ces_high.csv", _rows({"app": CES_HIGH}, "h"))
    _write(d / "review.csv", _rows({"store": REVIEW}, "r"))
    with open(d / "customers.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("cust", "segment"), *[(f"c{i}", "AB"[i % 2]) for i in range(7)]])
    sources = [_source("nps", "nps", [0, 10], "higher_is_better"), _source("csat", "csat", [1, 5], "higher_is_better"),
               _source("ces_low", "ces", [1, 7], "lower_is_better"), _source("ces_high", "ces", [1, 5], "higher_is_better"),
               _source("review", "review", [1, 5], "higher_is_better"),
               {"name": "crm", "kind": "customers", "path": "customers.csv",
                "columns": {"customer_id": "cust", "segment": "segment"}}]
    run_ingest(write_config(d, sources), d / "db.duckdb")
    return cjworkbench.connect(d / "db.duckdb")


def _row(df, **where):
    for k, v in where.items():
        df = df[df[k] == v]
    assert len(df) == 1, where
    return df.iloc[0]


def test_nps_by_touchpoint_pinned_by_hand(con):
    df = scores_table(con, instrument="nps", by="touchpoint", min_n=11)
    shop, web = _row(df, touchpoint="shop"), _row(df, touchpoint="web")
    # shop: p = .5, d = .3 -> 20; var = .5 + .3 - .2^2 = .76; 20 ± 100 * 1.96 * sqrt(.76 / 10)
    assert (shop.n_answers, shop.estimate) == (10, pytest.approx(20.0))
    assert (shop.low, shop.high) == (pytest.approx(-34.0325, abs=1e-3), pytest.approx(74.0325, abs=1e-3))
    assert (shop.promoter_rate, shop.passive_rate, shop.detractor_rate) == (0.5, 0.2, 0.3)
    # web: p = .25, d = .5 -> -25; var = .75 - .0625 = .6875
    assert (web.n_answers, web.estimate) == (12, pytest.approx(-25.0))
    assert (web.low, web.high) == (pytest.approx(-71.9131, abs=1e-3), pytest.approx(21.9131, abs=1e-3))
    assert shop.small and not web.small  # flagged, not hidden
    assert df.attrs["definition"]["measure"] == "nps"
    # the mean likelihood-to-recommend with a t interval, as scipy
    lo, hi = sps.t.interval(0.95, 9, loc=np.mean(NPS["shop"]), scale=sps.sem(NPS["shop"]))
    assert (shop["mean"], shop.mean_low, shop.mean_high) == pytest.approx((np.mean(NPS["shop"]), lo, hi))


def test_nps_difference_matches_statsmodels(con):
    df = scores_compare_table(con, instrument="nps", by="touchpoint", baseline="web")
    shop = _row(df, touchpoint="shop")
    assert len(df) == 1 and shop.reference == "web"
    # by hand: 45 points, se = sqrt(.076 + .6875/12), z = 1.2326, p = .2177
    assert (shop["difference"], shop.p_value) == (pytest.approx(45.0), pytest.approx(0.21774, abs=1e-4))
    # independent: the answers coded +1/0/-1; their population variance (ddof 0) is the multinomial one
    # (statsmodels' CompareMeans.ztest_ind would use ddof 1: p = .240 here, the same test for large n)
    a, b = (DescrStatsW(np.array([1 if s >= 9 else -1 if s <= 6 else 0 for s in NPS[k]], float)) for k in NPS)
    se = np.sqrt(a.var / a.nobs + b.var / b.nobs)
    assert shop.p_value == pytest.approx(2 * sps.norm.sf((a.mean - b.mean) / se))
    assert (shop.difference_low, shop.difference_high) == pytest.approx((100 * (a.mean - b.mean - 1.959964 * se),
                                                             100 * (a.mean - b.mean + 1.959964 * se)))
    t = sps.ttest_ind(NPS["shop"], NPS["web"], equal_var=False)
    assert shop.mean_p_value == pytest.approx(t.pvalue)


def test_nps_interval_covers_at_its_level():
    """The multinomial Wald interval covers the true NPS about 95 % of the time at n = 200."""
    rng = np.random.default_rng(5)
    counts = rng.multinomial(200, [0.45, 0.30, 0.25], size=4000)
    hits = sum(lo <= 20.0 <= hi for _, lo, hi in (nps_interval(p, d, 200) for p, _, d in counts))
    assert 0.935 <= hits / 4000 <= 0.965


def test_csat_top_box_wilson_and_two_proportion_test(con):
    df = scores_table(con, instrument="csat", by="touchpoint")
    chat = _row(df, touchpoint="chat")
    assert (chat.n_answers, chat.estimate, chat.top_box_rate, chat.top2_box_rate) == (8, 0.375, 0.375, 0.625)
    assert (chat.low, chat.high) == (pytest.approx(0.136844, abs=1e-5), pytest.approx(0.694258, abs=1e-5))
    assert (chat.top2_low, chat.top2_high) == pytest.approx(proportion_confint(5, 8, method="wilson"))
    assert chat["mean"] == pytest.approx(3.625)
    cmp = _row(scores_compare_table(con, instrument="csat", by="touchpoint", baseline="phone"), touchpoint="chat")
    assert cmp["difference"] == pytest.approx(0.375 - 0.1)
    assert cmp.p_value == pytest.approx(proportions_ztest([3, 1], [8, 10])[1])
    assert cmp.difference_low < cmp["difference"] < cmp.difference_high


def test_ces_follows_its_stated_direction(con):
    with pytest.raises(ScoresError, match=r"2 scales .*Filter one source"):
        scores_table(con, instrument="ces")
    low = scores_table(con, instrument="ces", by="touchpoint", filters={"source": "ces_low"})
    chat = _row(low, touchpoint="chat")
    assert (chat.n_answers, chat.estimate, chat["mean"]) == (6, 0.5, pytest.approx(20 / 6))  # efforts 1, 2, 2 are <= 2
    lo, hi = sps.t.interval(0.95, 5, loc=np.mean(CES_LOW["chat"]), scale=sps.sem(CES_LOW["chat"]))
    assert (chat.mean_low, chat.mean_high) == pytest.approx((lo, hi))
    assert (chat.low, chat.high) == pytest.approx(proportion_confint(3, 6, method="wilson"))
    high = scores_table(con, instrument="ces", filters={"source": "ces_high"}).iloc[0]
    assert (high.n_answers, high.estimate) == (5, 0.6)  # ease 5, 4, 4 are the two best boxes of 1-5
    cmp = _row(scores_compare_table(con, instrument="ces", by="touchpoint", filters={"source": "ces_low"}),
               touchpoint="chat")
    t = sps.ttest_ind(CES_LOW["chat"], CES_LOW["phone"], equal_var=False)
    assert (cmp.reference, cmp.mean_p_value) == ("rest", pytest.approx(t.pvalue))
    assert cmp.mean_difference == pytest.approx(np.mean(CES_LOW["chat"]) - np.mean(CES_LOW["phone"]))


def test_review_mean_stars(con):
    r = scores_table(con, instrument="review").iloc[0]
    lo, hi = sps.t.interval(0.95, 4, loc=3.4, scale=sps.sem(REVIEW))
    assert (r.measure, r.n_answers, r.estimate, r.low, r.high) == ("mean", 5, pytest.approx(3.4), pytest.approx(lo),
                                                        pytest.approx(hi))
    assert r.top2_box_rate == 0.6


def test_segments_personas_and_periods(con):
    code = [(f"c{i % 7}", s) for i, s in enumerate(NPS["shop"] + NPS["web"])]
    seg = scores_table(con, instrument="nps", by="segment")
    for name, parity in (("A", 0), ("B", 1)):
        mine = [s for c, s in code if int(c[1:]) % 2 == parity]
        want = 100 * (sum(s >= 9 for s in mine) - sum(s <= 6 for s in mine)) / len(mine)
        assert (_row(seg, segment=name).n_answers, _row(seg, segment=name).estimate) == (len(mine), pytest.approx(want))
    per = scores_table(con, instrument="nps", by="persona", personas=PERSONAS)
    assert per.set_index("persona").n_answers.to_dict() == seg.set_index("segment").n_answers.rename({"A": "alpha", "B": "rest"}).to_dict()
    with pytest.raises(ScoresError, match="personas="):
        scores_table(con, instrument="nps", by="persona")
    mon = scores_compare_table(con, instrument="nps", by=["touchpoint", "period"], baseline="previous",
                               filters={"touchpoint": "web"})
    jan, feb = mon.iloc[0], mon.iloc[1]
    assert (jan.n_answers, feb.n_answers, feb.reference) == (6, 6, "2024-01-01")
    assert jan.reference is None or jan.reference != jan.reference  # the first period has no reference
    assert np.isnan(jan["difference"]) and jan.small
    # January 10 9 8 8 7 6: 2 promoters, 1 detractor -> 16.7; February 5 4 2 1 0 9: 1 / 5 -> -66.7
    assert (feb.estimate, feb.estimate_ref, feb["difference"]) == pytest.approx((-400 / 6, 100 / 6, -500 / 6))
    q = scores_table(con, instrument="nps", period="quarter")
    assert (len(q), q.n_answers.iloc[0], str(q.period.iloc[0])[:10]) == (1, 22, "2024-01-01")


def test_rest_comparison_adds_up_and_holm_matches_statsmodels(con):
    df = scores_compare_table(con, instrument="nps", by="touchpoint")
    assert (df.n_answers + df.n_answers_ref).tolist() == [22, 22] and set(df.reference) == {"rest"}
    assert df["difference"].iloc[0] == pytest.approx(-df["difference"].iloc[1])
    p = [0.01, 0.04, float("nan"), 0.03, 0.5]
    ok = [0, 1, 3, 4]
    assert [holm(p)[i] for i in ok] == pytest.approx(multipletests([p[i] for i in ok], method="holm")[1].tolist())


def test_welch_from_summaries_matches_scipy():
    a, b = [3.0, 4, 5, 9], [1.0, 2, 2, 3, 8, 1]
    diff, p = welch_summary((4, np.mean(a), np.var(a, ddof=1)), (6, np.mean(b), np.var(b, ddof=1)))
    assert p == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    assert (diff.low, diff.high) == pytest.approx(tuple(sps.ttest_ind(a, b, equal_var=False).confidence_interval()))


def test_bad_and_hostile_values(con):
    with pytest.raises(ScoresError, match="Did you mean 'touchpoint'"):
        scores_table(con, instrument="nps", by="touchpont")
    with pytest.raises(ScoresError, match="Unknown instrument 'social'.*sentiment_table"):
        scores_table(con, instrument="social")
    with pytest.raises(ScoresError, match="Unknown period"):
        scores_table(con, instrument="nps", period="fortnight")
    with pytest.raises(ScoresError, match="Unknown baseline"):
        scores_compare_table(con, instrument="nps", by="touchpoint", baseline="x'; DROP TABLE feedback; --")
    hostile = Filters(touchpoint="shop'; DROP TABLE feedback; --", segment="Zoë's")
    # filters that leave no answers: one sentence naming the unknown values (issue #14), not a row of NaN
    with pytest.raises(EmptyScopeError, match="No nps answers in scope.*Unknown segment 'Zoë's'"):
        scores_table(con, instrument="nps", by="touchpoint", filters=hostile)
    assert scores_table(con, instrument="nps").n_answers.iloc[0] == 22  # the table is still there


# --- the demo data -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(demo_db):
    db, _ = demo_db
    fb = duckdb.connect(str(db), read_only=True).sql(
        "SELECT f.*, c.segment FROM feedback f LEFT JOIN customers c USING (customer_id)").df()
    return cjworkbench.connect(db), fb


def test_demo_nps_by_touchpoint_equals_pandas(demo):
    con, fb = demo
    df = scores_table(con, instrument="nps", by="touchpoint").set_index("touchpoint")
    nps = fb[(fb.instrument == "nps") & fb.score.notna()]
    assert {"onboarding", "delivery", "brand"} <= set(df.index)
    for tp, g in nps.groupby("touchpoint"):
        assert df.loc[tp, "n_answers"] == len(g)
        assert df.loc[tp, "estimate"] == pytest.approx(100 * ((g.score >= 9).mean() - (g.score <= 6).mean()))
        assert df.loc[tp, "low"] < df.loc[tp, "estimate"] < df.loc[tp, "high"]
    biz = scores_table(con, instrument="nps", filters={"segment": "Business"}).iloc[0]
    assert biz.n_answers == ((nps.segment == "Business")).sum()


def test_demo_csat_and_ces_equal_pandas(demo):
    con, fb = demo
    csat = fb[(fb.instrument == "csat") & fb.score.notna()]
    c = scores_table(con, instrument="csat").iloc[0]
    assert (c.n_answers, c.estimate, c.top2_box_rate, c["mean"]) == (len(csat), pytest.approx((csat.score == 5).mean()),
                                                          pytest.approx((csat.score >= 4).mean()),
                                                          pytest.approx(csat.score.mean()))
    ces = fb[(fb.instrument == "ces") & fb.score.notna()]
    e = scores_table(con, instrument="ces").iloc[0]
    assert (e.n_answers, e.estimate, e["mean"]) == (len(ces), pytest.approx((ces.score <= 2).mean()),
                                         pytest.approx(ces.score.mean()))
    lo, hi = sps.t.interval(0.95, len(ces) - 1, loc=ces.score.mean(), scale=sps.sem(ces.score))
    assert (e.mean_low, e.mean_high) == pytest.approx((lo, hi))
