"""Exposed vs comparable moments: matched (exact strata) or odds-weighted differences of outcome
rates, with a percentile bootstrap over customers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def compare(df: pd.DataFrame, exposed: np.ndarray, *, method: str = "match", match=("segment", "week"),
            n_resamples: int = 200, level: float = 0.95, seed: int = 0) -> list:
    """[n_exposed, reached, rate, n_control, reached, rate, estimate, low, high, p_value] for the rows of
    `df` split by `exposed`: matched (ATT over the exposed group's strata) or odds-weighted."""
    exposed = np.asarray(exposed, bool)
    y = df["reached"].to_numpy(float)
    cust = pd.factorize(df["customer_id"])[0]
    n_cust = cust.max() + 1 if len(cust) else 0
    if method == "match":
        strata = pd.factorize(pd.MultiIndex.from_frame(df[list(match)].astype(str)) if match else
                              np.zeros(len(df)))[0]
        point = _matched(y, exposed, strata, np.ones(len(df)))
    else:
        x = _features(df)
        point, start = _weighted(y, exposed, x, np.ones(len(df)), with_fit=True)
    low = high = p = math.nan
    if n_resamples and n_cust > 1 and exposed.any() and (~exposed).any():
        from ..attribution.markov import one_thread

        rng = np.random.default_rng(seed)      # resample customers: times each is drawn, per resample
        counts = (np.bincount(rng.integers(0, n_cust, n_cust), minlength=n_cust) for _ in range(n_resamples))
        if method == "match":
            draws = _matched_draws(y, exposed, strata, cust, n_cust, counts)
        else:
            with one_thread():      # many small fits: BLAS threads only wait for each other
                draws = np.array([_weighted(y, exposed, x, c[cust].astype(float), start=start) for c in counts])
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


def _matched(y, exposed, strata, w) -> float:
    """Exposed rate - control rate per stratum, averaged with the exposed group's weights."""
    k = strata.max() + 1 if len(strata) else 0
    def sums(sel):
        return (np.bincount(strata[sel], weights=w[sel], minlength=k),
                np.bincount(strata[sel], weights=(w * y)[sel], minlength=k))
    ne, ye = sums(exposed)
    nc, yc = sums(~exposed)
    ok = (ne > 0) & (nc > 0)
    if not ok.any():
        return math.nan
    diff = ye[ok] / ne[ok] - yc[ok] / nc[ok]
    return float(np.sum(ne[ok] * diff) / ne[ok].sum())


def _matched_draws(y, exposed, strata, cust, n_cust: int, counts, chunk: int = 25) -> np.ndarray:
    """`_matched` for many customer resamples at once: the per-stratum sums of every resample are one
    sparse product (customers x strata counts) instead of a pass over the rows per resample."""
    from scipy import sparse

    k = int(strata.max()) + 1 if len(strata) else 0
    mats = [sparse.csr_matrix((vals[sel], (cust[sel], strata[sel])), shape=(n_cust, k))
            for sel in (exposed, ~exposed) for vals in (np.ones(len(y)), y)]
    out, batch = [], []
    for c in [*counts, None]:
        if c is not None:
            batch.append(c)
        if batch and (c is None or len(batch) == chunk):
            w = np.array(batch, float)                            # resamples x customers
            ne, ye, nc, yc = ((m.T @ w.T).T for m in mats)       # resamples x strata
            ok = (ne > 0) & (nc > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                diff = np.where(ok, ye / np.where(ok, ne, 1) - yc / np.where(ok, nc, 1), 0.0)
                tot = np.where(ok, ne, 0).sum(axis=1)
                out.append(np.where(tot > 0, (np.where(ok, ne, 0) * diff).sum(axis=1) / np.where(tot > 0, tot, 1),
                                    np.nan))
            batch = []
    return np.concatenate(out) if out else np.zeros(0)


def _features(df: pd.DataFrame) -> np.ndarray:
    """Pre-trigger features: segment and channel indicators, log(1 + prior events), months since the start."""
    parts = [pd.get_dummies(df[c].astype(str), drop_first=True, dtype=float) for c in ("segment", "channel")]
    week = pd.to_datetime(df["week"])
    months = ((week - week.min()).dt.days / 30.4).to_numpy(float) if len(df) else np.zeros(0)
    x = pd.concat([*parts, pd.DataFrame({"log_prior": np.log1p(df["n_prior"].to_numpy(float)), "months": months},
                                        index=df.index)], axis=1).to_numpy(float)
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)     # standardised: the solver converges fast


def _weighted(y, exposed, x, w, *, start=None, with_fit: bool = False):
    """ATT by odds weighting: control rows weighted p / (1 - p) from a logistic model of exposure.
    `start`: the full sample's (coef, intercept), where a resample's fit starts (the same optimum,
    reached in a few iterations); `with_fit`: also return this fit's (coef, intercept)."""
    from sklearn.linear_model import LogisticRegression

    if exposed[w > 0].all() or not exposed[w > 0].any():
        return (math.nan, None) if with_fit else math.nan
    model = LogisticRegression(C=1e4, max_iter=200, warm_start=start is not None)
    if start is not None:
        model.coef_, model.intercept_ = start[0].copy(), start[1].copy()
    model.fit(x, exposed, sample_weight=w)
    p = np.clip(model.predict_proba(x)[:, 1], 1e-6, 1 - 1e-6)
    wc = w * np.where(exposed, 1.0, p / (1 - p))
    att = float(np.sum((wc * y)[exposed]) / np.sum(wc[exposed]) - np.sum((wc * y)[~exposed]) / np.sum(wc[~exposed]))
    return (att, (model.coef_, model.intercept_)) if with_fit else att
