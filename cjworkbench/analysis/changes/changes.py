"""What changed: a period against a baseline period, as one ranked list of changes with intervals.

The period is the calendar day / week / month / quarter / year containing `as_of`, up to and including
`as_of`; a baseline is the same stretch of the previous period, of the period six months earlier,
or of the period a year earlier (cut to that period's end). Each area compares its own unit:
funnel step conversion (two proportions, Newcombe interval), variant shares (two proportions),
transition times (difference of medians: order-statistic intervals combined by MOVER, p-value
of the Mann-Whitney test, both computed in the engine), scores (NPS with its multinomial
variance, mean scores with Welch), and, when their modules are present, driver effects and theme
impact (difference of two independent estimates; the rows per area: `areas.py`). Significance is decided after a
Benjamini-Hochberg correction over all rows of the table, since a report tests many things at once.
"""

from __future__ import annotations

from types import SimpleNamespace

import datetime as dt

import pandas as pd

from ...deprecation import renamed_kwargs
from ...errors import one_of
from ...scope import FilterError, _date, definition, in_date_range, scope
from ...periods import BASELINES, PERIODS, Window, period_window  # noqa: F401  (public here too)
from ..voc.scores import INSTRUMENTS
from .areas import (_driver_rows, _funnel_rows, _score_rows, _theme_rows, _top_pairs, _transition_rows,  # noqa: F401
                    _variant_rows, mann_whitney_p, score_stats, transition_time_stats)

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


# --- the table ------------------------------------------------------------------------------------

AREAS = ("funnel", "variant", "transition", "score", "driver", "theme")
DRIVER_OUTCOMES = ("nps", "csat", "ces")


def _data_end(con) -> dt.date:
    ev = con.table("events")
    last = ev.event_date.max().execute()   # the last business date
    if last is None or pd.isna(last):
        raise FilterError("The events table is empty: nothing can have changed.")
    return pd.Timestamp(last).date()


def _check_window(con, cur: Window) -> None:
    ev = con.table("events")
    inside = ev.filter(in_date_range(ev.event_date, cur.start, cur.end)).count().execute()
    if not inside:
        lo, hi = ev.aggregate(lo=ev.event_date.min(), hi=ev.event_date.max()).execute().iloc[0]
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


@renamed_kwargs(themes="taxonomy")
def changes_table(con, *, period: str = "month", as_of=None, baseline="previous", funnels=None,
                  variants_top: int = 5, transitions=None, transitions_top: int = 8, instruments=None,
                  drivers=("csat", "ces"), taxonomy=None, areas=AREAS, filters=None, level: float = 0.95,
                  min_n: int = 30) -> pd.DataFrame:
    """Ranked changes of the period containing `as_of` (default: `filters.end_date`, else the last day
    with events) against each `baseline` ('previous', 'six_months', 'year', a list or 'a, b').
    The period sets the dates: a `start_date` in `filters` is ignored.

    `funnels`: {name: steps} (default: the checkout funnel, skipped when its activities are absent);
    `transitions`: (activity, next_activity) pairs (default: the `transitions_top` busiest);
    `instruments`: scores to compare (default: every one with answers); `drivers`: outcomes for
    `drivers_table`; `taxonomy`: themes for `theme_impact_table`; `areas`: a subset of AREAS.
    Rows with fewer than `min_n` units on either side are left out (counted in the definition).
    The last result is kept for its connection and arguments: a notebook's chart and table views
    ask for the same table, and the second gets a copy instead of a second run.
    """
    key = repr(sorted((k, v) for k, v in locals().items() if k != "con"))
    if _LAST and _LAST[0] is con and _LAST[1] == key:
        return _LAST[2].copy()
    df = _changes(con, period=period, as_of=as_of, baseline=baseline, funnels=funnels, variants_top=variants_top,
                  transitions=transitions, transitions_top=transitions_top, instruments=instruments,
                  drivers=drivers, taxonomy=taxonomy, areas=areas, filters=filters, level=level, min_n=min_n)
    _LAST[:] = [con, key, df]
    return df.copy()


_LAST: list = []   # [connection, arguments, result] of the latest changes_table call


def _changes(con, *, period, as_of, baseline, funnels, variants_top, transitions, transitions_top, instruments,
             drivers, taxonomy, areas, filters, level, min_n) -> pd.DataFrame:
    sc = scope(con, filters)
    as_of = as_of if as_of not in (None, "") else sc.dates[1]   # a dashboard's "To" date is the as_of
    sc = sc.with_dates(None, None)   # the period sets the dates (each window's Scope: `_dated`)
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
        pairs = _top_pairs(con, sc, cur, transitions_top)
    runs = {"funnel": (_funnel_rows, funnels), "variant": (_variant_rows, variants_top),
            "transition": (_transition_rows, pairs), "score": (_score_rows, instruments),
            "driver": (_driver_rows, drivers), "theme": (_theme_rows, taxonomy)}
    cache, rows = SimpleNamespace(notes={}), []   # one run's memo (`cjworkbench.cache`) and its notes
    for base in windows:
        for area in areas:
            run, arg = runs[area]
            if not arg:
                skipped.setdefault(area, "no theme taxonomy given" if area == "theme" else "nothing to compare")
                continue
            try:
                rows += [r | {"baseline": base.name} for r in run(con, arg, cur, base, sc, level, cache)]
            except ImportError as exc:   # drivers / theme impact live in modules that may be absent
                skipped[area] = f"its analysis module is not available ({exc})"
    skipped |= cache.notes
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("rank", "q_value", "significant")])
    small = (df["n_current"] < min_n) | (df["n_previous"] < min_n)
    df = _rank(df[~small].reset_index(drop=True), level)[COLUMNS]
    return definition(
        df, analysis="what changed", period=period, as_of=str(as_of),
        current={"label": cur.label, "start_date": str(cur.start), "end_date": str(cur.end)},
        baselines={w.name: {"label": w.label, "start_date": str(w.start), "end_date": str(w.end)} for w in windows},
        window_rule="the period containing as_of, from its first day up to as_of (inclusive, business dates); a "
                    "baseline is its whole period when as_of ends the current one, else the same number of "
                    "days from its period's start, cut at that period's end",
        rules={a: RULES[a] for a in (*areas, "significance", "rank")}, level=level, min_n=min_n,
        n_left_out_small=int(small.sum()), skipped=skipped or None, filters=sc.describe())
