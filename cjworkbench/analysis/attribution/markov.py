"""Markov-chain attribution: the removal effect of each channel, in closed form.

The chain (order k = 1, 2 or 3): a state is the last k touches of a path (fewer at its start);
every path runs (start) -> its states -> (conversion) or (null); transition probabilities are the
observed transition counts divided by the counts leaving each state. P(conversion) is the
absorption probability from (start): the solution x of (I - Q) x = r, with Q the transitions
among transient states and r those into (conversion), by numpy / scipy linear algebra, never by
simulation. Removing channel c deletes every state containing c (transitions into them end in
(null)); the removal effect is RE(c) = 1 - P_without_c / P. Attributed conversions:
total conversions x RE(c) / sum of all RE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg  # noqa: F401  (sp.linalg)

from .paths import Paths

ORDERS = (1, 2, 3)
DENSE_MAX = 1500  # states; larger chains use sparse LU
RULE = ("absorbing Markov chain of order k over the paths' touches (a state = the last k touches); removal effect "
        "RE(c) = 1 - P(conversion without the states containing c) / P(conversion), absorption probabilities "
        "solved in closed form (LU); attributed conversions = total conversions x RE(c) / sum of RE")


@dataclass(frozen=True)
class Chain:
    """Transition types (from, to) of a chain, their counts per unique path, and state contents."""

    n_states: int                 # 0 = (start), 1..n-1 transient touch states
    conv: int                     # index of (conversion) = n_states
    null: int                     # index of (null) = n_states + 1
    frm: np.ndarray
    to: np.ndarray
    per_path: sp.csr_matrix       # unique paths x transition types: how often each makes each one
    contains: np.ndarray          # n_states x n_channels: state holds the channel
    unique_of: np.ndarray         # path -> its unique path (same touches, same ending)

    def unique_weights(self, weights: np.ndarray | None) -> np.ndarray:
        """Path weights (None: each once) summed per unique path."""
        w = np.ones(len(self.unique_of)) if weights is None else weights
        return np.bincount(self.unique_of, weights=w, minlength=self.per_path.shape[0])


def build_chain(paths: Paths, order: int = 1) -> Chain:
    if order not in ORDERS:
        raise ValueError(order)
    states: dict[tuple, int] = {(): 0}
    types: dict[tuple[int, int], int] = {}
    rows, cols = [], []
    pending = []  # transitions to absorbing states, resolved once the state count is known
    unique: dict[tuple, int] = {}
    unique_of = np.empty(paths.n_paths, np.int64)
    for k in range(paths.n_paths):
        key = (bool(paths.converted[k]), *paths.codes[paths.start[k]:paths.start[k + 1]].tolist())
        seen = len(unique)
        i = unique_of[k] = unique.setdefault(key, seen)
        if i < seen:
            continue
        codes = list(key[1:])
        prev = 0
        for j in range(len(codes)):
            s = states.setdefault(tuple(codes[max(0, j - order + 1):j + 1]), len(states))
            rows.append(i)
            cols.append(types.setdefault((prev, s), len(types)))
            prev = s
        pending.append((i, prev, key[0]))
    n = len(states)
    for i, prev, conv in pending:
        rows.append(i)
        cols.append(types.setdefault((prev, n if conv else n + 1), len(types)))
    pairs = np.array(list(types), dtype=np.int64).reshape(-1, 2)
    per_path = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(unique), len(types)))
    contains = np.zeros((n, len(paths.channels)), bool)
    for key, s in states.items():
        contains[s, list(key)] = True
    return Chain(n, n, n + 1, pairs[:, 0], pairs[:, 1], per_path, contains, unique_of)


def _system(chain: Chain, counts: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Q (transient -> transient probabilities) and r (transient -> conversion) from transition counts."""
    n = chain.n_states
    out = np.bincount(chain.frm, weights=counts, minlength=n)
    live = out[chain.frm] > 0
    p = np.zeros(len(counts))
    p[live] = counts[live] / out[chain.frm[live]]
    inner = chain.to < n
    q = sp.csr_matrix((p[inner], (chain.frm[inner], chain.to[inner])), shape=(n, n))
    r = np.bincount(chain.frm, weights=np.where(chain.to == chain.conv, p, 0.0), minlength=n)
    return q, r


def _absorb(q, r: np.ndarray) -> float:
    """x[start] for (I - Q) x = r: dense LU for small chains, sparse LU beyond. Callers solving
    many small systems should hold `one_thread()`: BLAS threads only wait for each other there."""
    m = q.shape[0]
    if m <= DENSE_MAX:
        a = np.eye(m) - (q.toarray() if sp.issparse(q) else q)
        return float(np.linalg.solve(a, r)[0])
    return float(np.atleast_1d(sp.linalg.spsolve((sp.identity(m, format="csc") - q).tocsc(), r))[0])


def one_thread():
    """A context limiting BLAS to one thread (threadpoolctl, a dependency of scikit-learn)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def conversion_probability(chain: Chain, counts: np.ndarray, keep: np.ndarray | None = None) -> float:
    """Absorption probability in (conversion) from (start), with only the transient states `keep`."""
    q, r = _system(chain, counts)
    if keep is not None:
        q, r = q[keep][:, keep], r[keep]
    return _absorb(q, r)


def removal_effects(chain: Chain, weights: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """(P(conversion), removal effect per channel) for paths counted `weights` times."""
    counts = chain.per_path.T @ chain.unique_weights(weights)
    q, r = _system(chain, counts)
    if q.shape[0] <= DENSE_MAX:
        q = q.toarray()
    base = _absorb(q, r)
    re = np.zeros(chain.contains.shape[1])
    if base <= 0:
        return base, re
    for c in range(len(re)):
        keep = ~chain.contains[:, c]
        keep[0] = True
        sub = q[np.ix_(keep, keep)] if not sp.issparse(q) else q[keep][:, keep]
        re[c] = 1.0 - _absorb(sub, r[keep]) / base
    return base, re


def markov_totals(chain: Chain, weights: np.ndarray | None, conversions: float) -> np.ndarray:
    """Attributed conversions per channel."""
    _, re = removal_effects(chain, weights)
    return conversions * re / re.sum() if re.sum() > 0 else np.zeros_like(re)


def markov(paths: Paths, order: int = 1) -> dict[str, tuple[float, float]]:
    """{channel: (removal effect, attributed conversions)} for small fixtures and tests."""
    chain = build_chain(paths, order)
    _, re = removal_effects(chain)
    att = markov_totals(chain, None, float(paths.converted.sum()))
    return {c: (float(e), float(a)) for c, e, a in zip(paths.channels, re, att)}
