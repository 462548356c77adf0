"""Moments of truth: a driver model of an experience outcome on journey facts, themes and items.

Effects come from a regression of the outcome on the drivers at once: OLS with HC3 robust errors for a
score (NPS 0-10, CSAT, CES effort, review stars, a scored complaint or social post), a logit with odds
ratios for the detractor flag (NPS 0-6). The ranking is Johnson's (2000) relative weights, each driver's
share of R² with seeded bootstrap intervals: the quantity Shapley values (LMG) and dominance analysis
estimate, with the same ranking in practice (LeBreton et al. 2004), in closed form (one eigen-
decomposition) instead of 2^p sub-models, so the bootstrap stays cheap with twenty drivers and a
million answers. For the detractor flag the weights are those of the linear probability model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...deprecation import renamed_kwargs
from ...errors import DriverError, WorkbenchError, one_of, unknown  # noqa: F401  (re-exported)
from ...privacy import K_DEFAULT, SMALL_GROUP_RULE, suppress_small
from ...scope import FEEDBACK_RULE, FilterError, definition, scope
from ..checks import check_known, known_values
from .journey_facts import FACT_RULES, FactRules, journey_facts

OUTCOMES = {"nps": "nps", "csat": "csat", "ces": "ces", "review": "review", "complaint": "complaint",
            "social": "social", "detractor": "nps"}   # outcome -> the instrument whose score it models
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
                  rules: FactRules | None = None, k_min: int = K_DEFAULT) -> pd.DataFrame:
    """Per driver: effect with its interval and p-value, relative weight (share of R²) with a
    bootstrap interval, rank, its own `n_answers` (and `n_with` for a flag), prevalence and a sentence.
    `df.attrs["moments_of_truth"]`: the ranked drivers whose effect interval excludes 0, by weight.

    outcome: nps (likelihood to recommend, 0-10), csat, ces (effort: higher is worse), review,
    complaint or social (their score) or detractor (NPS 0-6, logit, effects are odds ratios).
    facts: names from FACTS ('touchpoints' expands to one used_<touchpoint> flag each); items:
    survey items in feedback.attributes; taxonomy: themes (as for `themes_table`) whose matches
    become theme_<name> flags. Missing is not zero (APPLIES_RULE): a driver some answers lack
    (days_late without a delivery, an item left blank) is estimated on the answers that have it.
    A driver under MIN_DRIVER_ANSWERS is shown with `rank` NA and the `reason`; one resting on fewer
    than `k_min` answers (or answers with the flag) is suppressed (`privacy.SMALL_GROUP_RULE`).
    """
    if outcome not in OUTCOMES:
        raise FilterError(one_of("outcome", outcome, OUTCOMES))
    if method not in METHODS:
        raise FilterError(one_of("method", method, METHODS))
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 0:
        raise FilterError(f"n_resamples must be a whole number >= 0 (0: no intervals), got {n_resamples!r}.")
    instrument = _check_instrument(con, OUTCOMES[outcome])
    check_known(con, "feedback_touchpoint", feedback_touchpoint, column="touchpoint", table="feedback")
    df = journey_facts(con, instrument=instrument, lookback_days=lookback_days, filters=filters,
                       feedback_touchpoint=feedback_touchpoint, items=items, rules=rules)
    df, theme_cols = _themes(con, df, taxonomy, filters) if taxonomy is not None else (df, [])
    names = _columns(df, facts, items, theme_cols)
    for item in (i for i in (items or ()) if df[f"item_{i}"].isna().all()):   # no answer has it: a typo?
        t = con.table("feedback").attributes.keys().unnest().name("k")
        raise FilterError(unknown("item", item, sorted(t.as_table().distinct().execute()["k"].dropna())))
    n_all = len(df)
    df = df.dropna(subset=["score"])
    full = [n for n in names if df[n].notna().all()]
    partial = [n for n in names if n not in full]
    kept, dropped = _design(df, full) if full and len(df) > len(full) + 10 else (full, [])
    if len(df) < len(kept) + 10 or not (kept or partial):
        raise DriverError(f"Too few answers ({len(df)} {instrument} answers with a score after the filters) for "
                          f"{len(kept) + len(partial)} drivers; widen the filters or pass fewer facts.")
    parts, r2 = [], {}
    if kept:
        part, r2["all answers"] = _estimate(df, kept, kept, outcome, level, n_resamples, seed, "all answers")
        parts.append(part)
    for name in partial:
        sub = df[df[name].notna()]
        cols, _ = _design(sub, [name, *kept]) if len(sub) > len(kept) + 11 else ([], [])
        if name not in cols or len(sub) < len(cols) + 10:
            dropped.append(f"{name} (only {len(sub)} answers have it)" if len(sub) < len(kept) + 12
                           else f"{name} (constant where it applies)")
            continue
        where = f"answers with {name}"
        part, r2[where] = _estimate(sub, cols, [name], outcome, level, n_resamples, seed, where)
        parts.append(part)
    out = _ranked(pd.concat(parts, ignore_index=True))
    null = 1.0 if outcome == "detractor" else 0.0
    out["moment_of_truth"] = out["rank"].notna() & ((out["low"] > null) | (out["high"] < null))
    out["statement"] = [_sentence(r, outcome, level, r2[r.applies_to]) for r in out.itertuples()]
    out = suppress_small(out, k=k_min, count=["n_answers", "n_with"], blank=False)
    out = definition(out, analysis="drivers", outcome=outcome, method=method, level=level, n_answers=n_all,
                     n_used=len(df), r_squared=r2.get("all answers"), dropped=dropped or None,
                     lookback_days=lookback_days, feedback_touchpoint=feedback_touchpoint,
                     items=list(items) if items else None, model=_MODELS[outcome == "detractor"],
                     missing=APPLIES_RULE, ranking=RANK_RULE, k_min=k_min, small_groups=SMALL_GROUP_RULE,
                     relative_weight=_RW_RULE + (f"interval: percentiles of {n_resamples} seeded bootstrap resamples "
                                                 f"(seed {seed})" if n_resamples else "no interval (n_resamples=0)"),
                     facts={k: v for k, v in FACT_RULES.items() if k in names or k == "used_<touchpoint>"},
                     filters=scope(con, filters).describe(), filter_rule=FEEDBACK_RULE)
    out.attrs["moments_of_truth"] = [{"rank": int(r.rank), "driver": r.driver, "effect": float(r.effect),
                                      "low": float(r.low), "high": float(r.high), "prevalence": float(r.prevalence),
                                      "relative_weight": float(r.relative_weight), "statement": r.statement}
                                     for r in out.itertuples() if r.moment_of_truth]
    return out


def _check_instrument(con, instrument: str) -> str:
    """An instrument absent, or whose answers carry no score, is an error naming those there are."""
    present, fb = known_values(con, "feedback", "instrument"), con.table("feedback")
    label = instrument.upper() if instrument in ("nps", "csat", "ces") else instrument
    if instrument not in present:
        raise DriverError(f"No {label} answers in this database; it has: {', '.join(present) or 'no feedback'}. "
                          f"Pick outcome= from those (detractor needs nps).")
    if not int(fb.filter((fb.instrument == instrument) & fb.score.notnull()).count().execute()):
        raise DriverError(f"The {label} answers in this database carry no score, so there is nothing to model; "
                          f"score them at ingest (a `score` column) or pick outcome= from: {', '.join(present)}.")
    return instrument


MIN_DRIVER_ANSWERS = 30
APPLIES_RULE = ("missing is not zero: a fact that does not apply to an answer (days_late without a delivery, case "
                "facts without a case, a blank item) is NULL; drivers every answer has are fitted together on all "
                "answers; a driver some answers lack is fitted on the answers that have it, with the drivers every "
                "answer has as controls (applies_to); its n_answers counts those answers")
RANK_RULE = (f"ranked by relative weight when the estimate rests on at least {MIN_DRIVER_ANSWERS} answers (a flag: "
             f"at least {MIN_DRIVER_ANSWERS} with it and {MIN_DRIVER_ANSWERS} without); others are shown with rank "
             f"NA and the reason, and are never a moment of truth")


def _estimate(df: pd.DataFrame, cols: list[str], report: list[str], outcome: str, level: float,
              n_resamples: int, seed: int, applies_to: str) -> tuple[pd.DataFrame, float]:
    """One model of the outcome on `cols` over the rows of `df`: the rows of the drivers in `report`."""
    y = ((df["score"] <= 6) if outcome == "detractor" else df["score"]).to_numpy(float)
    x = df[cols].to_numpy(float)
    fit = _fit(x, y, outcome, level)
    raw = relative_weights(np.corrcoef(np.column_stack([x, y]), rowvar=False))
    lo = hi = np.full(len(cols), np.nan)
    if n_resamples:                              # 0: point estimates, NaN intervals
        boot = bootstrap_weights(np.column_stack([x, y]), n_resamples=n_resamples, seed=seed)
        lo, hi = np.nanquantile(boot / boot.sum(axis=1, keepdims=True), [(1 - level) / 2, (1 + level) / 2], axis=0)
    idx = [cols.index(k) for k in report]
    flags = [bool(df[k].isin([0, 1]).all()) for k in report]
    part = pd.DataFrame({"driver": report, "kind": ["flag" if f else "numeric" for f in flags],
                         "effect": fit["effect"][idx], "low": fit["low"][idx], "high": fit["high"][idx],
                         "p_value": fit["p"][idx], "relative_weight": (raw / raw.sum())[idx], "rw_low": lo[idx],
                         "rw_high": hi[idx], "raw_weight": raw[idx], "n_answers": len(df),
                         "n_with": [int((df[k] != 0).sum()) if f else pd.NA for k, f in zip(report, flags)],
                         "prevalence": [(df[k] != 0).mean() for k in report], "mean": [df[k].mean() for k in report],
                         "applies_to": applies_to})
    return part, fit["r2"]


def _ranked(out: pd.DataFrame) -> pd.DataFrame:
    """`rank` (NA below MIN_DRIVER_ANSWERS, with `reason`), ranked rows first by relative weight."""
    n_with = pd.to_numeric(out["n_with"], errors="coerce")
    few = out["n_answers"] < MIN_DRIVER_ANSWERS
    rare = (out["kind"] == "flag") & ((n_with < MIN_DRIVER_ANSWERS) | (out["n_answers"] - n_with < MIN_DRIVER_ANSWERS))
    reason = [f"only {n} answers (minimum {MIN_DRIVER_ANSWERS})" if f else
              f"only {w} answers with it and {n - w} without (minimum {MIN_DRIVER_ANSWERS} each)" if r else None
              for n, w, f, r in zip(out["n_answers"], n_with.fillna(0).astype(int), few, rare)]
    out = out.assign(reason=reason, _unranked=few | rare)
    out = out.sort_values(["_unranked", "relative_weight"], ascending=[True, False], ignore_index=True)
    ranked = ~out["_unranked"]
    out.insert(1, "rank", pd.array([i + 1 if r else pd.NA for i, r in enumerate(ranked)], dtype="Int64"))
    out["n_with"] = out["n_with"].astype("Int64")
    return out.drop(columns="_unranked")


_RW_RULE = ("Johnson's relative weights: each driver's share of the R² of the OLS fit (linear probability model "
            "for the detractor flag), the shares of one model sum to 1; a driver fitted on the answers it applies "
            "to: its share there; ")


def _fit(x: np.ndarray, y: np.ndarray, outcome: str, level: float) -> dict:
    from statsmodels.discrete.discrete_model import Logit  # the two models, not statsmodels.api (2-5 s import)
    from statsmodels.regression.linear_model import OLS

    design = np.column_stack([np.ones(len(y)), x])
    ols = OLS(y, design).fit(cov_type="HC3")
    if outcome != "detractor":
        ci = ols.conf_int(alpha=1 - level)[1:]
        return {"effect": ols.params[1:], "low": ci[:, 0], "high": ci[:, 1], "p": ols.pvalues[1:],
                "r2": float(ols.rsquared)}
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
            "r2": float(ols.rsquared)}


_MODELS = ("OLS of the score on the drivers, HC3 robust intervals",
           "logit of the detractor flag on the drivers, odds ratios with robust (HC0) intervals; r_squared of "
           "the linear probability model")
_UNITS = {"nps": "points of likelihood to recommend (0-10 scale)", "csat": "points of CSAT", "review": "stars (review)",
          "ces": "points of effort (CES; higher is harder)", "detractor": "times the odds of a detractor",
          "complaint": "points of the complaint score", "social": "points of the social post score"}


def _sentence(r, outcome: str, level: float, r2: float) -> str:
    what = f"{r.driver.replace('_', ' ')}" + ("" if r.kind == "flag" else " (per unit)")
    size = f"{r.effect:{'.2f' if outcome == 'detractor' else '+.2f'}} {_UNITS[outcome]}"
    share = (f"{r.n_with} of {r.n_answers} answers had it" if r.kind == "flag"
             else f"mean {r.mean:.3g} over {r.n_answers} answers")
    where = "" if r.applies_to == "all answers" else f" (among {r.applies_to})"
    if pd.isna(r.rank):
        return f"not ranked: {what}{where}: {size} ({level:.0%} CI {r.low:.2f} to {r.high:.2f}); {r.reason}."
    verdict = "a moment of truth" if r.moment_of_truth else "no clear effect"
    return (f"#{r.rank} {what}{where}: {size} ({level:.0%} CI {r.low:.2f} to {r.high:.2f}), {share}; "
            f"{r.relative_weight:.0%} of the explained variance (R² {r2:.3f}); {verdict}.")


__all__ = ["drivers_table", "relative_weights", "bootstrap_weights", "DriverError", "FACTS", "OUTCOMES"]
