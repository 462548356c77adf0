"""Back-testing next-best-action rules: replay a rule over history and compare outcomes.

A rule is a plain dict (the config will hold a list of them):

    {"name": "cart left idle",
     "trigger": {"after": "view_cart", "idle_hours": 24},            # or {"activity": X},
                                                                      # {"switch": "channel"},
                                                                      # {"score_at_most": 6, "instrument": "nps"}
     "action": {"activity": "email_sent", "within_hours": 48},       # optional
     "outcome": {"activity": "checkout_confirmed", "within_days": 7}}

TRIGGER_RULE says when each trigger fires. Every trigger has *anchors*, the moments where it could
fire (an `after` event, a touch, an answer, an `activity` event) and the *moment* it is judged at
(the anchor, or the anchor + idle_hours). Outcomes count in (moment, moment + within_days]; anchors
whose window runs past the data's end, or that reached the outcome before the moment, are left out.

Two comparisons, both observational (nothing was randomised by the workbench):
- "triggered vs not": triggered anchors against anchors of the same kind that did not trigger,
  at the same moment (dwell and score triggers; an event trigger has no such comparison);
- "action vs none": triggered anchors followed by the action within within_hours against triggered
  anchors without it: what doing the action was worth in the past.
Comparable groups are matched (`method="match"`: exact strata on the `match` keys, the
difference averaged over the exposed group's strata) or weighted (`method="ipw"`: a logistic model
of exposure on pre-trigger features, odds weights for the unexposed). Intervals: percentile
bootstrap over customers (a customer's anchors move together), fixed seed.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from ...cache import remember
from ...designs.store import design, has_design
from ...errors import one_of
from ...scope import TIE_RULE, FilterError, as_filters, definition, scope
from .compare import compare
from .replay import anchors, replay
from .rules import TRIGGERS, check_rule, default_rule, load_rules

__all__ = ["actions_table", "anchors", "check_rule", "compare", "default_rule", "load_rules", "replay", "TRIGGERS"]

METHODS = ("match", "ipw")
MATCH = ("segment", "week", "channel")
CAVEAT = ("observational: triggered and comparable customers were not assigned at random, so a difference can "
          "come from who they are rather than from the trigger or the action; matching or weighting removes only "
          "the differences in the features used")
TRIGGER_RULE = ("after X + idle_hours: an X event followed by no event of the customer (other than `ignore` "
                "activities) for idle_hours, judged at X + idle_hours (anchors: every X event); activity X: each X "
                "event; switch: a touch whose value differs from the customer's previous touch (anchors: every "
                "touch after the first); score_at_most: an answer of `instrument` scoring at most the value "
                "(anchors: every answer)")
COLUMNS = ["rule", "comparison", "n_exposed", "n_exposed_reached", "rate_exposed", "n_control", "n_control_reached",
           "rate_control", "estimate", "low", "high", "p_value", "n_triggers", "n_customers", "n_journeys",
           "triggers_per_customer", "max_per_customer", "first_trigger_date", "last_trigger_date"]


def designed_rules(con):
    """The rules of the database's first `actions` design (`designs: actions:`)."""
    return design(con, "actions")


def _replayed(con, rule: dict, filters) -> pd.DataFrame:
    """`replay`, kept per connection and (rule, filters) (`cjworkbench.cache`, kind "result"): the
    matched and the weighted comparison, and every resample count, read the same replay."""
    key = ("actions.replay", json.dumps(rule, sort_keys=True, default=str), repr(as_filters(filters)))
    return remember(con, "result", key, lambda: replay(con, rule, filters))


def _trigger_stats(df: pd.DataFrame) -> list:
    t = df[df["triggered"]]
    per = t.groupby("customer_id").size()
    dates = pd.to_datetime(t["moment_ts"])
    return [len(t), int(per.size), int(t["journey_key"].nunique()), float(per.mean()) if len(per) else math.nan,
            int(per.max()) if len(per) else 0, dates.min().date() if len(t) else None,
            dates.max().date() if len(t) else None]


def actions_table(con, *, rules=None, method: str = "match", match=("segment", "week"), filters=None,
                  n_resamples: int = 200, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Back-test of next-best-action `rules` (a rule dict, a list, or a YAML file with a `rules:` list;
    default: the database's `designs: actions:`, else `default_rule`): per rule,
    how often and when it would have triggered, and the outcome of triggered moments against
    comparable ones ("triggered vs not") and, when the rule names an action, of triggered moments
    followed by the action against those without ("action vs none"). estimate = exposed rate -
    comparable rate (matched or weighted), low / high: customer bootstrap; p_value: normal
    approximation from the bootstrap standard error. Observational: see CAVEAT."""
    if method not in METHODS:
        raise FilterError(one_of("method", method, METHODS))
    match = (match,) if isinstance(match, str) else tuple(match or ())
    for m in match:
        if m not in MATCH:
            raise FilterError(one_of("match key", m, MATCH))
    if not isinstance(n_resamples, int) or isinstance(n_resamples, bool) or n_resamples < 0:
        raise FilterError(f"n_resamples must be a whole number >= 0 (0: no intervals), got {n_resamples!r}.")
    if not 0 < level < 1:
        raise FilterError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}.")
    rules = load_rules(rules if rules is not None else designed_rules(con)) if rules is not None or \
        has_design(con, "actions") else [default_rule(con, filters)]
    checked = [check_rule(con, r) for r in rules]
    rows = []
    for rule in checked:
        every = _replayed(con, rule, filters)
        stats = _trigger_stats(every)
        df = every[every["eligible"]].reset_index(drop=True)
        kw = dict(method=method, match=match, n_resamples=n_resamples, level=level, seed=seed)
        if rule["kind"] != "activity":
            rows.append([rule["name"], "triggered vs not", *compare(df, df["triggered"].to_numpy(bool), **kw), *stats])
        if rule["action"]:
            t = df[df["triggered"]].reset_index(drop=True)
            rows.append([rule["name"], "action vs none", *compare(t, t["acted"].to_numpy(bool), **kw), *stats])
    out = pd.DataFrame(rows, columns=COLUMNS)
    return definition(out, analysis="next-best-action back-test", unit="trigger moment",
                      rules={r["name"]: {k: r[k] for k in ("trigger", "action", "outcome") if r[k]} for r in checked},
                      trigger_rule=TRIGGER_RULE,
                      outcome_rule="reached: the outcome activity in (moment, moment + within_days]; moments whose "
                                   "window passes the data's end or that reached the outcome between the anchor "
                                   "and the moment are left out",
                      comparison=("match: exact strata on " + ", ".join(match) + " (week: of the anchor's business date), the "
                                  "difference averaged over the exposed moments' strata" if method == "match" else
                                  "ipw: logistic model of exposure on segment, channel, log(1 + prior events) "
                                  "and months since the first moment; odds weights p/(1-p) for the comparable "
                                  "moments (effect on the exposed)"),
                      method=method, level=level,
                      intervals=f"percentile bootstrap over customers ({n_resamples} resamples, seed {seed})",
                      caveat=CAVEAT, tie_rule=TIE_RULE, filters=scope(con, filters).describe())
