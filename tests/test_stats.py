"""Shared statistics against hand computations and independent implementations (statsmodels, scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats.proportion import (confint_proportions_2indep, proportion_confint,
                                          proportions_ztest)

from cjworkbench.analysis.stats import (StatsError, bootstrap_median_diff, newcombe_interval,
                                        two_proportion_p_value, welch_interval, welch_p_value,
                                        wilson_interval)

COUNTS = [(0, 10), (1, 10), (8, 10), (10, 10), (3, 7), (45, 120), (999, 1000)]


def test_wilson_by_hand():
    # 8 of 10, z = 1.959964: centre = (0.8 + z²/20) / (1 + z²/10) = 0.716740,
    # half = z / (1 + z²/10) * sqrt(0.8*0.2/10 + z²/400) = 0.226578  ->  (0.490162, 0.943318)
    p, low, high = wilson_interval(8, 10)
    assert p == 0.8
    assert (round(low, 6), round(high, 6)) == (0.490162, 0.943318)


@pytest.mark.parametrize("level", [0.8, 0.95, 0.99])
@pytest.mark.parametrize("x,n", COUNTS)
def test_wilson_matches_statsmodels(x, n, level):
    expected = proportion_confint(x, n, alpha=1 - level, method="wilson")
    assert wilson_interval(x, n, level=level)[1:] == pytest.approx(expected, abs=1e-12)


def test_wilson_empty_and_bad_input():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(StatsError, match="between 0 and n"):
        wilson_interval(11, 10)
    with pytest.raises(StatsError, match="level must be between 0 and 1"):
        wilson_interval(1, 10, level=95)


def test_newcombe_by_hand():
    # 8/10 vs 2/10: Wilson (0.490162, 0.943318) and (0.056682, 0.509838); d = 0.6
    # low  = 0.6 - sqrt((0.8 - 0.490162)² + (0.509838 - 0.2)²) = 0.6 - 0.438176 = 0.161824
    # high = 0.6 + sqrt((0.943318 - 0.8)² + (0.2 - 0.056682)²) = 0.6 + 0.202682 = 0.802682
    d, low, high = newcombe_interval(8, 10, 2, 10)
    assert d == pytest.approx(0.6)
    assert (round(low, 5), round(high, 5)) == (0.16182, 0.80268)


@pytest.mark.parametrize("level", [0.9, 0.95])
@pytest.mark.parametrize("a,b", [((8, 10), (2, 10)), ((45, 120), (60, 118)), ((0, 5), (5, 5)), ((3, 7), (3, 7))])
def test_newcombe_matches_statsmodels(a, b, level):
    expected = confint_proportions_2indep(a[0], a[1], b[0], b[1], method="newcomb", compare="diff",
                                          alpha=1 - level)
    assert newcombe_interval(*a, *b, level=level)[1:] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("a,b", [((8, 10), (2, 10)), ((45, 120), (60, 118)), ((1, 50), (0, 40))])
def test_p_value_matches_statsmodels(a, b):
    _, expected = proportions_ztest([a[0], b[0]], [a[1], b[1]])
    assert two_proportion_p_value(*a, *b) == pytest.approx(expected, rel=1e-12)


def test_p_value_by_hand_and_edges():
    # 8/10 vs 2/10: pooled 0.5, se = sqrt(0.25 * 0.2) = 0.223607, z = 0.6 / se = 2.683282
    assert two_proportion_p_value(8, 10, 2, 10) == pytest.approx(2 * st.norm.sf(2.683282), rel=1e-5)
    assert two_proportion_p_value(5, 5, 3, 3) == 1.0
    assert math.isnan(two_proportion_p_value(0, 0, 3, 3))
    assert all(math.isnan(v) for v in newcombe_interval(1, 2, 0, 0))


def test_welch_by_hand():
    # a = 1,2,3,4 (mean 2.5, var 5/3), b = 2,4,6 (mean 4, var 4): se² = 5/12 + 4/3 = 1.75,
    # df = 1.75² / ((5/12)²/3 + (4/3)²/2) = 3.0625 / 0.946759 = 3.234719
    d, low, high = welch_interval([1, 2, 3, 4], [2, 4, 6])
    half = st.t.ppf(0.975, 3.0625 / ((5 / 12) ** 2 / 3 + (4 / 3) ** 2 / 2)) * math.sqrt(1.75)
    assert d == -1.5
    assert (low, high) == pytest.approx((-1.5 - half, -1.5 + half), abs=1e-12)


@pytest.mark.parametrize("level", [0.9, 0.95])
def test_welch_matches_scipy(level):
    rng = np.random.default_rng(5)
    a, b = rng.normal(10, 2, 40), rng.normal(11, 5, 25)
    res = st.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(level)
    assert welch_interval(a, b, level=level)[1:] == pytest.approx((ci.low, ci.high), abs=1e-10)
    assert welch_p_value(a, b) == pytest.approx(res.pvalue, rel=1e-10)


def test_welch_degenerate():
    assert welch_interval([], [1, 2])[0] != welch_interval([], [1, 2])[0]  # NaN
    d, low, high = welch_interval([3], [1, 2])
    assert d == 1.5 and math.isnan(low) and math.isnan(high)
    assert math.isnan(welch_interval([1, 1], [2, 2]).low)
    assert math.isnan(welch_p_value([1, 1], [2, 2]))


def test_bootstrap_seeded_and_bounded():
    a, b = [1.0, 2.0, 3.0], [0.0]
    first = bootstrap_median_diff(a, b, seed=1)
    assert first == bootstrap_median_diff(a, b, seed=1)
    # median(a) - median(b) = 2; every resampled median of a lies in [1, 3]
    assert first.estimate == 2.0 and 1.0 <= first.low <= first.high <= 3.0
    # constant groups: every resample gives the same difference
    assert bootstrap_median_diff([5, 5, 5], [2, 2]) == (3.0, 3.0, 3.0)
    assert all(math.isnan(v) for v in bootstrap_median_diff([], [1]))


def test_bootstrap_agrees_with_scipy():
    rng = np.random.default_rng(11)
    a, b = rng.exponential(100, 300), rng.exponential(60, 200)
    ours = bootstrap_median_diff(a, b, n_resamples=4000, seed=3)
    ref = st.bootstrap((a, b), lambda x, y, axis: np.median(x, axis=axis) - np.median(y, axis=axis),
                       method="percentile", n_resamples=4000, rng=np.random.default_rng(4))
    # different random draws: the bounds agree to within a few percent of the spread
    spread = ref.confidence_interval.high - ref.confidence_interval.low
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.1 * spread)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.1 * spread)


def test_bootstrap_chunks_large_groups():
    # 50,000 values x 200 resamples = 10 M draws: resampled in chunks, same answer as one seed
    x = np.arange(50_000, dtype=float)
    res = bootstrap_median_diff(x, [0.0], n_resamples=200, seed=0)
    assert res.estimate == 24_999.5 and res.low < 24_999.5 < res.high
