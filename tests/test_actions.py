"""Back-testing next-best-action rules: a hand-checked replay, matching, errors, and the planted
demo effect (E9, abandoned cart + reminder e-mail) recovered through the dashboard's call."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cjworkbench import connect
from cjworkbench.analysis.actions import actions_table, default_rule
from cjworkbench.errors import WorkbenchError
from cjworkbench.ingest import run_ingest

from .conftest import write_config

T0 = dt.datetime(2024, 3, 4, 10, 0, 0)   # a Monday: every moment below falls in the same week


def _h(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


ROWS = [
    # triggered (no event for 24 h after the cart), moment = cart + 24 h
    ("C1", _h(0), "cart"), ("C1", _h(30), "email"), ("C1", _h(40), "buy"),      # acted, reached
    ("C2", _h(0), "cart"), ("C2", _h(26), "email"), ("C2", _h(120), "buy"),     # acted, reached (day 5)
    ("C3", _h(0), "cart"), ("C3", _h(48), "browse"), ("C3", _h(50), "buy"),     # no action, reached
    ("C4", _h(0), "cart"), ("C4", _h(100), "browse"),                           # no action, not reached
    # not triggered: another event within 24 h
    ("C5", _h(0), "cart"), ("C5", _h(1), "checkout"), ("C5", _h(2), "buy"),     # reached before the moment: out
    ("C6", _h(0), "cart"), ("C6", _h(2), "browse"), ("C6", _h(60), "buy"),      # comparable, reached
    ("C7", _h(0), "cart"), ("C7", _h(3), "browse"),                             # comparable, not reached
    ("C8", _h(480), "browse"),                                                  # the data's end: day 20
]
SEGMENTS = {"C7": "B"}   # everyone else "A"
RULE = {"name": "idle cart", "trigger": {"after": "cart", "idle_hours": 24},
        "action": {"activity": "email", "within_hours": 48}, "outcome": {"activity": "buy", "within_days": 7}}


@pytest.fixture
def con(tmp_path):
    lines = ["customer,ts,activity"] + [f"{c},{t.isoformat(sep=' ')},{a}" for c, t, a in ROWS]
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    custs = sorted({r[0] for r in ROWS})
    (tmp_path / "customers.csv").write_text("customer,segment\n" + "\n".join(f"{c},{SEGMENTS.get(c, 'A')}"
                                                                              for c in custs) + "\n")
    cfg = write_config(tmp_path, [
        {"name": "ev", "kind": "events", "path": "events.csv", "duplicates": "keep",
         "columns": {"customer_id": "customer", "event_ts": "ts", "activity": "activity"}},
        {"name": "crm", "kind": "customers", "path": "customers.csv",
         "columns": {"customer_id": "customer", "segment": "segment"}}])
    run_ingest(cfg, tmp_path / "db.duckdb")
    return connect(tmp_path / "db.duckdb")


def test_replay_by_hand(con):
    df = actions_table(con, rules=RULE, match=(), n_resamples=0).set_index("comparison")
    t = df.loc["triggered vs not"]
    # triggered C1-C4, 3 reached (C4 not); comparable C6 (reached), C7 (not); C5 reached before the moment
    assert (t.n_exposed, t.n_exposed_reached, t.n_control, t.n_control_reached) == (4, 3, 2, 1)
    assert t.estimate == pytest.approx(0.75 - 0.5)
    a = df.loc["action vs none"]
    # among the triggered: e-mail within 48 h of the moment C1, C2 (both reached); none C3 (reached), C4 (not)
    assert (a.n_exposed, a.n_exposed_reached, a.n_control, a.n_control_reached) == (2, 2, 2, 1)
    assert a.estimate == pytest.approx(1.0 - 0.5)
    assert (t.n_triggers, t.n_customers, t.n_journeys, t.triggers_per_customer, t.max_per_customer) == (4, 4, 4, 1, 1)
    assert str(t.first_trigger_date) == "2024-03-05"
    assert "observational" in df.attrs["definition"]["caveat"]


def test_matching_compares_within_strata(con):
    # matched on segment: C7 (segment B) has no triggered counterpart, so the comparable group is C6 alone
    t = actions_table(con, rules=RULE, match="segment", n_resamples=0).set_index("comparison").loc["triggered vs not"]
    assert t.estimate == pytest.approx(0.75 - 1.0)
    boot = actions_table(con, rules=RULE, match="segment", n_resamples=50).set_index("comparison")
    assert boot.loc["action vs none", "low"] <= boot.loc["action vs none", "high"]


def test_longer_idle_and_short_window_change_the_replay(con):
    rule = {**RULE, "trigger": {"after": "cart", "idle_hours": 40}}   # C2's e-mail at 26 h breaks its idle
    t = actions_table(con, rules=rule, match=(), n_resamples=0).set_index("comparison").loc["triggered vs not"]
    assert t.n_triggers == 2                                          # C3 (48 h) and C4 (100 h)
    rule = {**RULE, "trigger": {"after": "cart", "idle_hours": 40, "ignore": ["email"]}}
    assert actions_table(con, rules=rule, match=(), n_resamples=0).n_triggers.iloc[0] == 4   # e-mails ignored


def test_errors_name_the_nearest_values(con):
    with pytest.raises(WorkbenchError, match="Did you mean 'cart'") as err:
        actions_table(con, rules={**RULE, "trigger": {"after": "crt", "idle_hours": 24}})
    assert isinstance(err.value, ValueError)
    with pytest.raises(ValueError, match="Unknown method 'ipv'.*Did you mean 'ipw'"):
        actions_table(con, rules=RULE, method="ipv")
    with pytest.raises(ValueError, match="exactly one of"):
        actions_table(con, rules={**RULE, "trigger": {"idle_hours": 24}})
    with pytest.raises(ValueError, match="not found"):
        actions_table(con, rules="no/such/actions.yml")
    assert default_rule(con)["outcome"]["activity"] == "buy"          # the most common last activity


def test_planted_reminder_effect_is_recovered(demo_db):
    """E9: idle abandoned carts convert more often when the reminder e-mail follows. The rules are
    the demo's designed/actions.yml, the same call the actions dashboard makes by default."""
    path, truth = demo_db
    con = connect(path)
    planted = truth["effects"]["E9"]["expected"]["confirmed_rate_diff"]
    df = actions_table(con, rules=path.parent / "designed" / "actions.yml", n_resamples=200)
    row = df[(df.rule == "cart left idle for a day") & (df.comparison == "action vs none")].iloc[0]
    assert row.estimate > 0 and row.low > 0                       # the right sign
    assert row.low <= planted <= row.high, (row.estimate, row.low, row.high, planted)
    weighted = actions_table(con, rules=path.parent / "designed" / "actions.yml", method="ipw", n_resamples=40)
    w = weighted[weighted.comparison == "action vs none"].iloc[0]
    assert w.estimate > 0 and abs(w.estimate - planted) < 0.06


def test_actions_chart_is_a_typed_spec(con):
    from cjworkbench.charts import actions_chart

    spec = actions_chart(actions_table(con, rules=RULE, match=(), n_resamples=10)).to_dict()
    rates, diffs = spec["vconcat"][0]["hconcat"]
    assert rates["mark"]["type"] == "point" and rates["encoding"]["x"]["field"] == "rate"
    assert diffs["layer"][1]["encoding"]["x"]["field"] == "pts_low"
    assert "observational" in " ".join(spec["title"]["text"]).lower()


def _synthetic(seed=4, n_cust=90):
    """Rows like a replay's: customers with 1-4 moments, features known before the moment, exposure
    depending on them (so weighting matters) and an outcome depending on exposure and features."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 5, n_cust)
    cust = np.repeat([f"K{i:03d}" for i in range(n_cust)], k)
    n = len(cust)
    seg = rng.choice(["A", "B", "C"], n)
    chan = rng.choice(["web", "app"], n)
    prior = rng.integers(0, 12, n)
    week = pd.to_datetime("2024-01-01") + pd.to_timedelta(7 * rng.integers(0, 6, n), "D")
    z = 0.8 * (seg == "A") - 0.5 * (chan == "app") + 0.15 * prior - 1
    exposed = rng.random(n) < 1 / (1 + np.exp(-z))
    reached = rng.random(n) < 0.2 + 0.15 * exposed + 0.02 * prior
    df = pd.DataFrame({"customer_id": cust, "segment": seg, "channel": chan, "n_prior": prior, "week": week,
                       "reached": reached, "exposed": exposed})
    return df.sample(frac=1, random_state=1).reset_index(drop=True)      # rows in no particular order


def _reference(df, exposed, method, n_resamples, seed):
    """The estimators the slow way: rows copied per customer resample, the weighting model fitted
    by sklearn on the rows each time (tight tolerance), the matched difference stratum by stratum."""
    from sklearn.linear_model import LogisticRegression

    from cjworkbench.analysis.actions.compare import _features

    x_all = _features(df)
    strata = pd.factorize(df["segment"].astype(str) + "|" + df["week"].astype(str))[0]
    ids = sorted(df["customer_id"].unique())
    rows_of = {c: np.flatnonzero(df["customer_id"].to_numpy() == c) for c in ids}

    def estimate(rows):
        e, y = exposed[rows], df["reached"].to_numpy(float)[rows]
        if e.all() or not e.any():
            return np.nan
        if method == "match":
            s, num, den = strata[rows], 0.0, 0.0
            for v in np.unique(s[e]):
                if (s[~e] == v).any():
                    ne = (s[e] == v).sum()
                    num += ne * (y[e & (s == v)].mean() - y[~e & (s == v)].mean())
                    den += ne
            return num / den if den else np.nan
        fit = LogisticRegression(C=1e4, solver="newton-cholesky", tol=1e-10, max_iter=100).fit(x_all[rows], e)
        p = np.clip(fit.predict_proba(x_all[rows])[:, 1], 1e-6, 1 - 1e-6)
        w = p / (1 - p)
        return y[e].mean() - np.sum(w[~e] * y[~e]) / np.sum(w[~e])

    point = estimate(np.arange(len(df)))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_resamples):
        counts = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))
        draws.append(estimate(np.concatenate([np.repeat(rows_of[c], k) for c, k in zip(ids, counts) if k]
                                             or [np.zeros(0, int)])))
    draws = np.array(draws)
    draws = draws[np.isfinite(draws)]
    return point, *np.quantile(draws, [0.025, 0.975])


@pytest.mark.parametrize("method", ["match", "ipw"])
def test_fast_bootstrap_equals_refitting_every_resample(method):
    """The sparse-product bootstrap and the pattern-level Newton fit give the same point estimate and
    interval as copying each resample's rows and re-fitting on them (sklearn for the weights)."""
    from cjworkbench.analysis.actions.compare import compare

    df = _synthetic()
    exposed = df["exposed"].to_numpy(bool)
    got = compare(df, exposed, method=method, match=("segment", "week"), n_resamples=30, seed=5)
    want = _reference(df, exposed, method, 30, 5)
    assert got[6:9] == pytest.approx(list(want), abs=1e-6)
    assert got[7] < got[6] < got[8]
