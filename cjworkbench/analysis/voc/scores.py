"""Survey scores with confidence: NPS, CSAT top-box, CES with its direction, review stars.

One answer is one feedback row with a score. Sufficient statistics (counts in the boxes, sum and
sum of squares of the scores) are aggregated per group in the engine; intervals and tests are
computed from them in Python, so only one row per group leaves the database.

- NPS (0-10): 100 × (promoters 9-10 − detractors 0-6) / n. Interval: Wald on the mean of the
  answers coded +1 / 0 / −1, whose variance is the multinomial p + d − (p − d)² (no bootstrap: the
  closed form is exact to compute, works from counts, and covers 95 % at n = 200 in the tests;
  below min_n the group is flagged `small`).
- CSAT: the share of the best box (5 on 1-5; the scale's end in its stated direction), Wilson.
- CES: the share of the two lowest-effort boxes (≤ 2 on 1-7 when lower_is_better), Wilson.
- review: the mean of the stars, t interval.
Every instrument also gets the mean score with a t interval (CES: the mean effort in its own
direction, see `direction`). Groups with n < min_n are flagged `small`, never dropped.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...errors import ScoresError, WorkbenchError, one_of  # noqa: F401  (re-exported)
from ...periods import PERIODS, check_period, period_start  # noqa: F401  (PERIODS re-exported)
from ...privacy import K_DEFAULT, SMALL_GROUP_RULE, suppress_small
from ...scope import FEEDBACK_RULE, definition, scope
from ..checks import empty_scope, known_values
from ...designs.personas import persona_of
from ..stats import NAN, newcombe_interval, two_proportion_p_value, wilson_interval
from .score_stats import holm, mean_interval, moments, nps_difference, nps_interval, welch_summary  # noqa: F401

INSTRUMENTS = ("nps", "csat", "ces", "review")
BY = ("touchpoint", "channel", "source", "instrument", "segment", "persona", "period")
DEFAULTS = {"nps": (0.0, 10.0, "higher_is_better"), "csat": (1.0, 5.0, "higher_is_better"),
            "ces": (1.0, 7.0, "lower_is_better"), "review": (1.0, 5.0, "higher_is_better")}
MEASURES = {"nps": "nps", "csat": "top_box_rate", "ces": "low_effort_rate", "review": "mean"}
RULES = {
    "nps": "nps = 100 × (promoters 9-10 − detractors 0-6) / n on the 0-10 scale; interval: Wald on the "
           "answers coded +1/0/−1, variance p + d − (p − d)² (multinomial)",
    "csat": "top_box_rate = share of answers in the best box (scale end in the stated direction, e.g. 5 on "
            "1-5), Wilson interval; top2_box_rate: the two best boxes",
    "ces": "low_effort_rate = share of answers in the two lowest-effort boxes (e.g. ≤ 2 on 1-7 when "
           "lower_is_better, ≥ 6 when higher_is_better), Wilson interval; mean effort with a t interval",
    "review": "mean stars with a t interval; top2_box_rate: share of the two best boxes (4-5 on 1-5)",
}
FEEDBACK_FILTERS = FEEDBACK_RULE
NONE = "(none)"


def group_columns(by, period: str | None) -> tuple[list[str], str | None]:
    """The checked `by` list and period unit ("period" in `by` alone means month)."""
    cols = [] if by is None else [by] if isinstance(by, str) else list(by)
    for c in cols:
        if c not in BY:
            raise ScoresError(one_of("by", c, BY))
    if period is not None:
        check_period(period, ScoresError)
        cols += [] if "period" in cols else ["period"]
    elif "period" in cols:
        period = "month"
    return cols, period


def with_groups(con, fb: ir.Table, cols: list[str], *, personas=None, period: str | None = None) -> ir.Table:
    """`fb` with one string/date column per group dimension; missing values become '(none)'."""
    if "segment" in cols:
        cust = con.table("customers").select("customer_id", seg=ibis._.segment)
        fb = fb.left_join(cust, fb.customer_id == cust.customer_id).select(fb, "seg")
        fb = fb.mutate(segment=fb.seg.fill_null(NONE)).drop("seg")
    if "persona" in cols:
        if personas is None:
            raise ScoresError("by='persona' needs personas=: a personas YAML path or mapping "
                              "(see cjworkbench/demo/personas.yml).")
        per = persona_of(con, personas).rename(per_customer="customer_id", pers="persona")
        fb = fb.left_join(per, fb.customer_id == per.per_customer).select(fb, "pers")
        fb = fb.mutate(persona=fb.pers.fill_null(NONE)).drop("pers")
    if "period" in cols:
        fb = fb.mutate(period=period_start(fb.feedback_date, period))   # business periods
    fills = {c: fb[c].fill_null(NONE) for c in cols if c in ("touchpoint", "channel", "source", "instrument")}
    return fb.mutate(**fills) if fills else fb


def _boxes(fb: ir.Table, instrument: str) -> dict:
    """Row-wise flags: good (promoter / top box / low effort), bad (detractor), top2."""
    lo, hi, way = DEFAULTS[instrument]
    smin, smax = fb.scale_min.fill_null(lo), fb.scale_max.fill_null(hi)
    lower = fb.direction.fill_null(way) == "lower_is_better"
    y = fb.score
    top = ibis.cases((lower, y <= smin), else_=y >= smax)
    top2 = ibis.cases((lower, y <= smin + 1), else_=y >= smax - 1)
    if instrument == "nps":
        return {"good": y >= 9, "bad": y <= 6, "top2": top2}
    return {"good": top2 if instrument == "ces" else top, "bad": ibis.literal(False), "top2": top2}


def sufficient_stats(con, *, instrument: str, cols: list[str], filters=None, personas=None,
                     period=None) -> pd.DataFrame:
    """Per group: n, n_good, n_bad, n_top2, sum_y, sum_y2 of the instrument's scored answers."""
    if instrument not in INSTRUMENTS:
        raise ScoresError(one_of("instrument", instrument, INSTRUMENTS)
                          + " (complaint / social texts: use sentiment_table).")
    fb = scope(con, filters).feedback(instrument, scored=True)
    _check_scales(fb, instrument)
    fb = with_groups(con, fb, cols, personas=personas, period=period)
    box = _boxes(fb, instrument)
    y = fb.score.cast("float64")
    aggs = dict(n=fb.count(), n_customers=fb.customer_id.nunique(), n_good=fb.count(where=box["good"]), n_bad=fb.count(where=box["bad"]),
                n_top2=fb.count(where=box["top2"]), sum_y=y.sum(), sum_y2=(y * y).sum())
    expr = fb.group_by(cols).aggregate(**aggs) if cols else fb.aggregate(**aggs)
    df = expr.execute()
    df = df.sort_values(cols, ignore_index=True) if cols and len(df) else df
    for c in ("n", "n_customers", "n_good", "n_bad", "n_top2"):
        df[c] = df[c].fillna(0).astype("int64")
    return df


def _check_present(con, instrument: str) -> None:
    """An instrument the database has no answers of is an error naming those it has."""
    if instrument in INSTRUMENTS and instrument not in (present := known_values(con, "feedback", "instrument")):
        raise ScoresError(f"No {instrument} answers in this database; it has: {', '.join(present) or 'none'}.")


def _check_scales(fb: ir.Table, instrument: str) -> None:
    lo, hi, way = DEFAULTS[instrument]
    s = fb.select(smin=fb.scale_min.fill_null(lo), smax=fb.scale_max.fill_null(hi),
                  way=fb.direction.fill_null(way)).distinct().execute()
    if len(s) > 1:
        found = "; ".join(f"{a:g}-{b:g} {w}" for a, b, w in s.itertuples(index=False))
        raise ScoresError(f"The {instrument} answers use {len(s)} scales ({found}); their means cannot be "
                          f"combined. Filter one source, e.g. filters={{'source': 'my_survey'}}.")
    if instrument == "nps" and len(s) and (s.smin.iloc[0], s.smax.iloc[0]) != (0.0, 10.0):
        raise ScoresError(f"NPS needs the 0-10 scale, got {s.smin.iloc[0]:g}-{s.smax.iloc[0]:g}. Map the "
                          "likelihood-to-recommend question with scale: [0, 10] in the ingest config.")


def headline(instrument: str, s, *, level: float) -> dict:
    """The score columns of one group from its sufficient statistics `s` (a row)."""
    n = int(s.n)
    mean, var = moments(n, float(s.sum_y or 0), float(s.sum_y2 or 0))
    m = mean_interval(n, mean, var, level=level)
    out = {"n_answers": n}
    if instrument == "nps":
        h = nps_interval(int(s.n_good), int(s.n_bad), n, level=level)
    elif instrument == "review":
        h = m
    else:
        h = wilson_interval(int(s.n_good), n, level=level)
    out |= {"estimate": h.estimate, "low": h.low, "high": h.high, "mean": m.estimate, "mean_low": m.low,
            "mean_high": m.high}
    if instrument == "nps":
        out |= {"promoter_rate": s.n_good / n if n else NAN, "passive_rate": (n - s.n_good - s.n_bad) / n if n
                else NAN, "detractor_rate": s.n_bad / n if n else NAN}
    elif instrument == "csat":
        out["top_box_rate"] = h.estimate
    if instrument != "nps":
        t2 = wilson_interval(int(s.n_top2), n, level=level)
        out |= {"top2_box_rate": t2.estimate, "top2_low": t2.low, "top2_high": t2.high}
    return out


def scores_table(con, *, instrument: str, by=None, period: str | None = None, filters=None,
                 personas=None, level: float = 0.95, min_n: int = 30, k_min: int = K_DEFAULT) -> pd.DataFrame:
    """The instrument's headline score per group (`by`: touchpoint, channel, source, segment, persona,
    period; `period`: day / week / month / quarter / year of the business date feedback_date), with intervals; `small` flags
    groups with n_answers < min_n; groups of fewer than `k_min` customers are suppressed
    (`privacy.SMALL_GROUP_RULE`). `measure` names what `estimate` is (see RULES)."""
    _check_present(con, instrument)
    cols, period = group_columns(by, period)
    stats = sufficient_stats(con, instrument=instrument, cols=cols, filters=filters, personas=personas,
                             period=period)
    rows = [{**{c: getattr(s, c) for c in cols}, "instrument": instrument, "measure": MEASURES[instrument],
             **headline(instrument, s, level=level)} for s in stats.itertuples(index=False)]
    df = pd.DataFrame(rows, columns=[*cols, "instrument", "measure", "n_answers", "estimate", "low", "high", "mean",
                                     "mean_low", "mean_high"] if not rows else None)
    df["small"] = df["n_answers"] < min_n
    if not int(df["n_answers"].sum()):
        raise empty_scope(con, filters, f"{instrument} answers", answers=True)
    df = suppress_small(df.assign(n_customers=stats["n_customers"].to_numpy()), k=k_min, count="n_customers", blank=False)
    return definition(df, analysis="scores", instrument=instrument, measure=MEASURES[instrument],
                      k_min=k_min, small_groups=SMALL_GROUP_RULE,
                      rule=RULES[instrument], by=cols or None, period=period, level=level, min_n=min_n,
                      mean="mean score with a Student t interval", filters=scope(con, filters).describe(),
                      filter_rules=FEEDBACK_FILTERS)


COMPARE_RULE = {"nps": "difference of NPS points, Wald interval, z test with the unpooled multinomial variances",
                "csat": "difference of top-box rates, Newcombe hybrid score interval, pooled two-proportion z test",
                "ces": "difference of low-effort rates, Newcombe hybrid score interval, pooled two-proportion z test",
                "review": "difference of mean stars, Welch t interval and test"}


def scores_compare_table(con, *, instrument: str, by, baseline=None, period: str | None = None, filters=None,
                         personas=None, level: float = 0.95, min_n: int = 30, k_min: int = K_DEFAULT) -> pd.DataFrame:
    """Each group of `by` against a reference: the rest of the answers (`baseline=None`), one group
    (`baseline="Premium"`, a tuple for several `by` columns) or the previous period of the same
    other groups (`baseline="previous"`). Gives `difference` (estimate − estimate_ref) with its
    interval (`difference_low`, `difference_high`) and p-value (COMPARE_RULE), Holm-adjusted
    `p_holm`, and the same for the mean score (Welch)."""
    _check_present(con, instrument)
    cols, period = group_columns(by, period)
    if not cols:
        raise ScoresError("scores_compare_table needs by=, e.g. by='touchpoint' or by='period'.")
    stats = sufficient_stats(con, instrument=instrument, cols=cols, filters=filters, personas=personas,
                             period=period)
    rows = [_compare_row(instrument, cols, s, ref, label, level) for s, ref, label in
            _references(stats, cols, baseline)]
    df = pd.DataFrame(rows, columns=None if rows else [*cols, "instrument", "measure", "reference", "n_answers",
                                                        "n_answers_ref", "difference", "difference_low",
                                                        "difference_high", "p_value"])
    df["p_holm"] = holm(df["p_value"].to_numpy(float))
    df["significant"] = df["p_value"] < 1 - level
    df["small"] = (df["n_answers"] < min_n) | (df["n_answers_ref"] < min_n)
    if len(df):   # the group's customers, and the reference's answers where there is a reference
        ref = df["n_answers_ref"].where(df["reference"].notna())
        df = suppress_small(df.assign(n_reference=ref), k=k_min, count=["n_customers", "n_reference"], blank=False)
    return definition(df, analysis="scores compared", k_min=k_min, small_groups=SMALL_GROUP_RULE + " (the "
                      "reference: fewer than k_min answers)", instrument=instrument, measure=MEASURES[instrument],
                      rule=RULES[instrument], test=COMPARE_RULE[instrument], reference=_ref_rule(baseline),
                      mean_test="difference of mean scores, Welch t interval and test", by=cols, period=period,
                      level=level, min_n=min_n, p_holm="Holm step-down adjustment over the rows of this table",
                      filters=scope(con, filters).describe(), filter_rules=FEEDBACK_FILTERS)


def _ref_rule(baseline) -> str:
    if baseline is None:
        return "rest: every other answer of the instrument after the filters"
    if baseline == "previous":
        return "previous: the preceding period present in the data, same other group values"
    return f"baseline group {baseline!r}"


def _references(stats: pd.DataFrame, cols: list[str], baseline):
    """(row, reference sufficient statistics or None, reference label) for each compared group."""
    num = ["n", "n_good", "n_bad", "n_top2", "sum_y", "sum_y2"]
    rows = list(stats.itertuples(index=False))
    if baseline is None:
        total = stats[num].sum()
        return [(s, pd.Series({k: total[k] - getattr(s, k) for k in num}), "rest") for s in rows]
    if baseline == "previous":
        if "period" not in cols:
            raise ScoresError("baseline='previous' compares periods: add period='month' (or week / quarter / year).")
        others = [c for c in cols if c != "period"]
        out, last = [], {}
        for s in sorted(rows, key=lambda r: (*(str(getattr(r, c)) for c in others), r.period)):
            key = tuple(getattr(s, c) for c in others)
            prev = last.get(key)
            out.append((s, None if prev is None else pd.Series({k: getattr(prev, k) for k in num}),
                        None if prev is None else _label(prev.period)))
            last[key] = s
        return out
    want = tuple(_label(v) for v in (baseline if isinstance(baseline, (tuple, list)) else (baseline,)))
    labels = {tuple(_label(getattr(s, c)) for c in cols): s for s in rows}
    if len(want) != len(cols) or want not in labels:
        raise ScoresError(one_of("baseline", want[0] if len(want) == 1 else want,
                                 [k[0] if len(k) == 1 else k for k in labels]))
    ref = labels[want]
    return [(s, pd.Series({k: getattr(ref, k) for k in num}), ", ".join(want)) for s in rows if s is not ref]


def _label(value) -> str:
    """A group value as text: dates (periods) as YYYY-MM-DD."""
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _compare_row(instrument: str, cols: list[str], s, ref, label, level: float) -> dict:
    me = headline(instrument, s, level=level)
    out = {**{c: getattr(s, c) for c in cols}, "instrument": instrument, "measure": MEASURES[instrument],
           "reference": label, "n_answers": me["n_answers"], "n_customers": int(s.n_customers),
           "estimate": me["estimate"]}
    if ref is None:
        return out | {"n_answers_ref": 0, "estimate_ref": NAN, "difference": NAN, "difference_low": NAN,
                      "difference_high": NAN, "p_value": NAN, "mean": me["mean"], "mean_ref": NAN,
                      "mean_difference": NAN, "mean_difference_low": NAN, "mean_difference_high": NAN,
                      "mean_p_value": NAN}
    other = headline(instrument, ref, level=level)
    a, b = (int(s.n), *moments(int(s.n), float(s.sum_y), float(s.sum_y2))), \
        (int(ref.n), *moments(int(ref.n), float(ref.sum_y), float(ref.sum_y2)))
    mdiff, mp = welch_summary(a, b, level=level)
    if instrument == "nps":
        diff, p = nps_difference((int(s.n_good), int(s.n_bad), int(s.n)),
                                 (int(ref.n_good), int(ref.n_bad), int(ref.n)), level=level)
    elif instrument == "review":
        diff, p = mdiff, mp
    else:
        diff = newcombe_interval(int(s.n_good), int(s.n), int(ref.n_good), int(ref.n), level=level)
        p = two_proportion_p_value(int(s.n_good), int(s.n), int(ref.n_good), int(ref.n))
    return out | {"n_answers_ref": other["n_answers"], "estimate_ref": other["estimate"],
                  "difference": diff.estimate, "difference_low": diff.low, "difference_high": diff.high,
                  "p_value": p, "mean": me["mean"], "mean_ref": other["mean"], "mean_difference": mdiff.estimate,
                  "mean_difference_low": mdiff.low, "mean_difference_high": mdiff.high, "mean_p_value": mp}
