"""Hand-off gaps: what happens when customers switch channel, device, department or touchpoint.

A *touch* is an event whose `by` column (channel, device, department or touchpoint) is not
NULL; a *switch* is a touch whose value differs from the previous touch of the same journey
(events in (event_ts, seq) order, events with a NULL value skipped). Durations are `epoch()`
differences (milliseconds kept on every backend); medians are exact.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...deprecation import renamed_kwargs
from ...errors import did_you_mean, one_of
from ...scope import TIE_RULE, FilterError, definition, epoch, ordered_window, scope
from ..stats import bootstrap_median_diff, newcombe_interval, two_proportion_p_value, wilson_interval

SWITCH_BY = ("channel", "device", "department", "touchpoint")
RECONTACT_BY = ("touchpoint", "channel", "department", "activity")
DAY_SECONDS = 86_400
_TS = ibis.dtype("timestamp(6)")  # one nullable type for both sides of the union

SWITCH_RULE = ("a switch is a touch (event with a non-NULL value) whose value differs from the previous "
               "touch of the same journey; events with a NULL value are skipped")
GAP_RULE = ("with: journeys whose first switch is from_value -> to_value (so they started in from_value), "
            "compared at the switch (the first touch in to_value); without: journeys whose touches all "
            "have from_value, compared at their second touch (the first point where they could have "
            "switched but stayed); journeys with one touch have no point of comparison")
OUTCOME_RULE = ("reached: the journey has an event with outcome_activity at or after the point of "
                "comparison (same event included), in (event_ts, seq) order")
NEXT_RULE = ("seconds_to_next: from the point of comparison to the journey's next event (any activity, "
             "any value); journeys with no later event are left out of the median")
DIFF_RULE = "rate_with - rate_without, Newcombe hybrid score interval; p_value of the pooled two-proportion z test"
SMALL_RULE = ("an expected count under equal rates (n × pooled rate or n × (1 - pooled rate)) is below 5: "
              "trust the interval, not the p-value")


def _check(value: str, name: str, allowed) -> str:
    if value not in allowed:
        raise FilterError(one_of(name, value, allowed))
    return value


def positioned_events(con, filters=None, *, unit: str = "journey") -> ir.Table:
    """Filtered events with `pos`, their 0-based place in the journey by (event_ts, seq)."""
    ev = scope(con, filters, unit=unit).events()
    return ev.mutate(pos=ibis.row_number().over(ordered_window()))


def touches(ev: ir.Table, by: str) -> ir.Table:
    """Events with a non-NULL `by` column, as `value`, with `prev_value` / `prev_ts` (previous
    touch of the journey) and `touch_pos` (0-based place among the journey's touches)."""
    _check(by, "by", SWITCH_BY)
    t = ev.filter(ev[by].notnull())
    w = ordered_window()
    return t.mutate(value=t[by], prev_value=t[by].lag().over(w),
                    prev_ts=t.event_ts.lag().over(w), touch_pos=ibis.row_number().over(w))


def switches(ev: ir.Table, by: str) -> ir.Table:
    """The switch touches: `from_value`, `to_value`, `seconds` since the previous touch."""
    t = touches(ev, by)
    sw = t.filter(t.prev_value.notnull() & (t.prev_value != t.value))
    return sw.mutate(from_value=sw.prev_value, to_value=sw.value,
                     seconds=epoch(sw.event_ts) - epoch(sw.prev_ts))


@renamed_kwargs(dimension="by")
def switch_matrix_table(con, *, by: str = "channel", filters=None, unit: str = "journey") -> pd.DataFrame:
    """Per (from_value, to_value): switches, distinct journeys and customers, and the median
    seconds between the last touch in from_value and the first touch in to_value."""
    sw = switches(scope(con, filters, unit=unit).events(), by)
    g = sw.group_by(["from_value", "to_value"]).aggregate(
        n_switches=sw.count(), n_journeys=sw.journey_key.nunique(), n_customers=sw.customer_id.nunique(),
        median_seconds=sw.seconds.median())
    df = g.execute().sort_values(["n_switches", "from_value", "to_value"], ascending=[False, True, True],
                                 ignore_index=True)
    return definition(df, analysis="switch matrix", by=by, unit=unit, switch_rule=SWITCH_RULE,
                      duration="seconds from the last touch in from_value to the switch touch",
                      tie_rule=TIE_RULE, filters=scope(con, filters).describe())


def comparison_points(ev: ir.Table, by: str) -> ir.Table:
    """One row per comparable journey: `group` ('with' / 'without'), `from_value`, `to_value`
    (NULL for 'without'), and the point of comparison `point_pos`, `point_ts` (see GAP_RULE)."""
    t = touches(ev, by)
    sw = t.filter(t.prev_value.notnull() & (t.prev_value != t.value))
    sw = sw.mutate(k=ibis.row_number().over(ordered_window()))  # a column first: Spark cannot filter
    sw = sw.filter(sw.k == 0)                                       # on a window expression
    with_ = sw.select("journey_key", group=ibis.literal("with"), from_value=sw.prev_value,
                      to_value=sw.value, point_pos=sw.pos, point_ts=sw.event_ts.cast(_TS))
    kinds = t.group_by("journey_key").aggregate(n_values=t.value.nunique())
    second = t.filter(t.touch_pos == 1).semi_join(kinds.filter(kinds.n_values == 1), "journey_key")
    without = second.select("journey_key", group=ibis.literal("without"), from_value=second.value,
                            to_value=ibis.null("string"), point_pos=second.pos,
                            point_ts=second.event_ts.cast(_TS))
    return with_.union(without)


def _outcomes(ev: ir.Table, by: str, outcome_activity: str) -> ir.Table:
    """Per comparable journey: whether it reached the outcome after its point, and seconds to next."""
    pts = comparison_points(ev, by)
    e = ev.select("journey_key", "activity", e_pos=ev.pos, e_ts=ev.event_ts)
    j = pts.join(e, "journey_key")
    per = j.group_by(["journey_key", "group", "from_value", "to_value", "point_ts"]).aggregate(
        n_reached=j.count(where=(j.activity == outcome_activity) & (j.e_pos >= j.point_pos)),
        next_ts=j.e_ts.min(where=j.e_pos == j.point_pos + 1))
    return per.select("group", "from_value", "to_value", reached=per.n_reached > 0,
                      seconds_to_next=epoch(per.next_ts) - epoch(per.point_ts))


@renamed_kwargs(dimension="by")
def switch_gaps_table(con, *, by: str = "channel", outcome_activity: str, switch=None, filters=None,
                      unit: str = "journey", level: float = 0.95, n_resamples: int = 2000,
                      seed: int = 0) -> pd.DataFrame:
    """Per switch (or the one `switch=(from, to)`): outcome rate and time to the next event for
    journeys with that switch vs journeys that started in the same value and never switched.

    Rates have Wilson intervals; their difference (with - without) a Newcombe interval and a
    pooled z-test p-value; the difference of median seconds to next a seeded bootstrap interval.
    """
    _check(by, "by", SWITCH_BY)
    _check_outcome(con, outcome_activity)
    if switch is not None and (isinstance(switch, str) or len(switch) != 2):
        raise FilterError(f"switch must be a (from, to) pair such as ('app', 'phone'), got {switch!r}.")
    ev = positioned_events(con, filters, unit=unit)
    rows = _outcomes(ev, by, outcome_activity).execute()
    without = rows[rows["group"] == "without"]
    with_ = rows[rows["group"] == "with"]
    pairs = sorted(with_.groupby(["from_value", "to_value"]).groups) if switch is None else [tuple(switch)]
    out = [_compare(with_[(with_["from_value"] == f) & (with_["to_value"] == t)],
                    without[without["from_value"] == f], f, t, level, n_resamples, seed) for f, t in pairs]
    df = pd.DataFrame(out, columns=_GAP_COLUMNS)
    df = df.sort_values(["n_with", "from_value", "to_value"], ascending=[False, True, True], ignore_index=True)
    return definition(df, analysis="switch gaps", by=by, outcome_activity=outcome_activity,
                      unit=unit, level=level, switch_rule=SWITCH_RULE, comparison=GAP_RULE, outcome=OUTCOME_RULE,
                      seconds_to_next=NEXT_RULE, rate_diff=DIFF_RULE, small_sample=SMALL_RULE,
                      median_diff=f"median with - median without, percentile bootstrap ({n_resamples} "
                                  f"resamples, seed {seed})", tie_rule=TIE_RULE, filters=scope(con, filters).describe())


_GAP_COLUMNS = ["from_value", "to_value", "n_with", "n_reached_with", "rate_with", "rate_with_low",
                "rate_with_high", "n_without", "n_reached_without", "rate_without", "rate_without_low",
                "rate_without_high", "rate_diff", "rate_diff_low", "rate_diff_high", "p_value", "n_next_with",
                "median_seconds_to_next_with", "n_next_without", "median_seconds_to_next_without",
                "median_diff_seconds", "median_diff_low_seconds", "median_diff_high_seconds", "small_sample"]


def _compare(w: pd.DataFrame, wo: pd.DataFrame, f, t, level, n_resamples, seed) -> list:
    """One output row: rates, their difference and the time-to-next comparison."""
    xw, nw, xo, no = int(w["reached"].sum()), len(w), int(wo["reached"].sum()), len(wo)
    sw, so = w["seconds_to_next"].dropna().to_numpy(float), wo["seconds_to_next"].dropna().to_numpy(float)
    med = bootstrap_median_diff(sw, so, level=level, n_resamples=n_resamples, seed=seed)
    return [f, t, nw, xw, *wilson_interval(xw, nw, level=level), no, xo, *wilson_interval(xo, no, level=level),
            *newcombe_interval(xw, nw, xo, no, level=level), two_proportion_p_value(xw, nw, xo, no),
            len(sw), _median(sw), len(so), _median(so), *med, _small(xw, nw, xo, no)]


def _small(x1: int, n1: int, x2: int, n2: int) -> bool:
    """True when an expected count under equal rates is below 5: the z test is then unreliable."""
    if n1 == 0 or n2 == 0:
        return True
    pooled = (x1 + x2) / (n1 + n2)
    return min(n1, n2) * min(pooled, 1 - pooled) < 5


def _median(x) -> float:
    return float(pd.Series(x, dtype=float).median()) if len(x) else float("nan")


def _check_outcome(con, outcome_activity: str) -> None:
    ev = con.table("events")
    if ev.filter(ev.activity == outcome_activity).count().execute():
        return
    known = ev.select("activity").distinct().order_by("activity").limit(10_000).execute()["activity"].tolist()
    shown = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
    raise FilterError(f"Unknown outcome_activity '{outcome_activity}': no event has it. Expected an activity "
                      f"such as: {shown}." + did_you_mean(str(outcome_activity), known))


def recontact_table(con, *, touchpoint=None, activity=None, days: float = 7, filters=None,
                    by: str = "touchpoint", level: float = 0.95) -> pd.DataFrame:
    """Share of contacts followed by another contact of the same customer within `days`, per `by`
    value and overall (first row, `(all)`), with Wilson intervals.

    Contacts are the filtered events, narrowed to `touchpoint` / `activity` when given. A contact
    is recontacted when the customer's next contact, in (event_ts, seq) order, comes at most
    `days` × 86,400 seconds later (exactly `days` counts; one second more does not).
    """
    _check(by, "by", RECONTACT_BY)
    if not isinstance(days, (int, float)) or isinstance(days, bool) or days <= 0:
        raise FilterError(f"days must be a positive number of days, got {days!r}.")
    c = _contacts(con, filters, touchpoint, activity, days)
    key = c[by].fill_null("(none)").name("group_value")
    g = c.group_by(key).aggregate(n_contacts=c.count(), n_recontacts=c.count(where=c.recontacted),
                                  n_customers=c.customer_id.nunique(), n_open_window=c.count(where=c.open_window))
    total = c.aggregate(group_value=ibis.literal("(all)"), n_contacts=c.count(),
                        n_recontacts=c.count(where=c.recontacted), n_customers=c.customer_id.nunique(),
                        n_open_window=c.count(where=c.open_window))
    df = g.order_by([ibis.desc("n_contacts"), "group_value"]).execute()
    df = pd.concat([total.execute(), df], ignore_index=True).rename(columns={"group_value": by})
    rates = pd.DataFrame([wilson_interval(x, n, level=level) for x, n in zip(df["n_recontacts"], df["n_contacts"])],
                         columns=["recontact_rate", "recontact_rate_low", "recontact_rate_high"])
    df = pd.concat([df, rates], axis=1)
    return definition(df, analysis="recontact", days=days, by=by, touchpoint=touchpoint, activity=activity,
                      unit="customer", level=level, recontact=f"the customer's next contact comes within {days} "
                      f"days (<= {days} x 86,400 s, same timestamp included)",
                      open_window="contacts not recontacted whose window runs past the latest analysed event: "
                      "their outcome is not known yet", tie_rule=TIE_RULE, filters=scope(con, filters).describe())


def _contacts(con, filters, touchpoint, activity, days: float) -> ir.Table:
    """The contacts with `recontacted` and `open_window` flags."""
    ev = scope(con, filters).events()
    ev = ev.mutate(end_s=epoch(ev.event_ts.max().over(ibis.window())))
    if touchpoint:
        ev = ev.filter(ev.touchpoint.isin(_as_list(touchpoint)))
    if activity:
        ev = ev.filter(ev.activity.isin(_as_list(activity)))
    w = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])
    c = ev.mutate(gap=epoch(ev.event_ts.lead().over(w)) - epoch(ev.event_ts))
    limit = days * DAY_SECONDS
    c = c.mutate(recontacted=(c.gap.notnull() & (c.gap <= limit)).fill_null(False))
    return c.mutate(open_window=~c.recontacted & (c.end_s - epoch(c.event_ts) < limit))


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
