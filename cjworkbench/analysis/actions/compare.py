"""Exposed vs comparable moments: matched (exact strata) or odds-weighted differences of outcome
rates, with a percentile bootstrap over customers.

Both estimators depend on the rows only through per-group sums (per stratum for matching, per
distinct feature row, "pattern", for weighting), so a resample of customers is a vector of times
each customer is drawn, and the sums of a block of resamples are one sparse product (customers x
groups). The weighted estimator is re-fitted on every resample: a Newton solve of the same
penalised logistic likelihood on the patterns, vectorised over the resamples of a block.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

C_INVERSE = 1e-4   # the logistic model's L2 penalty on the slopes (sklearn's C = 1e4): keeps it finite


def compare(df: pd.DataFrame, exposed: np.ndarray, *, method: str = "match", match=("segment", "week"),
            n_resamples: int = 200, level: float = 0.95, seed: int = 0) -> list:
    """[n_exposed, reached, rate, n_control, reached, rate, estimate, low, high, p_value] for the rows of
    `df` split by `exposed`: matched (ATT over the exposed group's strata) or odds-weighted. Intervals:
    percentiles of `n_resamples` customer resamples (a customer's rows drawn together, with
    replacement); each resample re-computes the whole estimator, the weighting model included."""
    exposed = np.asarray(exposed, bool)
    y = df["reached"].to_numpy(float)
    cust = pd.factorize(df["customer_id"], sort=True)[0]    # sorted: the draws do not depend on row order
    n_cust = cust.max() + 1 if len(cust) else 0
    groups = _codes(df, match if method == "match" else ("segment", "channel", "n_prior", "week"))
    sums = [s[:, None] for s in _sums(y, exposed, groups, np.ones(len(y)))]    # groups x 1 resample
    if method == "match":
        estimate = _matched
        point = float(_matched(*sums)[0])
    else:                  # the features are functions of the pattern's segment, channel, n_prior and week
        x = np.column_stack([_features(df)[_first_of(groups)], np.ones(groups.max() + 1 if len(groups) else 0)])
        att, start, hess = _weighted(x, *sums)
        point = float(att[0])      # a resample's fit starts at the full sample's: the optimum is near
        estimate = lambda *sums: _weighted(x, *sums, start=start[0], hess0=hess[0])[0]   # noqa: E731
    low = high = p = math.nan
    if n_resamples and n_cust > 1 and exposed.any() and (~exposed).any():
        from ..attribution.markov import one_thread

        with one_thread():          # many small products: BLAS threads only wait for each other
            draws = _draws(y, exposed, groups, cust, n_cust, n_resamples, seed, estimate)
        draws = draws[np.isfinite(draws)]
        if len(draws) > 1:
            alpha = (1 - level) / 2
            low, high = np.quantile(draws, [alpha, 1 - alpha])
            se = draws.std(ddof=1)
            if se > 0 and np.isfinite(point):
                from scipy import stats

                p = float(2 * stats.norm.sf(abs(point) / se))
    ne, nc = int(exposed.sum()), int((~exposed).sum())
    re, rc = int(y[exposed].sum()), int(y[~exposed].sum())
    return [ne, re, re / ne if ne else math.nan, nc, rc, rc / nc if nc else math.nan, point, low, high, p]


def _codes(df: pd.DataFrame, columns) -> np.ndarray:
    """Group number per row of the distinct values of `columns` (all rows one group without any)."""
    key = np.zeros(len(df), np.int64)
    for c in columns:
        codes, uniques = pd.factorize(df[c])
        key = key * (len(uniques) + 1) + codes + 1
    return pd.factorize(key)[0]


def _first_of(groups: np.ndarray) -> np.ndarray:
    """The first row of each group."""
    first = np.full(groups.max() + 1 if len(groups) else 0, len(groups))
    np.minimum.at(first, groups, np.arange(len(groups)))
    return first


def _sums(y, exposed, groups, w) -> tuple:
    """Per group: (exposed weight, exposed reached, control weight, control reached) for row weights w."""
    k = groups.max() + 1 if len(groups) else 0
    return tuple(np.bincount(groups[sel], weights=(w * v)[sel], minlength=k)
                 for sel in (exposed, ~exposed) for v in (np.ones(len(y)), y))


def _draws(y, exposed, groups, cust, n_cust: int, n_resamples: int, seed: int, estimate,
           chunk: int = 50) -> np.ndarray:
    """`estimate` for `n_resamples` customer resamples (n_cust draws with replacement each, seeded):
    the four group sums of a block of resamples are one sparse product (4 x groups by customers,
    times the customers x resamples counts) instead of a pass over the rows per resample. Counts and
    sums are whole numbers, so integer arithmetic is exact (int32 while no sum can pass 2^31)."""
    from scipy import sparse

    k = groups.max() + 1 if len(groups) else 0
    dtype = np.int32 if len(y) < 2 ** 26 else np.int64     # a customer is drawn < 32 times in practice
    sel = [exposed, exposed, ~exposed, ~exposed]
    val = np.concatenate([v[s] for v, s in zip((np.ones(len(y)), y, np.ones(len(y)), y), sel)]).astype(dtype)
    row = np.concatenate([groups[s] + i * k for i, s in enumerate(sel)])
    mat = sparse.csr_matrix((val, (row, np.concatenate([cust[s] for s in sel]))), shape=(4 * k, n_cust))
    rng, out = np.random.default_rng(seed), []
    for first in range(0, n_resamples, chunk):
        w = np.empty((n_cust, min(chunk, n_resamples - first)), dtype)    # customers x resamples
        for j in range(w.shape[1]):
            w[:, j] = np.bincount(rng.integers(0, n_cust, n_cust), minlength=n_cust)
        sums = np.asarray(mat @ w)                  # (4 x groups) x resamples, whole numbers (estimators upcast)
        out.append(estimate(*(sums[i * k:(i + 1) * k] for i in range(4))))
    return np.concatenate(out) if out else np.zeros(0)


def _matched(ne, ye, nc, yc) -> np.ndarray:
    """Per resample (columns of the strata x resamples sums): exposed rate - control rate per stratum,
    averaged with the exposed weights."""
    ok = (ne > 0) & (nc > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(ok, ye / np.where(ok, ne, 1) - yc / np.where(ok, nc, 1), 0.0)
        tot = np.where(ok, ne, 0).sum(axis=0)
        return np.where(tot > 0, (np.where(ok, ne, 0) * diff).sum(axis=0) / np.where(tot > 0, tot, 1), np.nan)


def _features(df: pd.DataFrame) -> np.ndarray:
    """Pre-trigger features: segment and channel indicators, log(1 + prior events), months since the start."""
    parts = [pd.get_dummies(df[c].astype(str), drop_first=True, dtype=float) for c in ("segment", "channel")]
    week = pd.to_datetime(df["week"])
    months = ((week - week.min()).dt.days / 30.4).to_numpy(float) if len(df) else np.zeros(0)
    x = pd.concat([*parts, pd.DataFrame({"log_prior": np.log1p(df["n_prior"].to_numpy(float)), "months": months},
                                        index=df.index)], axis=1).to_numpy(float)
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)     # standardised: Newton converges fast


def _weighted(x, ne, ye, nc, yc, *, start=None, hess0=None, tol: float = 1e-7, max_iter: int = 100):
    """(ATT by odds weighting, fitted coefficients) per resample (columns of the patterns x resamples
    sums; coefficients: resamples x features). The
    propensity p is a logistic model of exposure on the pattern features `x` (intercept last column),
    fitted by Newton's method to the optimum of sum(weight x log-likelihood) - |slopes|^2 x C_INVERSE / 2
    (sklearn's LogisticRegression(C=1e4) objective; Newton converges quadratically, so a last step
    under `tol` leaves an error near tol^2). With `hess0` (the full sample's Hessian at `start`) the
    first steps reuse it (a chord method: the same optimum, no Hessian per resample; a resample's
    Hessian differs by ~1/sqrt(n), so each step gains about that factor). Control moments weigh
    p / (1 - p). Returns (att, coefficients, Hessians at the optimum)."""
    from scipy.special import expit

    ok = (ne.sum(0) > 0) & (nc.sum(0) > 0)        # a resample without both groups has no estimate
    if not ok.all():
        q = x.shape[1]
        att, beta, hess = np.full(len(ok), np.nan), np.full((len(ok), q), np.nan), np.full((len(ok), q, q), np.nan)
        if ok.any():
            att[ok], beta[ok], hess[ok] = _weighted(x, *(a[:, ok] for a in (ne, ye, nc, yc)), start=start,
                                                    hess0=hess0, tol=tol, max_iter=max_iter)
        return att, beta, hess
    (m, q), b = x.shape, ne.shape[1]
    pen = np.r_[np.full(q - 1, C_INVERSE), 0.0]
    outer_t = np.ascontiguousarray((x[:, :, None] * x[:, None, :]).reshape(m, q * q).T)
    x_t, tot = np.ascontiguousarray(x.T), ne + nc
    beta = np.zeros((b, q))
    beta[:, -1] = np.log(ne.sum(0) / nc.sum(0))     # start: the intercept-only fit, or `start` when given
    if start is not None and np.isfinite(start).all():
        beta[:] = start
    chord = np.linalg.inv(hess0) if hess0 is not None and np.isfinite(hess0).all() else None
    hess = np.full((b, q, q), np.nan)
    for it in range(max_iter):
        mu = expit(x @ beta.T)                                    # patterns x resamples
        grad = (x_t @ (tot * mu - ne)).T + pen * beta
        if chord is not None and it < 30:
            step = grad @ chord.T
        else:
            mu *= 1 - mu
            mu *= tot
            hess = (outer_t @ mu).T.reshape(b, q, q) + np.diag(pen)
            step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        beta -= step
        if np.abs(step).max() < tol:
            break
    p = np.clip(expit(x @ beta.T), 1e-6, 1 - 1e-6)
    odds = p / (1 - p)
    return ye.sum(0) / ne.sum(0) - (odds * yc).sum(0) / (odds * nc).sum(0), beta, hess
