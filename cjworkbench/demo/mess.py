"""The mess real exports carry, planted in counted amounts so an ingest can be checked.

Exact duplicate lines (a logger retrying), malformed lines (a field too few or too many),
unparseable timestamps, and a web logger that ignored summer time for a few sessions on the
night the clocks went forward, so their naive local times do not exist in Europe/Amsterdam.
Malformed lines and bad timestamps only hit rows no planted effect depends on.
"""

from __future__ import annotations

import numpy as np

from .timeline import HOUR, Window, clock_changes

BAD_TIMESTAMPS = ("31/02/2026 25:61", "2026-13-45 10:00:00", "0000-00-00 00:00:00",
                  "29/02/2025 24:00", "#VALUE!", "2026-02-30T27:15:00")
DUPLICATE_RATE = {"clickstream": 0.002, "cases": 0.0004}
MALFORMED = {"clickstream": 7, "cases": 3}
BAD_TS = {"clickstream": 5, "cases": 4}
SPRING_GAP_SESSIONS = 3


def row_mess(rng, n: int, eligible: np.ndarray, kind: str) -> dict:
    """Per row: malformed code (0 none, 1 too few fields, 2 too many), bad-timestamp index, copies."""
    pick = rng.choice(np.flatnonzero(eligible), MALFORMED[kind] + BAD_TS[kind], replace=False)
    malformed = np.zeros(n, np.int8)
    malformed[pick[:MALFORMED[kind]]] = 1 + np.arange(MALFORMED[kind]) % 2
    bad = np.full(n, -1, np.int8)
    bad[pick[MALFORMED[kind]:]] = np.arange(BAD_TS[kind]) % len(BAD_TIMESTAMPS)
    copies = np.ones(n, np.int8)
    clean = np.flatnonzero((malformed == 0) & (bad < 0))
    copies[rng.choice(clean, int(round(DUPLICATE_RATE[kind] * n)), replace=False)] = 2
    return {"malformed": malformed, "bad": bad, "copies": copies}


def spring_gap_sessions(rng, sessions: dict, hits: dict, win: Window, returning: np.ndarray) -> np.ndarray:
    """Move a few browse sessions to the night summer time starts, logged without DST.

    Returns a per-hit mask of the moved hits; their local time must be rendered as UTC+1.
    """
    spring = clock_changes(win)["spring"]
    moved = np.zeros(hits["ts"].size, bool)
    if not spring:
        return moved
    ok = (sessions["kind"] == 0) & returning[sessions["cust"]] & (hits["length"] >= 2)
    chosen = rng.choice(np.flatnonzero(ok), SPRING_GAP_SESSIONS, replace=False)
    target = spring[-1] + rng.integers(5 * 60, 40 * 60, chosen.size)  # 02:05-02:40 on a UTC+1 clock
    for s, t in zip(chosen, target):  # three sessions: a loop is clearer than a scatter
        rows = slice(hits["first"][s], hits["first"][s] + hits["length"][s])
        hits["ts"][rows] += t - hits["ts"][hits["first"][s]]
        moved[rows] = True
    return moved


def spring_gap_hits(local: np.ndarray, win: Window) -> int:
    """How many naive local times fall in a spring-forward gap (02:00-03:00 on that night)."""
    return int(sum(((local >= s + HOUR) & (local < s + 2 * HOUR)).sum() for s in clock_changes(win)["spring"]))


def fall_back_hits(local: np.ndarray, win: Window) -> int:
    """How many naive local times fall in the repeated hour (02:00-03:00) when summer time ends."""
    return int(sum(((local >= s + HOUR) & (local < s + 2 * HOUR)).sum() for s in clock_changes(win)["autumn"]))
