"""Moments of truth: a driver model of an experience outcome on journey facts, themes and items.

Effects come from a regression of the outcome on all drivers at once: OLS with HC3 robust
errors for a score (NPS likelihood-to-recommend 0-10, CSAT, CES effort), a logit with odds
ratios for the detractor flag (NPS 0-6). The ranking is Johnson's (2000) relative weights: each
driver's share of the model R², with seeded bootstrap intervals. Why relative weights rather
than Shapley values (LMG) or dominance analysis: they estimate the same quantity, each driver's
average contribution to R², and give the same ranking in practice (Johnson 2000; LeBreton et al.
2004), but in closed form (one eigen-decomposition, O(p³)) instead of fitting 2^p sub-models, so
the bootstrap stays cheap with twenty drivers and a million answers. For the detractor flag the
weights are those of the linear probability model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...deprecation import renamed_kwargs
from ...errors import DriverError, WorkbenchError, one_of  # noqa: F401  (re-exported)
from ...scope import FEEDBACK_RULE, FilterError, definition, scope
from .journey_facts import FACT_RULES, FactRules, journey_facts

OUTCOMES = {"nps": "nps", "csat": "csat", "ces": "ces", "detractor": "nps"}
METHODS = ("relative_weights",)
FACTS = ("repeat_contact", "channel_switch", "transfer", "wait_minutes", "handle_minutes", "has_delivery",
         "late_delivery", "days_late", "n_steps", "n_touchpoints", "touchpoints")
DEFAULT_FACTS = ("repeat_contact", "channel_switch", "transfer", "wait_minutes", "handle_minutes", "has_delivery",
                 "late_delivery", "n_steps", "touchpoints")
MAX_R2 = 0.9  # a driver explained this well by the drivers before it is dropped (VIF > 10)
_CHUNK = 50_000  # rows per bootstrap block: bounds memory at 1 M answers


def relative_weights(corr: np.ndarray) -> np.ndarray:
    """Johnson's raw relative weights from correlation matrices of (drivers..., outcome), shape
    (..., p+1, p+1) -> (..., p); they sum to the R² of the OLS fit. Vectorised over leading axes."""
    rxx, rxy = corr[..., :-1, :-1], corr[..., :-1, -1]
    evals, evecs = np.linalg.eigh(rxx)
    root = np.sqrt(np.clip(evals, 0, None))
    inv = np.where(root > 1e-8 * root.max(axis=-1, keepdims=True), 1 / np.where(root > 0, root, 1), 0.0)
    lam = (evecs * root[..., None, :]) @ np.swapaxes(evecs, -1, -2)  # Rxx^(1/2)
    lam_inv = (evecs * inv[..., None, :]) @ np.swapaxes(evecs, -1, -2)
    beta = (lam_inv @ rxy[..., None])[..., 0]  # outcome on the orthogonal counterparts
    return np.einsum("...ij,...j->...i", lam ** 2, beta ** 2)


def _corr(s0, s1, s2, q: int) -> np.ndarray:
    """Correlation matrices from weighted sums (s0 = Σw, s1 = Σw·z, s2 = Σw·z_i·z_j upper)."""
    mean = s1 / s0[:, None]
    iu = np.triu_indices(q)
    cov = np.zeros((len(s0), q, q))
    cov[:, iu[0], iu[1]] = s2 / s0[:, None] - mean[:, iu[0]] * mean[:, iu[1]]
    cov = cov + np.swapaxes(np.triu(cov, 1), -1, -2)
    sd = np.sqrt(np.clip(np.diagonal(cov, axis1=-2, axis2=-1), 1e-300, None))
    return cov / sd[:, :, None] / sd[:, None, :]


def bootstrap_weights(z: np.ndarray, *, n_resamples: int = 200, seed: int = 0) -> np.ndarray:
    """Raw relative weights of `n_resamples` bootstrap resamples of the rows of z = [drivers, outcome]
    (n_resamples × p). Each resample is a vector of row counts (n draws with replacement); its
    correlation matrix comes from count-weighted sums, one matrix product per block of rows, so
    no resampled copy of the data is ever built."""
    rng = np.random.default_rng(seed)
    n, q = z.shape
    sd = z.std(axis=0)
    z = (z - z.mean(axis=0)) / np.where(sd > 0, sd, 1)
    counts = np.empty((n_resamples, n), dtype=np.uint8)  # a row drawn more than 255 times in n draws: never
    for b in range(n_resamples):
        counts[b] = np.bincount(rng.integers(0, n, n), minlength=n)
    iu = np.triu_indices(q)
    s0, s1, s2 = np.zeros(n_resamples), np.zeros((n_resamples, q)), np.zeros((n_resamples, len(iu[0])))
    for start in range(0, n, _CHUNK):
        zc = z[start:start + _CHUNK]
        w = counts[:, start:start + len(zc)].astype(float)
        s0 += w.sum(axis=1)
        s1 += w @ zc
        s2 += w @ (zc[:, iu[0]] * zc[:, iu[1]])
    return relative_weights(_corr(s0, s1, s2, q))


def _design(df: pd.DataFrame, names: list[str]) -> tuple[list[str], list[str]]:
    """Drivers kept (varying, not near-collinear: R² < MAX_R2 on the drivers kept before it, in
    order) and those dropped with the reason; collinear drivers would split one effect in two."""
    x = df[names].to_numpy(float)
    sd = x.std(axis=0)
    corr = np.corrcoef(x[:, sd > 0], rowvar=False).reshape(int((sd > 0).sum()), -1)
    col = dict(zip([n for n, s in zip(names, sd) if s > 0], range(len(corr))))
    kept, dropped = [], []
    for name in names:
        if name not in col:
            dropped.append(f"{name} (constant)")
            continue
        if kept:
            idx, j = [col[k] for k in kept], col[name]
            r = corr[idx, j]
            r2 = float(r @ np.linalg.lstsq(corr[np.ix_(idx, idx)], r, rcond=None)[0])
            if r2 > MAX_R2:
                dropped.append(f"{name} (R² {r2:.3f} on the drivers before it)")
                continue
        kept.append(name)
    return kept, dropped


def _columns(df: pd.DataFrame, facts, items, theme_cols: list[str]) -> list[str]:
    facts = DEFAULT_FACTS if facts is None else tuple([facts] if isinstance(facts, str) else facts)
    for fact in facts:
        if fact not in FACTS:
            raise FilterError(one_of("fact", fact, FACTS))
    cols = []
    for fact in facts:
        cols += sorted(c for c in df.columns if c.startswith("used_")) if fact == "touchpoints" else [fact]
    return cols + [f"item_{i}" for i in (items or ())] + theme_cols


def _themes(con, df: pd.DataFrame, taxonomy, filters) -> tuple[pd.DataFrame, list[str]]:
    try:
        from .themes import theme_matches
    except ImportError:
        raise DriverError("taxonomy= needs cjworkbench.analysis.voc.themes (theme_matches), which is not "
                          "installed in this version; leave taxonomy=None.") from None
    m = theme_matches(con, taxonomy=taxonomy, filters=filters)
    if m.empty:
        return df, []
    wide = pd.crosstab(m["feedback_id"], m["theme"]).clip(upper=1)
    wide.columns = [f"theme_{c}" for c in wide.columns]
    out = df.merge(wide, left_on="feedback_id", right_index=True, how="left")
    out[list(wide.columns)] = out[list(wide.columns)].fillna(0).astype("int64")
    return out, list(wide.columns)


@renamed_kwargs(themes="taxonomy", n_boot="n_resamples")
def drivers_table(con, *, outcome: str = "nps", facts=None, taxonomy=None, items=None, filters=None,
                  feedback_touchpoint=None, lookback_days: float = 60, method: str = "relative_weights",
                  level: float = 0.95, seed: int = 0, n_resamples: int = 200,
                  rules: FactRules | None = None) -> pd.DataFrame:
    """Per driver: effect with its interval and p-value (all drivers in one model), relative
    weight (share of R²) with a bootstrap interval, rank, answers used, prevalence and a sentence.
    `df.attrs["moments_of_truth"]`: the drivers whose effect interval excludes 0, ranked by weight.

    outcome: nps (likelihood to recommend, 0-10), csat, ces (effort: higher is worse) or
    detractor (NPS 0-6, logit, effects are odds ratios). facts: names from FACTS ('touchpoints'
    expands to one used_<touchpoint> flag each); items: survey items in feedback.attributes
    (answers missing one are left out); taxonomy: themes (as for `themes_table`) whose matches
    become theme_<name> flags. outcome is not an instrument: it is the modelled variable, a score
    (nps, csat, ces) or the detractor flag derived from the nps instrument.
    """
    if outcome not in OUTCOMES:
        raise FilterError(one_of("outcome", outcome, OUTCOMES))
    if method not in METHODS:
        raise FilterError(one_of("method", method, METHODS))
    df = journey_facts(con, instrument=OUTCOMES[outcome], lookback_days=lookback_days, filters=filters,
                       feedback_touchpoint=feedback_touchpoint, items=items, rules=rules)
    df, theme_cols = _themes(con, df, taxonomy, filters) if taxonomy is not None else (df, [])
    if "days_late" in df:  # no delivery: no delay (has_delivery tells the two apart)
        df["days_late"] = df["days_late"].fillna(0.0)
    names = _columns(df, facts, items, theme_cols)
    n_all = len(df)
    df = df.dropna(subset=names + ["score"])
    y = (df["score"] <= 6).astype(float) if outcome == "detractor" else df["score"].astype(float)
    kept, dropped = _design(df, names) if len(df) > len(names) + 10 else (names, [])
    if len(df) < len(kept) + 10 or not kept:
        raise DriverError(f"Too few answers ({len(df)}) for {len(kept)} drivers; widen the filters or pass "
                          f"fewer facts.")
    x = df[kept].to_numpy(float)
    fit = _fit(x, y.to_numpy(), outcome, level)
    raw = relative_weights(np.corrcoef(np.column_stack([x, y]), rowvar=False))
    boot = bootstrap_weights(np.column_stack([x, y]), n_resamples=n_resamples, seed=seed)
    share_boot = boot / boot.sum(axis=1, keepdims=True)
    lo, hi = np.nanquantile(share_boot, [(1 - level) / 2, (1 + level) / 2], axis=0)
    out = pd.DataFrame({"driver": kept, "kind": ["flag" if _is_flag(df[k]) else "numeric" for k in kept],
                        "effect": fit["effect"], "low": fit["low"], "high": fit["high"], "p_value": fit["p"],
                        "relative_weight": raw / raw.sum(), "rw_low": lo, "rw_high": hi, "raw_weight": raw,
                        "n_answers": len(df), "prevalence": [(df[k] != 0).mean() for k in kept],
                        "mean": [df[k].mean() for k in kept]})
    out = out.sort_values("relative_weight", ascending=False, ignore_index=True)
    out.insert(1, "rank", range(1, len(out) + 1))
    null = 1.0 if outcome == "detractor" else 0.0
    out["moment_of_truth"] = (out["low"] > null) | (out["high"] < null)
    out["statement"] = [_sentence(r, outcome, level, fit["r2"]) for r in out.itertuples()]
    out = definition(out, analysis="drivers", outcome=outcome, method=method, level=level, n_answers=n_all,
                     n_used=len(df), r_squared=fit["r2"], dropped=dropped or None, lookback_days=lookback_days,
                     feedback_touchpoint=feedback_touchpoint, items=list(items) if items else None,
                     model=fit["model"], relative_weight=_RW_RULE.format(n_resamples=n_resamples, seed=seed),
                     facts={k: v for k, v in FACT_RULES.items() if k in names or k == "used_<touchpoint>"},
                     filters=scope(con, filters).describe(), filter_rule=FEEDBACK_RULE)
    out.attrs["moments_of_truth"] = [{"rank": int(r.rank), "driver": r.driver, "effect": float(r.effect),
                                      "low": float(r.low), "high": float(r.high), "prevalence": float(r.prevalence),
                                      "relative_weight": float(r.relative_weight), "statement": r.statement}
                                     for r in out.itertuples() if r.moment_of_truth]
    return out


_RW_RULE = ("Johnson's relative weights: each driver's share of the R² of the OLS fit (linear probability model "
            "for the detractor flag), shares sum to 1; interval: percentiles of {n_resamples} seeded bootstrap "
            "resamples (seed {seed})")


def _is_flag(s: pd.Series) -> bool:
    return bool(s.isin([0, 1]).all())


def _fit(x: np.ndarray, y: np.ndarray, outcome: str, level: float) -> dict:
    from statsmodels.discrete.discrete_model import Logit  # the two models, not statsmodels.api (2-5 s import)
    from statsmodels.regression.linear_model import OLS

    design = np.column_stack([np.ones(len(y)), x])
    ols = OLS(y, design).fit(cov_type="HC3")
    if outcome != "detractor":
        ci = ols.conf_int(alpha=1 - level)[1:]
        return {"effect": ols.params[1:], "low": ci[:, 0], "high": ci[:, 1], "p": ols.pvalues[1:],
                "r2": float(ols.rsquared), "model": "OLS of the score on all drivers, HC3 robust intervals"}
    reason = ""
    try:
        logit = Logit(y, design).fit(disp=0, cov_type="HC0", maxiter=200, warn_convergence=False)
        reason = "" if logit.mle_retvals.get("converged", True) else "no optimum after 200 iterations"
    except Exception as exc:  # perfect separation, singular Hessian
        reason = str(exc)
    if reason:
        raise DriverError(f"The detractor logit did not converge ({reason}): a driver separates detractors "
                          f"(almost) perfectly; leave rare drivers out with facts=.")
    ci = np.exp(logit.conf_int(alpha=1 - level)[1:])
    return {"effect": np.exp(logit.params[1:]), "low": ci[:, 0], "high": ci[:, 1], "p": logit.pvalues[1:],
            "r2": float(ols.rsquared), "model": "logit of the detractor flag on all drivers, odds ratios with "
                                                "robust (HC0) intervals; r_squared of the linear probability model"}


_UNITS = {"nps": "points of likelihood to recommend (0-10 scale)", "csat": "points of CSAT",
          "ces": "points of effort (CES; higher is harder)", "detractor": "times the odds of a detractor"}


def _sentence(r, outcome: str, level: float, r2: float) -> str:
    what = f"{r.driver.replace('_', ' ')}" + ("" if r.kind == "flag" else " (per unit)")
    size = (f"{r.effect:.2f} {_UNITS[outcome]}" if outcome == "detractor"
            else f"{r.effect:+.2f} {_UNITS[outcome]}")
    share = f"{r.prevalence:.0%} of answers had it" if r.kind == "flag" else f"mean {r.mean:.3g}"
    verdict = "a moment of truth" if r.moment_of_truth else "no clear effect"
    return (f"#{r.rank} {what}: {size} ({level:.0%} CI {r.low:.2f} to {r.high:.2f}), {share}; "
            f"{r.relative_weight:.0%} of the explained variance (R² {r2:.3f}); {verdict}.")


__all__ = ["drivers_table", "relative_weights", "bootstrap_weights", "DriverError", "FACTS", "OUTCOMES"]
