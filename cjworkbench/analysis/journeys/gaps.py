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
from ...designs.defaults import default_funnel
from ...designs.store import design, design_names
from ...errors import one_of
from ...scope import TIE_RULE, FilterError, definition, epoch, ordered_window, scope
from ..checks import check_known, empty_scope
from ..stats import bootstrap_median_diff, newcombe_interval, two_proportion_p_value, wilson_interval

SWITCH_BY = ("channel", "device", "department", "touchpoint")
RECONTACT_BY = ("touchpoint", "channel", "department", "activity")
DAY_SECONDS = 86_400

SWITCH_RULE = ("a switch is a touch (event with a non-NULL value) whose value differs from the previous "
               "touch of the same journey; events with a NULL value are skipped")
GAP_RULE = ("every unit is compared from the same moment, its anchor: the first anchor event (the first step of "
            "the way to the goal); from_value is the unit's value at the anchor (its latest touch at or before "
            "it). with: the unit's first switch after the anchor, before or at its first outcome event, is "
            "from_value -> to_value; without: the unit did not switch between the anchor and its outcome (or its "
            "end). Units that never reach the anchor, or have no value at it, are left out and counted "
            "(attrs['excluded'])")
OUTCOME_RULE = ("reached: the unit has an outcome_activity event at or after its anchor, in (event_ts, seq) "
                "order")
TIME_RULE = ("seconds_to_outcome: from the anchor event to the first outcome event at or after it, for units "
             "that reached it")
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


def exposures(ev: ir.Table, by: str, outcome_activity: str, anchor: list[str] | None) -> ir.Table:
    """One row per unit with a value at its anchor (GAP_RULE): `from_value`, `to_value` (NULL when it
    did not switch before its outcome), `reached`, `seconds_to_outcome`. `anchor` None: the first touch."""
    t = touches(ev, by)
    first = ev.filter(ev.activity.isin(anchor)) if anchor else t
    a = first.group_by("journey_key").aggregate(a_pos=first.pos.min(), a_ts=first.event_ts.min())
    ta = t.join(a, "journey_key")
    at = ta.group_by("journey_key").aggregate(v_pos=ta.pos.max(where=ta.pos <= ta.a_pos))
    at = at.filter(at.v_pos.notnull())
    at = at.join(t.select("journey_key", v_pos=t.pos, from_value=t.value), ["journey_key", "v_pos"])
    at = at.join(a, "journey_key").select("journey_key", "from_value", "a_pos", "a_ts")
    goal = ev.filter(ev.activity == outcome_activity).join(a, "journey_key")
    goal = goal.group_by("journey_key").aggregate(
        g_pos=goal.pos.min(where=goal.pos >= goal.a_pos), g_ts=goal.event_ts.min(where=goal.pos >= goal.a_pos))
    u = at.left_join(goal, "journey_key").select("journey_key", "from_value", "a_pos", "a_ts", "g_pos", "g_ts")
    sw = t.filter(t.prev_value.notnull() & (t.prev_value != t.value)).join(u, "journey_key")
    sw = sw.filter((sw.pos > sw.a_pos) & (sw.g_pos.isnull() | (sw.pos <= sw.g_pos)))
    first_sw = sw.group_by("journey_key").aggregate(s_pos=sw.pos.min())
    first_sw = first_sw.join(t.select("journey_key", s_pos=t.pos, to_value=t.value), ["journey_key", "s_pos"])
    out = u.left_join(first_sw, "journey_key")
    return out.select("from_value", "to_value", reached=out.g_pos.notnull(),
                      seconds_to_outcome=epoch(out.g_ts) - epoch(out.a_ts))


def goal_anchor(con, outcome_activity: str) -> tuple[list[str] | None, str]:
    """The default anchor: the first step of the database's first designed funnel that has the outcome
    as a later step (else of `default_funnel`, the most common path, if it does); else None (the
    unit's first touch). Returns (anchor, where it came from, in words)."""
    funnels = [(n, design(con, "funnels", n).get("steps") or []) for n in design_names(con, "funnels")]
    if not funnels:
        try:
            funnels = [default_funnel(con)[:2]]
        except LookupError:   # DesignMissingError: no events
            funnels = []
    for name, steps in funnels:
        acts = [s if isinstance(s, str) else (s or {}).get("activity") for s in steps]
        if acts and isinstance(acts[0], str) and outcome_activity in acts[1:]:
            return [acts[0]], f"the first step of the funnel '{name}' ({' -> '.join(map(str, acts))})"
    return None, (f"no funnel leads to {outcome_activity}: compared from the unit's first touch; pass "
                  "anchor= the step where the way to the goal starts (or add it as a funnel under "
                  "`designs: funnels:`)")


def _anchor(con, anchor, outcome_activity: str) -> tuple[list[str] | None, str]:
    """`anchor` as a list of activities, checked against the data, with where it came from."""
    if anchor is None:
        return goal_anchor(con, outcome_activity)
    names = [anchor] if isinstance(anchor, str) else list(anchor)
    check_known(con, "anchor", names, column="activity")
    return names, "given"


@renamed_kwargs(dimension="by")
def switch_gaps_table(con, *, by: str = "channel", outcome_activity: str, switch=None, anchor=None, filters=None,
                      unit: str = "journey", level: float = 0.95, n_resamples: int = 2000,
                      seed: int = 0) -> pd.DataFrame:
    """Per switch (or the one `switch=(from, to)`): the outcome rate of units that made that switch
    after their anchor vs units in the same value that did not switch, both from the anchor
    (GAP_RULE). `anchor`: the activity (or activities) where the way to the goal starts, the moment
    from which a switch can happen; default: the first step of the funnel to the goal (`goal_anchor`).

    Rates have Wilson intervals; their difference (with - without) a Newcombe interval and a
    pooled z-test p-value; the difference of median seconds to the outcome a seeded bootstrap interval.
    """
    _check(by, "by", SWITCH_BY)
    check_known(con, "outcome_activity", outcome_activity, column="activity")
    if switch is not None and (isinstance(switch, str) or len(switch) != 2):
        raise FilterError(f"switch must be a (from, to) pair such as ('app', 'phone'), got {switch!r}.")
    anchors, source = _anchor(con, anchor, outcome_activity)
    ev = positioned_events(con, filters, unit=unit)
    rows = exposures(ev, by, outcome_activity, anchors).execute()
    excluded = _excluded(ev, by, anchors, len(rows))
    without = rows[rows["to_value"].isna()]
    with_ = rows[rows["to_value"].notna()]
    pairs = sorted(with_.groupby(["from_value", "to_value"]).groups) if switch is None else [tuple(switch)]
    out = [_compare(with_[(with_["from_value"] == f) & (with_["to_value"] == t)],
                    without[without["from_value"] == f], f, t, level, n_resamples, seed) for f, t in pairs]
    df = pd.DataFrame(out, columns=_GAP_COLUMNS)
    df = df.sort_values(["n_with", "from_value", "to_value"], ascending=[False, True, True], ignore_index=True)
    df.attrs["excluded"] = excluded
    where = ", ".join(anchors) if anchors else "the unit's first touch"
    plain = (f"{unit}s that reached {where}, from that moment: those that then switched {by} before reaching "
             f"{outcome_activity} vs those that stayed in the {by} they had there")
    return definition(df, analysis="switch gaps", by=by, outcome_activity=outcome_activity, anchor=where,
                      anchor_source=source, unit=unit, level=level, switch_rule=SWITCH_RULE, comparison=plain,
                      comparison_rule=GAP_RULE,
                      excluded=_excluded_text(excluded, anchors, by, unit), outcome=OUTCOME_RULE,
                      seconds_to_outcome=TIME_RULE, rate_diff=DIFF_RULE, small_sample=SMALL_RULE,
                      median_diff=f"median with - median without, percentile bootstrap ({n_resamples} "
                                  f"resamples, seed {seed})", tie_rule=TIE_RULE, filters=scope(con, filters).describe())


def _excluded(ev: ir.Table, by: str, anchors, n_compared: int) -> dict:
    """Units in scope left out of every comparison: never at the anchor, or no value at it."""
    n_units = int(ev.journey_key.nunique().execute())
    if anchors:
        n_anchor = int(ev.filter(ev.activity.isin(anchors)).journey_key.nunique().execute())
    else:
        n_anchor = int(ev.filter(ev[by].notnull()).journey_key.nunique().execute())
    return {"n_units": n_units, "n_no_anchor": n_units - n_anchor, "n_no_value_at_anchor": n_anchor - n_compared}


def _excluded_text(ex: dict, anchors, by: str, unit: str) -> str:
    if not anchors:
        return f"{ex['n_no_anchor']:,} of {ex['n_units']:,} {unit}s have no {by} (no touch): left out"
    return (f"{ex['n_no_anchor']:,} of {ex['n_units']:,} {unit}s never reach {', '.join(anchors)} and "
            f"{ex['n_no_value_at_anchor']:,} have no {by} at or before it: left out")


_GAP_COLUMNS = ["from_value", "to_value", "n_with", "n_reached_with", "rate_with", "rate_with_low",
                "rate_with_high", "n_without", "n_reached_without", "rate_without", "rate_without_low",
                "rate_without_high", "rate_diff", "rate_diff_low", "rate_diff_high", "p_value",
                "median_seconds_to_outcome_with", "median_seconds_to_outcome_without",
                "median_diff_seconds", "median_diff_low_seconds", "median_diff_high_seconds", "small_sample"]


def _compare(w: pd.DataFrame, wo: pd.DataFrame, f, t, level, n_resamples, seed) -> list:
    """One output row: rates, their difference and the time-to-outcome comparison."""
    xw, nw, xo, no = int(w["reached"].sum()), len(w), int(wo["reached"].sum()), len(wo)
    sw = w["seconds_to_outcome"].dropna().to_numpy(float)
    so = wo["seconds_to_outcome"].dropna().to_numpy(float)
    med = bootstrap_median_diff(sw, so, level=level, n_resamples=n_resamples, seed=seed)
    return [f, t, nw, xw, *wilson_interval(xw, nw, level=level), no, xo, *wilson_interval(xo, no, level=level),
            *newcombe_interval(xw, nw, xo, no, level=level), two_proportion_p_value(xw, nw, xo, no),
            _median(sw), _median(so), *med, _small(xw, nw, xo, no)]


def _small(x1: int, n1: int, x2: int, n2: int) -> bool:
    """True when an expected count under equal rates is below 5: the z test is then unreliable."""
    if n1 == 0 or n2 == 0:
        return True
    pooled = (x1 + x2) / (n1 + n2)
    return min(n1, n2) * min(pooled, 1 - pooled) < 5


def _median(x) -> float:
    return float(pd.Series(x, dtype=float).median()) if len(x) else float("nan")


def recontact_table(con, *, touchpoint=None, activity=None, days: float = 7, filters=None,
                    by: str = "touchpoint", level: float = 0.95) -> pd.DataFrame:
    """Share of contacts followed by another contact of the same customer within `days`, per `by`
    value and overall (first row, `(all)`), with Wilson intervals.

    Contacts (CONTACT_RULE): the filtered events with a touchpoint or channel, or those of
    `touchpoint` / `activity` when given; a log without any (a process log) is refused, never
    read as "every event is a contact". A contact is recontacted when the customer's next contact,
    in (event_ts, seq) order, comes at most `days` × 86,400 seconds later (exactly `days` counts).
    """
    _check(by, "by", RECONTACT_BY)
    if not isinstance(days, (int, float)) or isinstance(days, bool) or days <= 0:
        raise FilterError(f"days must be a positive number of days, got {days!r}.")
    check_known(con, "touchpoint", touchpoint)
    check_known(con, "activity", activity)
    c = _contacts(con, filters, touchpoint, activity, days)
    if not touchpoint and not activity and not int(c.count().execute()):
        ev = scope(con, filters).events()
        if not int(ev.count().execute()):
            raise empty_scope(con, filters, "events")
        raise FilterError("No contacts: none of these events has a touchpoint or channel (a process log?), so none "
                          "is a customer contact and a recontact rate would mean nothing. Pass touchpoint= or "
                          "activity= naming the events that are contacts.")
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
                      unit="customer", level=level, contact=CONTACT_RULE, recontact=f"the customer's next contact comes within {days} "
                      f"days (<= {days} x 86,400 s, same timestamp included)",
                      open_window="contacts not recontacted whose window runs past the latest analysed event: "
                      "their outcome is not known yet", tie_rule=TIE_RULE, filters=scope(con, filters).describe())


CONTACT_RULE = ("a contact is a filtered event with a touchpoint or channel (where the customer reached us), or "
                "one of `touchpoint` / `activity` when given; events with neither are not contacts")


def _contacts(con, filters, touchpoint, activity, days: float) -> ir.Table:
    """The contacts with `recontacted` and `open_window` flags."""
    ev = scope(con, filters).events()
    ev = ev.mutate(end_s=epoch(ev.event_ts.max().over(ibis.window())))
    if touchpoint:
        ev = ev.filter(ev.touchpoint.isin(_as_list(touchpoint)))
    if activity:
        ev = ev.filter(ev.activity.isin(_as_list(activity)))
    if not touchpoint and not activity:   # CONTACT_RULE: where the customer reached us
        ev = ev.filter(ev.touchpoint.notnull() | ev.channel.notnull())
    w = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])
    c = ev.mutate(gap=epoch(ev.event_ts.lead().over(w)) - epoch(ev.event_ts))
    limit = days * DAY_SECONDS
    c = c.mutate(recontacted=(c.gap.notnull() & (c.gap <= limit)).fill_null(False))
    return c.mutate(open_window=~c.recontacted & (c.end_s - epoch(c.event_ts) < limit))


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
