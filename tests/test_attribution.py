"""Attribution on hand-worked path sets: every model pinned, the Markov removal effect against a
brute-force simulation of its chain, Shapley efficiency, a published worked example, and the
public `attribution_table` on a tiny ingested database."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from cjworkbench import connect
from cjworkbench.analysis.attribution import attribute, attribution_table, default_conversion
from cjworkbench.analysis.attribution import heuristics, markov, shapley
from cjworkbench.analysis.attribution.paths import Paths
from cjworkbench.errors import WorkbenchError
from cjworkbench.ingest import run_ingest

from .conftest import write_config

# -- a published worked example ---------------------------------------------------------------------
# The classic three-path example of Markov attribution (Anderl et al. 2016 style, as worked in
# Bryl's "Marketing Multi-Channel Attribution model with R", analyzecore.com, 2016):
#   C1 -> C2 -> C3 -> conversion;  C1 -> null;  C2 -> C3 -> null.
# P(conversion) = 1/3; removal effects C1 0.5, C2 1, C3 1; attributed conversions 0.2, 0.4, 0.4.
CLASSIC = Paths.from_lists([["C1", "C2", "C3"], ["C1"], ["C2", "C3"]], [True, False, False])


def test_published_three_path_example():
    got = markov.markov(CLASSIC, 1)
    assert {c: v[0] for c, v in got.items()} == pytest.approx({"C1": 0.5, "C2": 1.0, "C3": 1.0})
    assert {c: v[1] for c, v in got.items()} == pytest.approx({"C1": 0.2, "C2": 0.4, "C3": 0.4})
    p, _ = markov.removal_effects(markov.build_chain(CLASSIC, 1))
    assert p == pytest.approx(1 / 3)
    # one converting path holding all three channels: Shapley splits it equally
    assert shapley.shapley(CLASSIC) == pytest.approx({"C1": 1 / 3, "C2": 1 / 3, "C3": 1 / 3})


# -- hand-worked fixture for every model -------------------------------------------------------------
# P1: a (14 d before) -> b (7 d) -> c (0 d) -> conversion
# P2: b (0 d) -> conversion
# P3: a (7 d) -> c (0 d) -> conversion
# P4: c -> a -> null
HAND = Paths.from_lists([["a", "b", "c"], ["b"], ["a", "c"], ["c", "a"]], [True, True, True, False],
                        ages=[[14, 7, 0], [0], [7, 0], [3, 0]])


@pytest.mark.parametrize("model, expected", [
    ("first", {"a": 2, "b": 1, "c": 0}),                       # P1 a, P2 b, P3 a
    ("last", {"a": 0, "b": 1, "c": 2}),                        # P1 c, P2 b, P3 c
    # P1 1/3 each; P2 b 1; P3 a 1/2, c 1/2
    ("linear", {"a": 1 / 3 + 1 / 2, "b": 1 / 3 + 1, "c": 1 / 3 + 1 / 2}),
    # half-life 7 d: P1 weights 1/4, 1/2, 1 (sum 7/4) -> 1/7, 2/7, 4/7; P2 b 1; P3 1/2, 1 -> 1/3, 2/3
    ("time_decay", {"a": 1 / 7 + 1 / 3, "b": 2 / 7 + 1, "c": 4 / 7 + 2 / 3}),
    # P1 40/20/40; P2 100 % b; P3 two touches 50/50
    ("position", {"a": 0.4 + 0.5, "b": 0.2 + 1, "c": 0.4 + 0.5}),
])
def test_heuristics_by_hand(model, expected):
    assert heuristics.heuristic(HAND, model, half_life_days=7) == pytest.approx(expected)


def test_markov_order_1_by_hand():
    # start -> a 2/4, b 1/4, c 1/4;  a -> b 1/3, c 1/3, null 1/3;  b -> c 1/2, conv 1/2;  c -> conv 2/3, a 1/3
    # x_c = 13/15, x_a = 3/5, x_b = 14/15  =>  P = 1/2*3/5 + 1/4*14/15 + 1/4*13/15 = 3/4
    # without a: x_c = 2/3, x_b = 5/6, P = 3/8, RE = 1/2
    # without b: x_c = 3/4, x_a = 1/4, P = 5/16, RE = 7/12
    # without c: x_b = 1/2, x_a = 1/6, P = 5/24, RE = 13/18;  sum RE = 65/36
    # attributed (3 conversions): a 54/65, b 63/65, c 78/65
    p, re = markov.removal_effects(markov.build_chain(HAND, 1))
    assert p == pytest.approx(3 / 4)
    assert re == pytest.approx([1 / 2, 7 / 12, 13 / 18])
    got = markov.markov(HAND, 1)
    assert [got[c][1] for c in "abc"] == pytest.approx([54 / 65, 63 / 65, 78 / 65])


def test_markov_higher_orders_by_hand():
    # a -> c -> b -> conv;  d -> c -> b -> null.  Orders 1 and 2 share the state (c, b) (half converts):
    # removing a or d halves P (RE 1/2), c or b zeroes it (RE 1): a 1/6, b 1/3, c 1/3, d 1/6.
    # Order 3 tells (a, c, b) -> conv from (d, c, b) -> null: RE a 1, d 0, b 1, c 1: a, b, c 1/3 each, d 0.
    p = Paths.from_lists([["a", "c", "b"], ["d", "c", "b"]], [True, False])
    for order in (1, 2):
        got = markov.markov(p, order)
        assert {k: v[1] for k, v in got.items()} == pytest.approx({"a": 1 / 6, "b": 1 / 3, "c": 1 / 3, "d": 1 / 6})
    got = markov.markov(p, 3)
    assert {k: v[1] for k, v in got.items()} == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3, "d": 0})
    # order 2 on a -> b -> conv, c -> b -> null: (a, b) converts, (c, b) never: a 1/2, b 1/2, c 0 (order 1:
    # b converts half the time, so a 1/4, c 1/4, b 1/2)
    q = Paths.from_lists([["a", "b"], ["c", "b"]], [True, False])
    assert {k: v[1] for k, v in markov.markov(q, 1).items()} == pytest.approx({"a": .25, "b": .5, "c": .25})
    assert {k: v[1] for k, v in markov.markov(q, 2).items()} == pytest.approx({"a": .5, "b": .5, "c": 0})


def test_shapley_by_hand_and_coalition_sum_equals_identity():
    # converting channel sets {a,b,c}, {b}, {a,c}: phi = sum over sets holding the channel of c(T)/|T|
    # a = 1/3 + 1/2, b = 1/3 + 1, c = 1/3 + 1/2   (sum 3 = the conversions)
    assert shapley.shapley(HAND) == pytest.approx({"a": 5 / 6, "b": 4 / 3, "c": 5 / 6})


def _random_paths(rng, n_paths=400, n_channels=4, p_conv=None):
    names = [f"ch{i:02d}" for i in range(n_channels)]
    paths = [[names[j] for j in rng.integers(0, n_channels, rng.integers(1, 6))] for _ in range(n_paths)]
    paths = [[c for k, c in enumerate(p) if k == 0 or c != p[k - 1]] for p in paths]   # no repeats in a row
    # conversion more likely when ch00 is on the path: a real effect for the removal to find
    conv = [rng.random() < (0.6 if "ch00" in p else 0.2) for p in paths]
    return Paths.from_lists(paths, conv)


def test_shapley_is_efficient_exact_and_sampled():
    rng = np.random.default_rng(3)
    p = _random_paths(rng, n_channels=6)
    sets, conv = shapley.set_values(p, shapley.channel_sets(p))
    exact = shapley.exact(6, sets, conv)
    assert exact.sum() == pytest.approx(p.converted.sum())
    assert exact == pytest.approx(shapley.unanimity(6, sets, conv))
    big = _random_paths(rng, n_paths=300, n_channels=18)            # beyond EXACT_MAX: sampled orders
    sets, conv = shapley.set_values(big, shapley.channel_sets(big))
    mean, se = shapley.sampled(18, sets, conv, n_permutations=400, seed=1)
    assert mean.sum() == pytest.approx(big.converted.sum())       # every order hands out v(N)
    truth = shapley.unanimity(18, sets, conv)
    assert np.all(np.abs(mean - truth) <= 4 * se + 1e-9)
    table = attribute(big, "shapley", n_resamples=20)
    assert table["estimate"].sum() == pytest.approx(big.converted.sum()) and table["mc_se"].notna().all()


def _simulate(chain, counts, keep, n_walks, rng) -> float:
    """Brute force: walk the chain from (start) n_walks times; a removed state ends the walk in (null)."""
    n = chain.n_states
    out = np.bincount(chain.frm, weights=counts, minlength=n)
    nxt = [[] for _ in range(n)]
    for f, t, c in zip(chain.frm, chain.to, counts):
        if c > 0:
            nxt[f].append((t, c / out[f]))
    tables = [(np.array([t for t, _ in row]), np.cumsum([q for _, q in row])) for row in nxt]
    conv = 0
    for _ in range(n_walks):
        s = 0
        while s < n:
            to, cum = tables[s]
            s = to[min(np.searchsorted(cum, rng.random()), len(to) - 1)]
            if s < n and not keep[s]:
                s = chain.null
        conv += s == chain.conv
    return conv / n_walks


@pytest.mark.parametrize("order", [1, 2, 3])
def test_removal_effects_equal_a_brute_force_simulation(order):
    rng = np.random.default_rng(5)
    p = _random_paths(rng, n_paths=300, n_channels=4)
    chain = markov.build_chain(p, order)
    counts = chain.per_path.T @ chain.unique_weights(None)
    base, re = markov.removal_effects(chain)
    n_walks = 20_000
    sim_base = _simulate(chain, counts, np.ones(chain.n_states, bool), n_walks, rng)
    assert abs(sim_base - base) <= 4 * math.sqrt(base * (1 - base) / n_walks)
    for c in range(len(p.channels)):
        keep = ~chain.contains[:, c]
        keep[0] = True
        exact = base * (1 - re[c])
        sim = _simulate(chain, counts, keep, n_walks, rng)
        assert abs(sim - exact) <= 4 * math.sqrt(max(exact * (1 - exact), 1e-4) / n_walks), (c, sim, exact)
    assert re[0] == re.max()   # ch00 carries the planted lift


# -- the public function on a tiny database ----------------------------------------------------------
T0 = dt.datetime(2024, 3, 1, 10, 0, 0)


def _d(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


ROWS = [
    # C1: web, email, web(purchase)           -> converting path [web, email, web]
    ("C1", _d(0), "view", "web"), ("C1", _d(1), "open", "email"), ("C1", _d(2), "purchase", "web"),
    # C2: phone 40 days before the purchase falls outside the 30-day lookback -> [web]
    ("C2", _d(0), "call", "phone"), ("C2", _d(40), "purchase", "web"),
    # C3: web, web (one touch), app; never converts     -> non-converting path [web, app]
    ("C3", _d(0), "view", "web"), ("C3", _d(0.1), "view", "web"), ("C3", _d(1), "visit", "app"),
    # C4: email, web(purchase) then app afterwards        -> [email, web] converting, [app] not
    ("C4", _d(0), "open", "email"), ("C4", _d(1), "purchase", "web"), ("C4", _d(2), "browse", "app"),
]


@pytest.fixture
def tiny(tmp_path):
    lines = ["customer,ts,activity,channel"] + [f"{c},{t.isoformat(sep=' ')},{a},{ch}" for c, t, a, ch in ROWS]
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path, [{"name": "ev", "kind": "events", "path": "events.csv", "duplicates": "keep",
                                   "columns": {"customer_id": "customer", "event_ts": "ts", "activity": "activity",
                                               "channel": "channel"}}])
    run_ingest(cfg, tmp_path / "db.duckdb")
    return connect(tmp_path / "db.duckdb")


def test_attribution_table_paths_and_models(tiny):
    df = attribution_table(tiny, conversion="purchase", model=["first", "last", "linear", "markov"],
                           n_resamples=50).set_index(["model", "channel"])
    # first: C1 web, C2 web, C4 email;  last: web x 3;  linear: web 2/3 + 1 + 1/2, email 1/3 + 1/2
    assert df.loc["first", "estimate"].to_dict() == pytest.approx({"web": 2, "email": 1, "app": 0})
    assert df.loc["last", "estimate"].to_dict() == pytest.approx({"web": 3, "email": 0, "app": 0})
    assert df.loc["linear", "estimate"].to_dict() == pytest.approx({"web": 13 / 6, "email": 5 / 6, "app": 0})
    same = Paths.from_lists([["web", "email", "web"], ["web"], ["web", "app"], ["email", "web"], ["app"]],
                            [True, True, False, True, False])
    assert {c: v[1] for c, v in markov.markov(same, 1).items()} == pytest.approx(
        df.loc["markov", "estimate"].to_dict())
    # paths touching: web C1, C2, C3, C4's first; email C1, C4; app C3, C4's second
    assert df.loc["linear", "n_journeys"].to_dict() == {"web": 4, "email": 2, "app": 2}
    assert df.loc["linear", "n_customers"].to_dict() == {"web": 4, "email": 2, "app": 2}
    assert (df["low"] <= df["estimate"] + 1e-9).all() and (df["estimate"] <= df["high"] + 1e-9).all()
    assert df.groupby("model")["share"].sum().to_numpy() == pytest.approx(1)
    d = df.attrs["definition"]
    assert d["conversion"] == "purchase" and d["n_paths"] == 5 and d["n_conversions"] == 3
    # a longer lookback brings the phone call back into C2's path
    longer = attribution_table(tiny, conversion="purchase", model="first", lookback_days=60, n_resamples=0)
    assert longer.set_index("channel")["estimate"].to_dict() == pytest.approx({"web": 1, "email": 1, "phone": 1, "app": 0})
    assert longer["low"].isna().all()


def test_defaults_and_errors(tiny):
    # the journeys (one per customer here) end with purchase, purchase, visit, browse
    assert default_conversion(tiny) == "purchase"
    assert attribution_table(tiny, n_resamples=0).attrs["definition"]["conversion"] == "purchase"
    with pytest.raises(WorkbenchError, match="purchas.*Did you mean 'purchase'") as err:
        attribution_table(tiny, conversion="purchas")
    assert isinstance(err.value, ValueError)
    with pytest.raises(ValueError, match="Unknown model 'markv'.*Did you mean 'markov'"):
        attribution_table(tiny, conversion="purchase", model="markv")
    with pytest.raises(ValueError, match="Unknown order '4'"):
        attribution_table(tiny, conversion="purchase", order=4)
    with pytest.raises(ValueError, match="Unknown unit 'device'"):
        attribution_table(tiny, conversion="purchase", unit="device")
    hostile = attribution_table(tiny, conversion="purchase", filters={"segment": "x'; DROP TABLE events; -- ö"},
                                n_resamples=0)
    assert hostile.empty and tiny.table("events").count().execute() == len(ROWS)


def test_intervals_are_seeded(tiny):
    a = attribution_table(tiny, conversion="purchase", model="shapley", n_resamples=30)
    b = attribution_table(tiny, conversion="purchase", model="shapley", n_resamples=30)
    assert a.equals(b)


def test_attribution_chart_is_a_typed_spec(tiny):
    from cjworkbench.charts import ChartError, attribution_chart

    df = attribution_table(tiny, conversion="purchase", model=["last", "markov"], n_resamples=10)
    spec = attribution_chart(df).to_dict()
    layer = spec["vconcat"][0]["layer"]
    assert layer[0]["mark"]["type"] == "bar" and layer[0]["encoding"]["x"]["field"] == "estimate"
    assert layer[0]["encoding"]["x"]["type"] == "quantitative" and layer[0]["encoding"]["y"]["field"] == "channel"
    assert {t["field"] for t in layer[0]["encoding"]["tooltip"]} >= {"estimate", "share", "low", "high"}
    assert "(Purchase)" in str(spec["vconcat"][0]["title"]) and "Lookback days: 30" in " ".join(spec["title"]["text"])
    with pytest.raises(ChartError, match="attribution_table"):
        attribution_chart(df.drop(columns=["low"]))
