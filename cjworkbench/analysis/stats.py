"""Small statistics shared by the analyses: intervals for rates, differences and medians.

Every function takes counts or arrays and a two-sided confidence `level` (default 0.95) and
returns plain floats; an empty group gives NaN rather than an error, so a table row can say
"no data" without stopping the analysis.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..errors import StatsError, WorkbenchError  # noqa: F401  (re-exported)

NAN = float("nan")


class Interval(NamedTuple):
    """A point estimate with its lower and upper confidence bounds."""

    estimate: float
    low: float
    high: float


def _dist():
    """scipy.stats, imported on first use (it costs 0.7 s, too much for every `cjw` start)."""
    from scipy import stats

    return stats


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise StatsError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}.")
    return float(_dist().norm.ppf(0.5 + level / 2))


def _counts(successes, n) -> tuple[int, int]:
    x, n = int(successes), int(n)
    if n < 0 or x < 0 or x > n:
        raise StatsError(f"successes must be between 0 and n, got successes={x}, n={n}.")
    return x, n


def wilson_interval(successes: int, n: int, *, level: float = 0.95) -> Interval:
    """Share `successes / n` with its Wilson score interval (NaN when n = 0)."""
    x, n = _counts(successes, n)
    z = _z(level)
    if n == 0:
        return Interval(NAN, NAN, NAN)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, *, level: float = 0.95) -> Interval:
    """Difference `x1/n1 - x2/n2` with Newcombe's hybrid score interval (method 10, from the
    two Wilson intervals); NaN when either group is empty."""
    p1, l1, u1 = wilson_interval(x1, n1, level=level)
    p2, l2, u2 = wilson_interval(x2, n2, level=level)
    if n1 == 0 or n2 == 0:
        return Interval(NAN, NAN, NAN)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(d, low, high)


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z test of `x1/n1 == x2/n2`.

    1.0 when both groups have the same all-or-nothing rate; NaN when either group is empty.
    """
    x1, n1 = _counts(x1, n1)
    x2, n2 = _counts(x2, n2)
    if n1 == 0 or n2 == 0:
        return NAN
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / se
    return float(2 * _dist().norm.sf(abs(z)))


def welch_interval(a, b, *, level: float = 0.95) -> Interval:
    """Difference of means `mean(a) - mean(b)` with the Welch (unequal variances) t interval.

    NaN bounds when either group has fewer than two values or both variances are zero.
    """
    d, se, df = _welch(a, b)
    if not se > 0:
        return Interval(d, NAN, NAN)
    half = float(_dist().t.ppf(0.5 + _check_level(level) / 2, df)) * se
    return Interval(d, d - half, d + half)


def welch_p_value(a, b) -> float:
    """Two-sided p-value of Welch's t test of equal means (NaN where the interval is NaN)."""
    d, se, df = _welch(a, b)
    if not se > 0:
        return NAN
    return float(2 * _dist().t.sf(abs(d / se), df))


def _welch(a, b) -> tuple[float, float, float]:
    """Mean difference, its standard error and the Welch-Satterthwaite degrees of freedom."""
    a, b = _array(a), _array(b)
    if len(a) == 0 or len(b) == 0:
        return NAN, NAN, NAN
    d = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return d, NAN, NAN
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return d, 0.0, NAN
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return d, math.sqrt(va + vb), df


def bootstrap_median_diff(a, b, *, level: float = 0.95, n_resamples: int = 2000,
                          seed: int = 0) -> Interval:
    """Difference of medians `median(a) - median(b)` with a seeded percentile bootstrap interval.

    Each group is resampled with replacement, independently, `n_resamples` times (vectorised,
    in chunks of about four million draws); NaN when either group is empty.
    """
    a, b = _array(a), _array(b)
    level = _check_level(level)
    if len(a) == 0 or len(b) == 0:
        return Interval(NAN, NAN, NAN)
    if n_resamples < 1:   # no interval asked for: the point estimate alone
        return Interval(float(np.median(a) - np.median(b)), NAN, NAN)
    rng = np.random.default_rng(seed)
    diffs = _resampled_medians(a, n_resamples, rng) - _resampled_medians(b, n_resamples, rng)
    alpha = (1 - level) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return Interval(float(np.median(a) - np.median(b)), float(low), float(high))


def _resampled_medians(x: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    rows = max(1, 4_000_000 // len(x))
    out = [np.median(x[rng.integers(0, len(x), size=(min(rows, n_resamples - start), len(x)))], axis=1)
           for start in range(0, n_resamples, rows)]
    return np.concatenate(out)


def _check_level(level: float) -> float:
    _z(level)
    return float(level)


def _array(values) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[~np.isnan(x)]
