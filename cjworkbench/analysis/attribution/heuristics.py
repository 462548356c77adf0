"""Rule-based attribution: each converting path hands out one conversion among its touches.

- first: all to the first touch; last: all to the last touch;
- linear: 1 / k to each of the k touches;
- time_decay: touch weight 2 ** (-age_days / half_life_days), normalised to 1 per path (age: days
  from the touch to the conversion);
- position: 40 % first, 40 % last, 20 % shared by the touches between (one touch: 100 %; two
  touches: 50 % each).
A channel touched twice in a path gets both shares. Credits are returned per touch, so a
resample of paths is a weighted sum (`credit_totals`).
"""

from __future__ import annotations

import numpy as np

from .paths import Paths

HEURISTICS = ("first", "last", "linear", "time_decay", "position")
RULES = {
    "first": "all credit to the first touch of a converting path",
    "last": "all credit to the last touch (the converting one)",
    "linear": "equal credit to every touch",
    "time_decay": "credit 2^(-days before conversion / half_life_days), normalised per path",
    "position": "40 % first, 40 % last, 20 % shared by the touches between (1 touch: 100 %, 2: 50/50)",
}


def touch_credits(paths: Paths, model: str, *, half_life_days: float = 7.0) -> np.ndarray:
    """Credit per touch (0 for touches of non-converting paths); each converting path sums to 1."""
    n = np.diff(paths.start)
    path_of = np.repeat(np.arange(paths.n_paths), n)
    pos = np.arange(len(paths.codes)) - paths.start[path_of]
    k = n[path_of]
    if model == "first":
        c = (pos == 0).astype(float)
    elif model == "last":
        c = (pos == k - 1).astype(float)
    elif model == "linear":
        c = 1.0 / k
    elif model == "time_decay":
        raw = np.power(2.0, -paths.age_days / float(half_life_days))
        c = raw / np.bincount(path_of, weights=raw, minlength=paths.n_paths)[path_of]
    elif model == "position":
        ends = (pos == 0) | (pos == k - 1)
        middle = np.where(k > 2, 0.2 / np.maximum(k - 2, 1), 0.0)
        c = np.where(k == 1, 1.0, np.where(k == 2, 0.5, np.where(ends, 0.4, middle)))
    else:
        raise ValueError(model)
    return c * paths.converted[path_of]


def credit_totals(paths: Paths, credits: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Credit per channel, each path counted `weights[path]` times (default once)."""
    if weights is not None:
        credits = credits * np.repeat(weights, np.diff(paths.start))
    return np.bincount(paths.codes, weights=credits, minlength=len(paths.channels))


def heuristic(paths: Paths, model: str, *, half_life_days: float = 7.0) -> dict[str, float]:
    """Attributed conversions per channel under one rule (for small fixtures and tests)."""
    totals = credit_totals(paths, touch_credits(paths, model, half_life_days=half_life_days))
    return dict(zip(paths.channels, totals.tolist()))
