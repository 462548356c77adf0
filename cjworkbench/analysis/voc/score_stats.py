"""Score statistics from sufficient statistics (counts, sums of scores and of squares): the NPS
Wald interval with its multinomial variance and the difference of two NPS, moments, the Student t
interval of a mean, Welch's comparison of two means, and Holm's adjustment of p-values.
"""

from __future__ import annotations

import math

from ..stats import NAN, Interval, _dist, _z


def nps_interval(promoters: int, detractors: int, n: int, *, level: float = 0.95) -> Interval:
    """NPS in points with the Wald interval of the multinomial variance (clipped to ±100)."""
    if n == 0:
        return Interval(NAN, NAN, NAN)
    p, d = promoters / n, detractors / n
    half = _z(level) * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n)
    return Interval(100 * (p - d), max(-100.0, 100 * (p - d - half)), min(100.0, 100 * (p - d + half)))


def nps_difference(a: tuple[int, int, int], b: tuple[int, int, int], *, level: float = 0.95
                   ) -> tuple[Interval, float]:
    """NPS(a) − NPS(b) in points for (promoters, detractors, n) counts: Wald interval and the two-sided
    p-value of the z test with the unpooled multinomial variances."""
    (pa_, da, na), (pb, db, nb) = a, b
    if na == 0 or nb == 0:
        return Interval(NAN, NAN, NAN), NAN
    va, vb = pa_ / na + da / na - (pa_ / na - da / na) ** 2, pb / nb + db / nb - (pb / nb - db / nb) ** 2
    diff = (pa_ - da) / na - (pb - db) / nb
    se = math.sqrt(va / na + vb / nb)
    if se == 0:
        return Interval(100 * diff, 100 * diff, 100 * diff), (1.0 if diff == 0 else 0.0)
    half = _z(level) * se
    return Interval(100 * diff, 100 * (diff - half), 100 * (diff + half)), float(2 * _dist().norm.sf(abs(diff) / se))


def moments(n: int, sum_y: float, sum_y2: float) -> tuple[float, float]:
    """Mean and sample variance (ddof 1; NaN below two answers) from n, Σy and Σy²."""
    if n == 0:
        return NAN, NAN
    mean = sum_y / n
    return mean, (max(sum_y2 - n * mean * mean, 0.0) / (n - 1) if n > 1 else NAN)


def mean_interval(n: int, mean: float, var: float, *, level: float = 0.95) -> Interval:
    """The mean with its Student t interval (NaN bounds below two answers)."""
    if n < 2 or not var == var:
        return Interval(mean, NAN, NAN)
    half = float(_dist().t.ppf(0.5 + level / 2, n - 1)) * math.sqrt(var / n)
    return Interval(mean, mean - half, mean + half)


def welch_summary(a: tuple[int, float, float], b: tuple[int, float, float], *, level: float = 0.95
                  ) -> tuple[Interval, float]:
    """mean(a) − mean(b) from (n, mean, variance): Welch t interval and two-sided p-value."""
    (na, ma, va), (nb, mb, vb) = a, b
    if na < 2 or nb < 2:
        return Interval(ma - mb if na and nb else NAN, NAN, NAN), NAN
    sa, sb = va / na, vb / nb
    if sa + sb == 0:
        return Interval(ma - mb, NAN, NAN), NAN
    df = (sa + sb) ** 2 / (sa ** 2 / (na - 1) + sb ** 2 / (nb - 1))
    se, d = math.sqrt(sa + sb), ma - mb
    half = float(_dist().t.ppf(0.5 + level / 2, df)) * se
    return Interval(d, d - half, d + half), float(2 * _dist().t.sf(abs(d) / se, df))


def holm(p_values) -> list[float]:
    """Holm step-down adjusted p-values (NaN stays NaN)."""
    ps = [(p, i) for i, p in enumerate(p_values) if p == p]
    out, running, m = [NAN] * len(p_values), 0.0, len(ps)
    for rank, (p, i) in enumerate(sorted(ps)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out
