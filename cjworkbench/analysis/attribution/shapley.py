"""Shapley attribution over channel coalitions: the "simplified Shapley value" of Zhao et al. (2018).

The value of a coalition S of channels is the number of conversions of converting paths whose
channel set is a subset of S (order and repeats ignored). Channel i gets
phi(i) = sum over S not holding i of |S|! (n - |S| - 1)! / n! x (v(S + i) - v(S)), computed
exactly over all 2^n coalitions up to EXACT_MAX channels, and beyond that from `n_permutations`
random channel orders (the mean marginal contribution, with its Monte-Carlo standard error).
Efficiency: the values sum to v(all channels) = the total conversions.

This game is a sum of unanimity games (one per channel set T, worth its conversions c(T)), so
phi(i) also equals sum over T holding i of c(T) / |T|; the bootstrap intervals use that identity
(tests check it equals the coalition sum).
"""

from __future__ import annotations

import math

import numpy as np

from .paths import Paths

EXACT_MAX = 15
RULE = ("simplified Shapley value (Zhao et al. 2018): v(S) = conversions of converting paths whose channel set is a "
        "subset of S; exact over all coalitions up to 15 channels, sampled channel orders beyond")


def channel_sets(paths: Paths) -> np.ndarray:
    """Bit mask of the channels in each path (channel j = bit j)."""
    if len(paths.channels) > 62:
        raise ValueError("Shapley attribution supports at most 62 channels or touchpoints.")
    path_of = np.repeat(np.arange(paths.n_paths), np.diff(paths.start))
    masks = np.zeros(paths.n_paths, np.int64)
    np.bitwise_or.at(masks, path_of, np.left_shift(np.int64(1), paths.codes))
    return masks


def set_values(paths: Paths, masks: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(unique channel sets of converting paths, their conversions c(T))."""
    w = np.ones(paths.n_paths) if weights is None else weights
    conv = paths.converted & (masks > 0)
    sets, inv = np.unique(masks[conv], return_inverse=True)
    return sets, np.bincount(inv, weights=w[conv], minlength=len(sets))


def set_weights(paths: Paths, masks: np.ndarray):
    """(unique channel sets of converting paths, weights -> their conversions c(T)): the grouping is
    done once, so each bootstrap resample only sums its weights."""
    conv = np.flatnonzero(paths.converted & (masks > 0))
    sets, inv = np.unique(masks[conv], return_inverse=True)

    def values(weights: np.ndarray | None) -> np.ndarray:
        w = np.ones(len(conv)) if weights is None else weights[conv]
        return np.bincount(inv, weights=w, minlength=len(sets))
    return sets, values


def exact(n: int, sets: np.ndarray, conversions: np.ndarray) -> np.ndarray:
    """Shapley values by the coalition formula over all 2^n coalitions (n <= EXACT_MAX)."""
    size = 1 << n
    v = np.zeros(size)
    np.add.at(v, sets, conversions)
    all_ = np.arange(size)
    for b in range(n):                         # subset sums: v(S) = sum of c(T) for T within S
        has = (all_ >> b) & 1 == 1
        v[has] += v[all_[has] ^ (1 << b)]
    pop = np.array([bin(m).count("1") for m in range(size)]) if n <= 20 else None
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)])
    phi = np.zeros(n)
    for i in range(n):
        without = all_[(all_ >> i) & 1 == 0]
        phi[i] = np.sum(weight[pop[without]] * (v[without | (1 << i)] - v[without]))
    return phi


def unanimity(n: int, sets: np.ndarray, conversions: np.ndarray) -> np.ndarray:
    """The same values from the identity phi(i) = sum over T holding i of c(T) / |T|."""
    bits = (sets[:, None] >> np.arange(n)) & 1
    return (bits * (conversions / bits.sum(axis=1))[:, None]).sum(axis=0)


def sampled(n: int, sets: np.ndarray, conversions: np.ndarray, *, n_permutations: int = 1000,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(mean marginal contribution over random channel orders, its standard error) per channel."""
    rng = np.random.default_rng(seed)
    contrib = np.zeros((n_permutations, n))
    for r in range(n_permutations):
        prefix, before = np.int64(0), 0.0
        for i in rng.permutation(n):
            prefix |= np.int64(1) << np.int64(i)
            value = conversions[(sets & ~prefix) == 0].sum()
            contrib[r, i] = value - before
            before = value
    return contrib.mean(axis=0), contrib.std(axis=0, ddof=1) / math.sqrt(n_permutations)


def shapley(paths: Paths) -> dict[str, float]:
    """Attributed conversions per channel (exact up to EXACT_MAX channels), for fixtures and tests."""
    sets, conv = set_values(paths, channel_sets(paths))
    n = len(paths.channels)
    phi = exact(n, sets, conv) if n <= EXACT_MAX else sampled(n, sets, conv)[0]
    return dict(zip(paths.channels, phi.tolist()))
