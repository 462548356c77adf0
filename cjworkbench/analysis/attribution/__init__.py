"""Attribution: what each channel (or touchpoint) is worth in conversions.

`attribution_table` builds conversion paths (`paths.py`), attributes each conversion with a rule
(`heuristics.py`), the Markov removal effect (`markov.py`) or Shapley values (`shapley.py`), and
gives every estimate a percentile interval from resampling paths (bootstrap, fixed seed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...cache import remember
from ...errors import one_of
from ...scope import TIE_RULE, FilterError, definition, scope
from . import heuristics, markov, shapley
from .paths import PATH_RULE, Paths, build_paths, check_activity, check_unit, default_conversion

MODELS = (*heuristics.HEURISTICS, "markov", "shapley")
COLUMNS = ["model", "estimate", "share", "low", "high", "n_journeys", "n_customers", "removal_effect", "mc_se"]

__all__ = ["attribution_table", "MODELS", "Paths", "build_paths", "default_conversion"]


def _models(model) -> list[str]:
    wanted = list(MODELS) if model == "all" else [model] if isinstance(model, str) else list(model)
    for m in wanted:
        if m not in MODELS:
            raise FilterError(one_of("model", m, (*MODELS, "all")))
    return wanted


def _check_numbers(order, n_resamples, level, half_life_days) -> None:
    if order not in markov.ORDERS:
        raise FilterError(one_of("order", order, markov.ORDERS))
    if not isinstance(n_resamples, int) or isinstance(n_resamples, bool) or n_resamples < 0:
        raise FilterError(f"n_resamples must be a whole number >= 0 (0: no intervals), got {n_resamples!r}.")
    if not 0 < level < 1:
        raise FilterError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}.")
    if not half_life_days > 0:
        raise FilterError(f"half_life_days must be a positive number of days, got {half_life_days!r}.")


def model_totals(paths: Paths, model: str, base: np.ndarray, *, order: int = 1, half_life_days: float = 7.0):
    """A function weights -> attributed conversions per channel (weights: times each path counts), and
    the extra per-channel column (removal effect or Monte-Carlo error) at the `base` weights."""
    n = len(paths.channels)
    nan = np.full(n, np.nan)
    if model in heuristics.HEURISTICS:
        from scipy import sparse

        credits = heuristics.touch_credits(paths, model, half_life_days=half_life_days)
        path_of = np.repeat(np.arange(paths.n_paths), np.diff(paths.start))
        # credit per (path, channel) once: a resample's totals are one sparse product with its path weights
        per_path = sparse.csr_matrix((credits, (path_of, paths.codes)), shape=(paths.n_paths, n)).T.tocsr()
        return (lambda w: per_path @ w), nan, nan
    if model == "markov":
        chain = markov.build_chain(paths, order)
        conv = paths.converted.astype(float)
        _, re = markov.removal_effects(chain, base)
        return (lambda w: markov.markov_totals(chain, w, float(conv @ w))), re, nan
    sets, values = shapley.set_weights(paths, shapley.channel_sets(paths))   # once; a resample reweights
    if n <= shapley.EXACT_MAX:
        return (lambda w: shapley.exact(n, sets, values(w))), nan, nan
    point, se = shapley.sampled(n, sets, values(base))
    return (lambda w: point if w is base else shapley.unanimity(n, sets, values(w))), nan, se


def patterns(paths: Paths) -> tuple[Paths, np.ndarray]:
    """The distinct paths (same touches, same ending) and how many times each occurs: every model
    but time decay depends on these alone, so resampling paths is a multinomial draw over them."""
    codes, start, conv = paths.codes.tolist(), paths.start.tolist(), paths.converted.tolist()
    index: dict[tuple, int] = {}
    of = np.fromiter((index.setdefault((conv[k], *codes[start[k]:start[k + 1]]), len(index))
                      for k in range(paths.n_paths)), np.int64, paths.n_paths)
    keys = list(index)
    lengths = np.array([len(k) - 1 for k in keys], np.int64)
    flat = np.array([c for k in keys for c in k[1:]], np.int64)
    reduced = Paths(paths.channels, flat, np.zeros(len(flat)), np.concatenate([[0], np.cumsum(lengths)]),
                    np.array([k[0] for k in keys], bool), np.arange(len(keys)))
    return reduced, np.bincount(of, minlength=len(keys)).astype(float)


def attribute(paths: Paths, model: str, *, order: int = 1, half_life_days: float = 7.0, n_resamples: int = 200,
              level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Rows per channel for one model: estimate, share, low, high, removal_effect, mc_se."""
    with markov.one_thread():
        return _attribute(paths, model, order, half_life_days, n_resamples, level, seed)


def _attribute(paths, model, order, half_life_days, n_resamples, level, seed) -> pd.DataFrame:
    # the distinct paths once per Paths (kept on it: the paths a connection keeps serve every model)
    units, counts = (paths, np.ones(paths.n_paths)) if model == "time_decay" else \
        remember(paths, "object", ("attribution.patterns",), lambda: patterns(paths))
    totals, re, se = model_totals(units, model, counts, order=order, half_life_days=half_life_days)
    est = totals(counts)
    low = high = np.full(len(est), np.nan)
    if n_resamples and paths.n_paths:
        rng = np.random.default_rng(seed)        # resampling paths = a multinomial draw over the patterns
        n = paths.n_paths
        if units is paths:   # every path its own unit: times each is drawn (a multinomial over n equal cells)
            draw = lambda: np.bincount(rng.integers(0, n, n), minlength=n).astype(float)   # noqa: E731
        else:
            p = counts / counts.sum()
            draw = lambda: rng.multinomial(n, p).astype(float)   # noqa: E731
        draws = np.array([totals(draw()) for _ in range(n_resamples)])
        alpha = (1 - level) / 2
        low, high = np.quantile(draws, [alpha, 1 - alpha], axis=0)
    total = est.sum()
    return pd.DataFrame({"channel": paths.channels, "model": model, "estimate": est,
                         "share": est / total if total > 0 else np.nan, "low": low, "high": high,
                         "removal_effect": re, "mc_se": se})


def _counts(paths: Paths) -> pd.DataFrame:
    path_of = np.repeat(np.arange(paths.n_paths), np.diff(paths.start))
    df = pd.DataFrame({"channel": np.asarray(paths.channels, dtype=object)[paths.codes],
                       "path": path_of, "customer": paths.customer[path_of]})
    return df.groupby("channel").agg(n_journeys=("path", "nunique"), n_customers=("customer", "nunique"))


def attribution_table(con, *, conversion: str | None = None, model="markov", unit: str = "channel",
                      lookback_days: float = 30, order: int = 1, half_life_days: float = 7.0, filters=None,
                      n_resamples: int = 200, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Attributed conversions per channel (or touchpoint) under `model` ("first", "last", "linear",
    "time_decay", "position", "markov", "shapley", a list of them or "all"), with bootstrap intervals.

    `conversion`: the activity that converts (default: the most common last activity of the scoped
    journeys). Columns: model, <unit>, estimate (attributed conversions), share, low, high,
    n_journeys (paths touching the value), n_customers, removal_effect (markov), mc_se (sampled
    Shapley). Paths follow PATH_RULE; intervals resample paths with replacement.
    """
    check_unit(unit)
    models = _models(model)
    _check_numbers(order, n_resamples, level, half_life_days)
    conversion = check_activity(con, conversion) if conversion else default_conversion(con, filters)
    paths = build_paths(con, conversion=conversion, unit=unit, lookback_days=lookback_days, filters=filters)
    if paths.n_paths:
        parts = [attribute(paths, m, order=order, half_life_days=half_life_days, n_resamples=n_resamples,
                           level=level, seed=seed) for m in models]
        counted = remember(paths, "object", ("attribution.counts",), lambda: _counts(paths))
        df = pd.concat(parts, ignore_index=True).join(counted, on="channel")
    else:
        df = pd.DataFrame(columns=["channel", *COLUMNS])
    df = df[["model", "channel", *COLUMNS[1:]]].rename(columns={"channel": unit})
    df = df.sort_values(["model", "estimate"], ascending=[True, False], ignore_index=True)
    rules = {m: heuristics.RULES.get(m, markov.RULE if m == "markov" else shapley.RULE) for m in models}
    return definition(df, analysis="attribution", conversion=conversion, touch=unit, unit="conversion path",
                      unit_rule=PATH_RULE, lookback_days=lookback_days, models=rules,
                      markov_order=order if "markov" in models else None,
                      half_life_days=half_life_days if "time_decay" in models else None,
                      n_paths=int(paths.n_paths), n_conversions=int(paths.converted.sum()), level=level,
                      intervals=f"percentile bootstrap over paths ({n_resamples} resamples, seed {seed})",
                      tie_rule=TIE_RULE, filters=scope(con, filters).describe())
