"""What changed: a period against a baseline period, as one ranked list of changes with intervals.

The period is the calendar week / month / quarter / year containing `as_of`, up to and including
`as_of`; a baseline is the same stretch of the previous period, of the period six months earlier,
or of the period a year earlier (cut to that period's end). Each area compares its own unit:
funnel step conversion (two proportions, Newcombe interval), variant shares (two proportions),
transition times (difference of medians: order-statistic intervals combined by MOVER, p-value
of the Mann-Whitney test, both computed in the engine), scores (NPS with its multinomial
variance, mean scores with Welch), and, when their modules are present, driver effects and theme
impact (difference of two independent estimates). Significance is decided after a
Benjamini-Hochberg correction over all rows of the table, since a report tests many things at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import warnings

import ibis
import pandas as pd

from ...errors import WorkbenchError, one_of
from ...scope import FilterError, _date, as_filters, definition
from .change_text import RATES, change_text, changes_summary  # noqa: F401  (public here too)
from ..journeys.funnels import funnel_table
from ...scope import journeys
from ...periods import BASELINES, PERIODS, Window, period_window  # noqa: F401  (public here too)
from ...scope import steps as journey_steps
from ..voc.scores import DEFAULTS, INSTRUMENTS, MEASURES, moments, nps_difference, sufficient_stats, welch_summary
from ..stats import _dist, _z, newcombe_interval, two_proportion_p_value

DEFAULT_FUNNELS = {"checkout": ("checkout_start", "checkout_payment", "checkout_confirmed")}
COLUMNS = ["rank", "area", "item", "metric", "baseline", "current", "previous", "change", "low", "high",
           "p_value", "q_value", "significant", "n_current", "n_previous", "better"]
RULES = {
    "funnel": "conversion of journeys entering a step (first step's event in the window) to the next "
              "step; Newcombe interval, pooled two-proportion z test",
    "variant": "share of journeys starting in the window that follow the variant; Newcombe interval, "
               "pooled two-proportion z test; top variants of either window",
    "transition": "median seconds from an activity to the next one, journeys starting in the window; "
                  "interval: each median's order-statistic interval combined by MOVER; p-value: "
                  "Mann-Whitney U (normal approximation, tie-corrected)",
    "score": "answers given in the window; NPS: multinomial variance (p + d - (p - d)^2) / n, z test; "
             "mean scores: Welch t interval and test",
    "driver": "change of a driver's effect on the outcome (drivers_table, one model per window): difference "
              "of two independent estimates, standard errors from their intervals, z test",
    "theme": "change of a theme's impact on NPS (theme_impact_table per window): difference of two "
             "independent estimates, standard errors from their intervals, z test",
    "significance": "Benjamini-Hochberg q-value over every row of the table <= 1 - level",
    "rank": "significant rows first, then by p-value, then by |change| relative to its interval",
}


def _dated(filters, w: Window):
    return dataclasses.replace(as_filters(filters), start_date=w.start, end_date=w.end)


def _cached(cache: dict, key, make):
    """`make()` once per key: the current window's results serve every baseline."""
    if key not in cache:
        cache[key] = make()
    return cache[key]


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
    j = journeys(con, _dated(filters, w))
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
    st, _ = journey_steps(con, _dated(filters, w))
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
        st, _ = journey_steps(con, _dated(filters, w))
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
    each = sufficient_stats(con, instrument=instrument, cols=["touchpoint"], filters=_dated(filters, w))
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
                   n_col: str = "n", better="higher") -> list[dict]:
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
                    con, outcome=outcome, filters=_dated(filters, w), level=level, n_boot=20)) for w in (cur, base)]
        except WorkbenchError as exc:   # too few answers for a model in a window: say so, go on
            cache.setdefault("notes", {})[f"driver {outcome}"] = str(exc)
            continue
        rows += _estimate_rows("driver", f"effect on {outcome}", *got, key="driver", value="effect", level=level,
                               better=None)
    return rows


def _theme_rows(con, taxonomy, cur, base, filters, level, cache) -> list[dict]:
    from ..voc.theme_impact import theme_impact_table

    try:
        got = [_cached(cache, ("themes", w), lambda w=w: theme_impact_table(
            con, taxonomy=taxonomy, filters=_dated(filters, w), level=level)) for w in (cur, base)]
    except WorkbenchError as exc:   # an unusable taxonomy: say so, compare the rest
        cache.setdefault("notes", {})["theme"] = str(exc)
        return []
    return _estimate_rows("theme", "impact on nps", *got, key="theme", value="impact", level=level,
                          n_col="n_responses", better=None)


# --- the table ------------------------------------------------------------------------------------

AREAS = ("funnel", "variant", "transition", "score", "driver", "theme")
DRIVER_OUTCOMES = ("nps", "csat", "ces")


def _data_end(con) -> dt.date:
    ev = con.table("events")
    last = ev.event_ts.max().execute()
    if last is None or pd.isna(last):
        raise FilterError("The events table is empty: nothing can have changed.")
    return pd.Timestamp(last).date()


def _check_window(con, cur: Window) -> None:
    ev = con.table("events")
    inside = ev.filter((ev.event_ts >= ibis.timestamp(cur.start))
                       & (ev.event_ts < ibis.timestamp(cur.end + dt.timedelta(days=1)))).count().execute()
    if not inside:
        lo, hi = ev.aggregate(lo=ev.event_ts.min(), hi=ev.event_ts.max()).execute().iloc[0]
        raise FilterError(f"No events between {cur.start} and {cur.end} (period {cur.label}); the data covers "
                          f"{pd.Timestamp(lo).date()} .. {pd.Timestamp(hi).date()}. Choose an as_of in that range.")


def _benjamini_hochberg(p: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN p-values stay NaN and are not counted."""
    ok = p.dropna().sort_values()
    m = len(ok)
    q = (ok * m / pd.Series(range(1, m + 1), index=ok.index)).iloc[::-1].cummin().iloc[::-1].clip(upper=1.0)
    return q.reindex(p.index)


def _rank(df: pd.DataFrame, level: float) -> pd.DataFrame:
    df["q_value"] = _benjamini_hochberg(df["p_value"])
    df["significant"] = (df["q_value"] <= 1 - level).fillna(False).astype(bool)
    width = (df["high"] - df["low"]).where(lambda s: s > 0)
    df = df.assign(_size=(df["change"].abs() / width).fillna(0.0))
    df = df.sort_values(["significant", "p_value", "_size", "area", "item"], ascending=[False, True, False, True, True],
                        na_position="last", ignore_index=True).drop(columns="_size")
    df.insert(0, "rank", range(1, len(df) + 1))
    return df


def changes_table(con, *, period: str = "month", as_of=None, baseline="previous", funnels=None,
                  variants_top: int = 5, transitions=None, transitions_top: int = 8, instruments=None,
                  drivers=("csat", "ces"), themes=None, areas=AREAS, filters=None, level: float = 0.95,
                  min_n: int = 30) -> pd.DataFrame:
    """Ranked changes of the period containing `as_of` (default: `filters.end_date`, else the last day
    with events) against each `baseline` ('previous', 'six_months', 'year', a list or 'a, b').
    The period sets the dates: a `start_date` in `filters` is ignored.

    `funnels`: {name: steps} (default: the checkout funnel, skipped when its activities are absent);
    `transitions`: (activity, next_activity) pairs (default: the `transitions_top` busiest);
    `instruments`: scores to compare (default: every one with answers); `drivers`: outcomes for
    `drivers_table`; `themes`: a taxonomy for `theme_impact_table`; `areas`: a subset of AREAS.
    Rows with fewer than `min_n` units on either side are left out (counted in the definition).
    The last result is kept for its connection and arguments: a notebook's chart and table views
    ask for the same table, and the second gets a copy instead of a second run.
    """
    key = repr(sorted((k, v) for k, v in locals().items() if k != "con"))
    if _LAST and _LAST[0] is con and _LAST[1] == key:
        return _LAST[2].copy()
    df = _changes(con, period=period, as_of=as_of, baseline=baseline, funnels=funnels, variants_top=variants_top,
                  transitions=transitions, transitions_top=transitions_top, instruments=instruments,
                  drivers=drivers, themes=themes, areas=areas, filters=filters, level=level, min_n=min_n)
    _LAST[:] = [con, key, df]
    return df.copy()


_LAST: list = []   # [connection, arguments, result] of the latest changes_table call


def _changes(con, *, period, as_of, baseline, funnels, variants_top, transitions, transitions_top, instruments,
             drivers, themes, areas, filters, level, min_n) -> pd.DataFrame:
    f = as_filters(filters)
    as_of = as_of if as_of not in (None, "") else f.end_date   # a dashboard's "To" date is the as_of
    f = dataclasses.replace(f, start_date=None, end_date=None)   # the period sets the dates
    for area in areas:
        if area not in AREAS:
            raise FilterError(one_of("area", area, AREAS))
    for outcome in drivers or ():   # effects on a score scale; odds ratios (detractor) do not subtract
        if outcome not in DRIVER_OUTCOMES:
            raise FilterError(one_of("driver outcome", outcome, DRIVER_OUTCOMES))
    as_of = _date(as_of, "as_of") if as_of not in (None, "") else _data_end(con)
    baselines = [b.strip() for b in baseline.split(",")] if isinstance(baseline, str) else list(baseline)
    cur = period_window(period, as_of)
    windows = [period_window(period, as_of, b) for b in baselines]
    _check_window(con, cur)
    skipped = {}
    if funnels is None:   # the default funnel only where its activities exist
        present = set(con.table("events").select("activity").distinct().execute()["activity"])
        funnels = {k: v for k, v in DEFAULT_FUNNELS.items() if set(v) <= present}
        skipped |= {f"funnel {k}": "its activities are not in the data" for k in DEFAULT_FUNNELS if k not in funnels}
    if instruments is None:
        fb = con.table("feedback")
        found = set(fb.filter(fb.score.notnull()).select("instrument").distinct().execute()["instrument"])
        instruments = [i for i in INSTRUMENTS if i in found]
    pairs = [tuple(p) for p in transitions] if transitions else None
    if "transition" in areas and not pairs:
        pairs = _top_pairs(con, f, cur, transitions_top)
    runs = {"funnel": (_funnel_rows, funnels), "variant": (_variant_rows, variants_top),
            "transition": (_transition_rows, pairs), "score": (_score_rows, instruments),
            "driver": (_driver_rows, drivers), "theme": (_theme_rows, themes)}
    cache, rows = {}, []
    for base in windows:
        for area in areas:
            run, arg = runs[area]
            if not arg:
                skipped.setdefault(area, "no theme taxonomy given" if area == "theme" else "nothing to compare")
                continue
            try:
                rows += [r | {"baseline": base.name} for r in run(con, arg, cur, base, f, level, cache)]
            except ImportError as exc:   # drivers / theme impact live in modules that may be absent
                skipped[area] = f"its analysis module is not available ({exc})"
    skipped |= cache.get("notes", {})
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("rank", "q_value", "significant")])
    small = (df["n_current"] < min_n) | (df["n_previous"] < min_n)
    df = _rank(df[~small].reset_index(drop=True), level)[COLUMNS]
    return definition(
        df, analysis="what changed", period=period, as_of=str(as_of),
        current={"label": cur.label, "start_date": str(cur.start), "end_date": str(cur.end)},
        baselines={w.name: {"label": w.label, "start_date": str(w.start), "end_date": str(w.end)} for w in windows},
        window_rule="the period containing as_of, from its first day up to as_of (inclusive, UTC dates); a "
                    "baseline is its whole period when as_of ends the current one, else the same number of "
                    "days from its period's start, cut at that period's end",
        rules={a: RULES[a] for a in (*areas, "significance", "rank")}, level=level, min_n=min_n,
        n_left_out_small=int(small.sum()), skipped=skipped or None, filters=f.describe())
