"""Time to event: how long until a customer converts, churns or comes back, with censoring.

One subject per customer (CLOCK_RULE): the clock starts at the customer's first `start` event (or
first scoped event); outcome "event" stops it at the first `event` activity after the start,
outcome "churn" at the customer's last event when no event follows for `churn_days` before the
data's end. Subjects without the outcome are censored at the data's end (the last event in the
database) or, with `censor="last_event"`, at their own last event (data whose follow-up ends per
subject). Groups (`by=`) compare Kaplan-Meier curves (statsmodels `SurvfuncRight`; pointwise
log-log intervals, medians with cloglog intervals) and a Cox proportional-hazards model
(statsmodels `PHReg`, Breslow ties) with a Schoenfeld-residual check of proportional hazards.
"""

from __future__ import annotations

import math

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from ..cache import remember
from ..errors import one_of
from ..scope import TIE_RULE, FilterError, as_filters, definition, epoch, scope
from .attribution.paths import check_activity, default_conversion

DAY = 86_400.0
OUTCOMES = ("event", "churn")
CENSOR = ("data_end", "last_event")
BY = ("segment", "persona", "start_channel", "start_device", "variant", "handoff")  # and "has:<activity>"
TOP_VARIANTS = 8
CLOCK_RULE = ("one subject per customer: the clock starts at the customer's first start event (default: first "
              "scoped event) and stops at the first outcome event after it; customers without it are censored")
BY_RULES = {
    "segment": "the customer's segment", "persona": "the customer's designed persona",
    "start_channel": "channel of the start event", "start_device": "device of the start event",
    "variant": f"the variant of the journey holding the start event (the {TOP_VARIANTS} most common, others "
               "'other')",
    "handoff": "'switch' when the journey holding the start event changes channel, else 'no switch'",
    "has": "whether the customer has such an event at any time (a grouping measured after the start can bias "
           "the comparison: read it as descriptive)",
}


def _check(by, outcome, censor, level, churn_days) -> None:
    if outcome not in OUTCOMES:
        raise FilterError(one_of("outcome", outcome, OUTCOMES))
    if censor not in CENSOR:
        raise FilterError(one_of("censor", censor, CENSOR))
    if by is not None and by not in BY and not (isinstance(by, str) and by.startswith("has:") and len(by) > 4):
        raise FilterError(one_of("by", by, (*BY, "has:<activity>")))
    if not 0 < level < 1:
        raise FilterError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}.")
    if not (isinstance(churn_days, (int, float)) and churn_days > 0):
        raise FilterError(f"churn_days must be a positive number of days, got {churn_days!r}.")


def _first(t: ir.Table) -> ir.Table:
    """Each customer's first row in (event_ts, seq) order: an ordered aggregate and a join on the
    unique seq (half the work of numbering every event in a window)."""
    first = t.group_by("customer_id").aggregate(first_seq=t.seq.argmin(ibis.struct({"t": t.event_ts, "s": t.seq})))
    return t.semi_join(first, t.seq == first.first_seq)


def subjects(con, *, event=None, start=None, outcome="event", by=None, churn_days=90, censor="data_end",
             filters=None) -> pd.DataFrame:
    """One row per customer: customer_id, group, days (to the outcome or censoring), observed (0/1)."""
    sc = scope(con, filters, unit="customer")
    ev = sc.events()
    all_ev = con.table("events")
    data_end = all_ev.aggregate(data_end=all_ev.event_ts.max())
    st = _first(ev.filter(ev.activity == start) if start else ev)
    st = st.select("customer_id", "journey_key", "journey_id", start_ts=st.event_ts, start_seq=st.seq,
                   start_channel=st.channel, start_device=st.device)
    last = ev.group_by("customer_id").aggregate(last_ts=ev.event_ts.max())
    t = st.join(last, "customer_id").cross_join(data_end)
    if outcome == "event":
        hit = ev.filter(ev.activity == event).join(st.select("customer_id", "start_ts", "start_seq"), "customer_id")
        hit = hit.filter((hit.event_ts > hit.start_ts) | ((hit.event_ts == hit.start_ts) & (hit.seq > hit.start_seq)))
        hit = hit.group_by("customer_id").aggregate(stop_ts=hit.event_ts.min())
        t = t.left_join(hit, "customer_id").drop("customer_id_right")
        stop_censored = t.last_ts if censor == "last_event" else t.data_end
        t = t.mutate(observed=t.stop_ts.notnull(), stop=t.stop_ts.fill_null(stop_censored))
    else:
        churned = (epoch(t.data_end) - epoch(t.last_ts)) > float(churn_days) * DAY
        t = t.mutate(observed=churned, stop=ibis.ifelse(churned, t.last_ts, t.data_end))
    t = t.mutate(days=(epoch(t.stop) - epoch(t.start_ts)) / DAY, observed=t.observed.cast("int64"))
    t = _grouped(con, sc, t, by)
    return t.select("customer_id", "group", "days", "observed").execute()


def _subjects(con, **kw) -> pd.DataFrame:
    """`subjects`, kept per connection and arguments (`cjworkbench.cache`): curves, the hazard table and
    another confidence level of the same subjects read them instead of cutting the events again."""
    key = ("survival.subjects", *(repr(as_filters(v)) if k == "filters" else v for k, v in sorted(kw.items())))
    return remember(con, "result", key, lambda: subjects(con, **kw))


def _grouped(con, sc, t: ir.Table, by) -> ir.Table:
    if by is None:
        return t.mutate(group=ibis.literal("all"))
    if by == "segment":
        cust = con.table("customers").select("customer_id", group=ibis._.segment.fill_null("(none)"))
        return t.left_join(cust, "customer_id").drop("customer_id_right").mutate(group=ibis._.group.fill_null("(none)"))
    if by == "persona":
        if not sc.filters.personas:
            raise FilterError("by='persona' needs the personas rules: pass filters={'personas': 'personas.yml'}.")
        from ..designs.personas import persona_of

        who = persona_of(con, sc.filters.personas).select("customer_id", group=ibis._.persona)
        return t.left_join(who, "customer_id").drop("customer_id_right").mutate(group=ibis._.group.fill_null("(none)"))
    if by in ("start_channel", "start_device"):
        return t.mutate(group=t[by].fill_null("(none)"))
    ev = sc.events()
    if by == "variant":
        j = scope(con, sc.filters).journeys().select(jk=ibis._.journey_key, variant=ibis._.variant)
        t = t.mutate(jk=t.journey_id.fill_null(t.customer_id)).left_join(j, "jk")
        top = t.group_by("variant").aggregate(n=t.count()).order_by([ibis.desc("n"), "variant"]).limit(TOP_VARIANTS)
        t = t.left_join(top.select("variant", keep=ibis.literal(True)), "variant").drop("variant_right")
        return t.mutate(group=ibis.ifelse(t.keep.notnull(), t.variant, "other"))
    if by == "handoff":
        jk = ev.journey_id.fill_null(ev.customer_id)
        sw = ev.group_by(jk.name("jk")).aggregate(n_channels=ev.channel.nunique())
        t = t.mutate(jk=t.journey_id.fill_null(t.customer_id)).left_join(sw, "jk")
        return t.mutate(group=ibis.ifelse(t.n_channels.fill_null(0) > 1, "switch", "no switch"))
    activity = by[4:]
    check_activity(con, activity, "by")
    has = ev.filter(ev.activity == activity).select("customer_id").distinct().mutate(has=ibis.literal(True))
    t = t.left_join(has, "customer_id").drop("customer_id_right")
    return t.mutate(group=ibis.ifelse(t.has.notnull(), f"with {activity}", f"without {activity}"))


def _z(level: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(0.5 + level / 2))


def km_curve(days, observed, level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier steps: time_days, estimate, low, high (pointwise log-log), n_at_risk, n_events."""
    from statsmodels.duration.survfunc import SurvfuncRight

    sf = SurvfuncRight(np.asarray(days, float), np.asarray(observed, float))
    s, se, z = sf.surv_prob, sf.surv_prob_se, _z(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = z * se / (s * np.log(s))
        low, high = s ** np.exp(-half), s ** np.exp(half)
    low = np.where((s <= 0) | (s >= 1), np.nan, np.minimum(low, high))
    high = np.where((s <= 0) | (s >= 1), np.nan, np.maximum(s ** np.exp(-half), s ** np.exp(half)))
    start = pd.DataFrame({"time_days": [0.0], "estimate": [1.0], "low": [1.0], "high": [1.0],
                          "n_at_risk": [len(days)], "n_events": [0]})
    steps = pd.DataFrame({"time_days": sf.surv_times, "estimate": s, "low": low, "high": high,
                          "n_at_risk": sf.n_risk.astype(int), "n_events": sf.n_events.astype(int)})
    return pd.concat([start, steps], ignore_index=True)


def km_median(days, observed, level: float = 0.95) -> tuple[float, float, float]:
    """(median, low, high) in days: statsmodels' quantile and its cloglog interval (NaN: not reached)."""
    from statsmodels.duration.survfunc import SurvfuncRight

    sf = SurvfuncRight(np.asarray(days, float), np.asarray(observed, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        med = sf.quantile(0.5)
        low, high = sf.quantile_ci(0.5, alpha=1 - level, method="cloglog")
    return tuple(float(x) if x is not None and not (isinstance(x, float) and math.isnan(x)) else math.nan
                 for x in (med, low, high))


def _resolve(con, event, start, outcome, filters) -> tuple[str | None, str | None]:
    if start:
        check_activity(con, start, "start")
    if outcome == "churn":
        return None, start
    return (check_activity(con, event) if event else default_conversion(con, filters)), start


def _definition(df, con, *, event, start, outcome, by, churn_days, censor, level, filters, **more):
    stop = (f"first {event} after the start" if outcome == "event"
            else f"the last event, when none follows for {churn_days} days before the data's end")
    return definition(df, analysis="time to event", outcome=outcome, event=event, start=start or "(first event)",
                      stop=stop, by=by, by_rule=BY_RULES.get("has" if by and by.startswith("has:") else by),
                      unit="customer", unit_rule=CLOCK_RULE,
                      censoring=("at the data's end (the last event in the database)" if censor == "data_end"
                                 else "at the customer's own last event"),
                      churn_days=churn_days if outcome == "churn" else None, level=level, **more,
                      tie_rule=TIE_RULE, filters=scope(con, filters).describe())


def survival_table(con, *, event: str | None = None, start: str | None = None, outcome: str = "event",
                   by: str | None = None, churn_days: float = 90, censor: str = "data_end", filters=None,
                   level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier curves per `by` group: group, time_days, estimate (share without the outcome yet),
    low, high, n_at_risk, n_events, n_customers, median_days (+ low/high) of the group.

    `event` defaults to the most common last activity of the scoped journeys (outcome "event")."""
    _check(by, outcome, censor, level, churn_days)
    event, start = _resolve(con, event, start, outcome, filters)
    subj = _subjects(con, event=event, start=start, outcome=outcome, by=by, churn_days=churn_days, censor=censor,
                     filters=filters)
    parts = []
    for group, g in subj.groupby("group", sort=True):
        curve = km_curve(g["days"], g["observed"], level)
        med = km_median(g["days"], g["observed"], level)
        parts.append(curve.assign(group=str(group), n_customers=len(g), median_days=med[0],
                                  median_low=med[1], median_high=med[2]))
    cols = ["group", "time_days", "estimate", "low", "high", "n_at_risk", "n_events", "n_customers",
            "median_days", "median_low", "median_high"]
    df = pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)
    return _definition(df, con, event=event, start=start, outcome=outcome, by=by, churn_days=churn_days,
                       censor=censor, level=level, filters=filters,
                       curve="Kaplan-Meier (statsmodels SurvfuncRight); pointwise log-log intervals; medians "
                             "with cloglog intervals (NaN: not reached)")


def hazard_table(con, *, event: str | None = None, start: str | None = None, outcome: str = "event",
                 by: str = "segment", churn_days: float = 90, censor: str = "data_end", filters=None,
                 level: float = 0.95) -> pd.DataFrame:
    """Per `by` group: n_customers, n_events, median days with interval, and the Cox hazard ratio
    against the largest group (estimate, low, high, p_value) with the proportional-hazards check
    (ph_p_value: Schoenfeld residuals against the rank of event times; small = hazards not proportional)."""
    _check(by, outcome, censor, level, churn_days)
    event, start = _resolve(con, event, start, outcome, filters)
    subj = _subjects(con, event=event, start=start, outcome=outcome, by=by, churn_days=churn_days, censor=censor,
                     filters=filters)
    df = cox_by_group(subj, level)
    return _definition(df, con, event=event, start=start, outcome=outcome, by=by, churn_days=churn_days,
                       censor=censor, level=level, filters=filters, reference=df.attrs.get("reference"),
                       model="Cox proportional hazards (statsmodels PHReg, Breslow ties; durations rounded to whole "
                             "days, or hours when the median is under a day), one indicator per group "
                             "against the reference (largest) group; ph_p_value: Pearson correlation of the "
                             "Schoenfeld residuals with the rank of the event times")


def cox_by_group(subj: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """The hazard table's rows from subjects (customer_id, group, days, observed)."""
    from statsmodels.duration.hazard_regression import PHReg

    sizes = subj.groupby("group").size().sort_values(ascending=False, kind="stable")
    cols = ["group", "n_customers", "n_events", "median_days", "median_low", "median_high", "estimate", "low",
            "high", "p_value", "ph_p_value"]
    rows = {g: [g, int(n), int(subj.loc[subj.group == g, "observed"].sum()),
                *km_median(subj.loc[subj.group == g, "days"], subj.loc[subj.group == g, "observed"], level),
                1.0, math.nan, math.nan, math.nan, math.nan] for g, n in sizes.items()}
    others = [g for g in sizes.index[1:] if rows[g][2] > 0]
    if len(sizes) > 1 and others and subj["observed"].sum() > len(others):
        x = pd.DataFrame({g: (subj["group"] == g).astype(float) for g in others})
        days = cox_time(subj["days"].to_numpy(float))
        res = PHReg(days, x.to_numpy(), status=subj["observed"].to_numpy(float), ties="breslow").fit()
        ci = res.conf_int(alpha=1 - level)
        ph = schoenfeld_test(res, days, subj["observed"].to_numpy(float))
        for k, g in enumerate(others):
            rows[g][6:] = [math.exp(res.params[k]), math.exp(ci[k, 0]), math.exp(ci[k, 1]), float(res.pvalues[k]),
                           ph[k]]
    df = pd.DataFrame(list(rows.values()), columns=cols)
    df.attrs["reference"] = str(sizes.index[0]) if len(sizes) else None
    return df


def cox_time(days: np.ndarray) -> np.ndarray:
    """Durations for the Cox model, rounded to whole days (to hours when the median is under a day):
    statsmodels' PHReg works once per distinct event time, so second-exact times cost minutes."""
    unit = 1.0 if len(days) and np.median(days) >= 1 else 1 / 24
    return np.round(days / unit) * unit


def schoenfeld_test(res, days: np.ndarray, observed: np.ndarray) -> list[float]:
    """Per covariate: p-value of the Pearson correlation between its Schoenfeld residuals and the rank
    of the event times (Grambsch-Therneau style check; NaN when it cannot be computed)."""
    from scipy import stats

    r = np.asarray(res.schoenfeld_residuals)
    ev = (observed == 1) & np.all(np.isfinite(r), axis=1)
    t = stats.rankdata(days[ev])
    out = []
    for k in range(r.shape[1]):
        x = r[ev, k]
        out.append(float(stats.pearsonr(t, x).pvalue) if ev.sum() > 2 and np.std(x) > 0 else math.nan)
    return out
