"""What changed, area by area: the rows comparing a current window with a baseline window for
funnel step conversion, variant shares, transition times, scores, driver effects and theme impact.
Each window is its own Scope (`Scope.with_dates`): the period's dates replace any date filter, and
every other filter applies as in the area's own table. `changes.py` ranks the rows.
"""

from __future__ import annotations

import math
import warnings

import ibis
import pandas as pd

from ...errors import WorkbenchError
from ...periods import Window
from ...scope import Scope, scope
from ..journeys.funnels import funnel_table
from ..stats import _dist, _z, newcombe_interval, two_proportion_p_value
from ..voc.scores import DEFAULTS, MEASURES, moments, nps_difference, sufficient_stats, welch_summary
from ...cache import remember


def _dated(con, filters, w: Window) -> Scope:
    """The scope of one window: the period's dates replace any date filter."""
    return scope(con, filters).with_dates(w.start, w.end)


def _cached(run, key, make):
    """`make()` once per key and run: the current window's results serve every baseline."""
    return remember(run, "result", key, make, size=1024)


def _row(area, item, metric, cur, prev, est, p, n1, n2, better="higher") -> dict:
    return {"area": area, "item": item, "metric": metric, "current": cur, "previous": prev,
            "change": est[0], "low": est[1], "high": est[2], "p_value": p, "n_current": int(n1),
            "n_previous": int(n2), "better": better}


def _proportion_row(area, item, metric, x1, n1, x2, n2, level, better="higher") -> dict:
    est = newcombe_interval(x1, n1, x2, n2, level=level)
    return _row(area, item, metric, x1 / n1 if n1 else math.nan, x2 / n2 if n2 else math.nan, est,
                two_proportion_p_value(x1, n1, x2, n2), n1, n2, better)


# --- funnels --------------------------------------------------------------------------------------

def _funnel_rows(con, funnels, cur: Window, base: Window, filters, level, cache) -> list[dict]:
    rows = []
    for name, steps in funnels.items():
        got = [_cached(cache, ("funnel", name, w), lambda w=w: funnel_table(
            con, steps=list(steps), start_date=w.start, end_date=w.end, filters=filters)) for w in (cur, base)]
        (c, b), labels = ([g["n_entered"].tolist() for g in got], got[0]["label"].tolist())
        pairs = [(k - 1, k) for k in range(1, len(labels))] + ([(0, len(labels) - 1)] if len(labels) > 2 else [])
        for i, k in pairs:
            rows.append(_proportion_row("funnel", f"{name}: {labels[i]} → {labels[k]}", "conversion",
                                        c[k], c[i], b[k], b[i], level))
    return rows


# --- variants -------------------------------------------------------------------------------------

def _variant_counts(con, filters, w: Window, only=None, top: int = 0) -> tuple[pd.DataFrame, int]:
    j = _dated(con, filters, w).journeys()
    total = int(j.count().execute())
    if only is not None:
        j = j.filter(j.variant.isin(list(only)))
    g = j.group_by("variant").aggregate(n=j.count()).order_by([ibis.desc("n"), "variant"])
    return (g.limit(top) if top else g).execute(), total


def _variant_rows(con, top: int, cur: Window, base: Window, filters, level, cache) -> list[dict]:
    (c_top, n1), (b_top, n2) = (_cached(cache, ("variants", w), lambda w=w: _variant_counts(con, filters, w, top=top))
                                for w in (cur, base))
    names = list(dict.fromkeys([*c_top["variant"], *b_top["variant"]]))
    counts = []
    for w, got in ((cur, c_top), (base, b_top)):
        missing = [v for v in names if v not in set(got["variant"])]
        more = _variant_counts(con, filters, w, only=missing)[0] if missing else got.iloc[:0]
        counts.append(dict(zip([*got["variant"], *more["variant"]], [*got["n"], *more["n"]])))
    return [_proportion_row("variant", v, "share", counts[0].get(v, 0), n1, counts[1].get(v, 0), n2, level,
                            better=None) for v in names]


# --- transition times -----------------------------------------------------------------------------

def _top_pairs(con, filters, w: Window, top: int) -> list[tuple[str, str]]:
    st, _ = _dated(con, filters, w).steps()
    st = st.filter(st.next_activity.notnull())
    g = st.group_by(["activity", "next_activity"]).aggregate(n=st.count())
    g = g.order_by([ibis.desc("n"), "activity", "next_activity"]).limit(top).execute()
    return list(zip(g["activity"], g["next_activity"]))


def transition_time_stats(con, pairs, cur: Window, base: Window, *, filters=None, level=0.95) -> pd.DataFrame:
    """Per (activity, next_activity, w) with w = 1 (current) / 0 (baseline): n, median and its
    order-statistic bounds (`med_low`, `med_high`), the sum of mid-ranks over both windows
    (`rank_sum`) and the tie term sum(t^2 - 1) (`ties`): all a Mann-Whitney test needs."""
    z = _z(level)
    parts = []
    for flag, w in ((1, cur), (0, base)):
        st, _ = _dated(con, filters, w).steps()
        cond = ibis.or_(*[(st.activity == a) & (st.next_activity == b) for a, b in pairs])
        st = st.filter(cond & st.seconds_to_next.notnull())
        parts.append(st.select("activity", "next_activity", x=st.seconds_to_next, w=ibis.literal(flag, "int64")))
    u = parts[0].union(parts[1])
    pair, group = ["activity", "next_activity"], ["activity", "next_activity", "w"]
    u = u.mutate(r=ibis.rank().over(ibis.window(group_by=pair, order_by="x")),
                 t=u.x.count().over(ibis.window(group_by=[*pair, "x"])),
                 i=ibis.row_number().over(ibis.window(group_by=group, order_by="x")) + 1,
                 m=u.x.count().over(ibis.window(group_by=group)))
    lo = ibis.greatest(((u.m - z * u.m.sqrt()) / 2).floor(), 1)
    hi = ibis.least((1 + (u.m + z * u.m.sqrt()) / 2).ceil(), u.m)
    g = u.group_by(group).aggregate(n=u.count(), median=u.x.median(), med_low=u.x.max(where=u.i == lo),
                                    med_high=u.x.max(where=u.i == hi), rank_sum=(u.r + 1 + (u.t - 1) / 2).sum(),
                                    ties=(u.t * u.t - 1).sum())
    return g.execute()


def mann_whitney_p(n1: int, n2: int, rank_sum1: float, ties: float) -> float:
    """Two-sided p-value of Mann-Whitney U (normal approximation, tie correction, no continuity
    correction) from group 1's mid-rank sum and sum(t^2 - 1) over every value of both groups."""
    n = n1 + n2
    if n1 == 0 or n2 == 0:
        return math.nan
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    return float(2 * _dist().norm.sf(abs(rank_sum1 - n1 * (n1 + 1) / 2 - n1 * n2 / 2) / math.sqrt(var)))


def _transition_rows(con, pairs, cur, base, filters, level, cache=None) -> list[dict]:
    s = transition_time_stats(con, pairs, cur, base, filters=filters, level=level)
    rows = []
    for (a, b), g in s.groupby(["activity", "next_activity"], sort=False):
        if set(g["w"]) != {0, 1}:
            continue
        c, p = g[g["w"] == 1].iloc[0], g[g["w"] == 0].iloc[0]
        d = c["median"] - p["median"]
        est = (d, d - math.hypot(c["median"] - c["med_low"], p["med_high"] - p["median"]),
               d + math.hypot(c["med_high"] - c["median"], p["median"] - p["med_low"]))
        rows.append(_row("transition", f"{a} → {b}", "median_seconds", c["median"], p["median"], est,
                         mann_whitney_p(c["n"], p["n"], c["rank_sum"], g["ties"].sum()), c["n"], p["n"], "lower"))
    return rows


# --- scores ---------------------------------------------------------------------------------------

def score_stats(con, instrument: str, w: Window, *, filters=None) -> pd.DataFrame:
    """Sufficient statistics (`scores.sufficient_stats`) of the answers given in the window, per
    touchpoint and, summed (they add up), for the instrument as a whole (`touchpoint` '(all)')."""
    each = sufficient_stats(con, instrument=instrument, cols=["touchpoint"], filters=_dated(con, filters, w))
    total = each.drop(columns="touchpoint").sum().to_frame().T.assign(touchpoint="(all)")
    return pd.concat([total, each if len(each) > 1 else each.iloc[:0]], ignore_index=True)


def _score_rows(con, instruments, cur, base, filters, level, cache) -> list[dict]:
    rows = []
    for inst in instruments:
        c, b = (_cached(cache, ("scores", inst, w), lambda w=w: score_stats(con, inst, w, filters=filters))
                for w in (cur, base))
        for _, r in c.merge(b, on="touchpoint", suffixes=("_c", "_b")).iterrows():
            rc, rb = ({k: r[f"{k}_{s}"] for k in ("n", "n_good", "n_bad", "sum_y", "sum_y2")} for s in "cb")
            n1, n2 = int(rc["n"]), int(rb["n"])
            if not n1 or not n2:
                continue
            item = inst if r["touchpoint"] == "(all)" else f"{inst} @ {r['touchpoint']}"
            if inst == "nps":
                est, p = nps_difference((rc["n_good"], rc["n_bad"], n1), (rb["n_good"], rb["n_bad"], n2), level=level)
                rows.append(_row("score", item, "nps", 100 * (rc["n_good"] - rc["n_bad"]) / n1,
                                 100 * (rb["n_good"] - rb["n_bad"]) / n2, est, p, n1, n2))
                continue
            if inst != "review":
                rows.append(_proportion_row("score", item, MEASURES[inst], int(rc["n_good"]), n1,
                                            int(rb["n_good"]), n2, level))
            (m1, v1), (m2, v2) = moments(n1, rc["sum_y"], rc["sum_y2"]), moments(n2, rb["sum_y"], rb["sum_y2"])
            est, p = welch_summary((n1, m1, v1), (n2, m2, v2), level=level)
            rows.append(_row("score", item, "mean_score", m1, m2, est, p, n1, n2,
                             "lower" if DEFAULTS[inst][2] == "lower_is_better" else "higher"))
    return rows


# --- driver effects and theme impact (modules written alongside; used when present) --------------

def _estimate_rows(area, metric, cur: pd.DataFrame, base: pd.DataFrame, key: str, value: str, level,
                   n_col: str = "n_answers", better="higher") -> list[dict]:
    """Rows comparing two tables of independent estimates with `low` / `high` interval columns."""
    z, rows = _z(level), []
    m = cur.merge(base, on=key, suffixes=("_c", "_b"))
    for _, r in m.iterrows():
        d = r[f"{value}_c"] - r[f"{value}_b"]
        se = math.hypot(r["high_c"] - r["low_c"], r["high_b"] - r["low_b"]) / (2 * z)
        if not math.isfinite(se) or not math.isfinite(d):   # e.g. a fact only one answer had
            continue
        p = float(2 * _dist().norm.sf(abs(d) / se)) if se > 0 else math.nan
        n1, n2 = (r.get(f"{n_col}_{s}", 0) for s in "cb")
        rows.append(_row(area, str(r[key]), metric, r[f"{value}_c"], r[f"{value}_b"],
                         (d, d - z * se, d + z * se), p, n1, n2, better))
    return rows


def _driver_rows(con, outcomes, cur, base, filters, level, cache) -> list[dict]:
    from ..voc.drivers import drivers_table   # ImportError: the module is not there (skipped with a note)

    rows = []
    for outcome in outcomes:   # effects only: the bootstrap of relative weights is kept small
        try:
            with warnings.catch_warnings():   # robust errors of a fact one answer had: inf, left out below
                warnings.simplefilter("ignore", RuntimeWarning)
                got = [_cached(cache, ("drivers", outcome, w), lambda w=w: drivers_table(
                    con, outcome=outcome, filters=_dated(con, filters, w), level=level, n_resamples=20)) for w in (cur, base)]
        except WorkbenchError as exc:   # too few answers for a model in a window: say so, go on
            cache.notes[f"driver {outcome}"] = str(exc)
            continue
        rows += _estimate_rows("driver", f"effect on {outcome}", *got, key="driver", value="effect", level=level,
                               better=None)
    return rows


def _theme_rows(con, taxonomy, cur, base, filters, level, cache) -> list[dict]:
    from ..voc.theme_impact import theme_impact_table

    try:
        got = [_cached(cache, ("themes", w), lambda w=w: theme_impact_table(
            con, taxonomy=taxonomy, filters=_dated(con, filters, w), level=level)) for w in (cur, base)]
    except WorkbenchError as exc:   # an unusable taxonomy: say so, compare the rest
        cache.notes["theme"] = str(exc)
        return []
    return _estimate_rows("theme", "impact on nps", *got, key="theme", value="impact", level=level,
                          n_col="n_answers", better=None)
