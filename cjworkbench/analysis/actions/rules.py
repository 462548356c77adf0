"""Next-best-action rules: plain dicts (or a YAML file of them), checked and completed."""

from __future__ import annotations

import ibis

from ...errors import one_of
from ...scope import FilterError, scope
from ..attribution.paths import check_activity, default_conversion

TRIGGERS = ("after", "activity", "switch", "score_at_most")
SWITCH_BY = ("channel", "device", "department", "touchpoint")


def default_rule(con, filters=None) -> dict:
    """A rule from the data alone: idling 24 h after the activity that most often comes right before
    the conversion (the most common last activity of journeys), outcome: that conversion in 7 days."""
    outcome = default_conversion(con, filters)
    st, _ = scope(con, filters).steps()
    before = st.filter((st.next_activity == outcome) & (st.activity != outcome))
    top = before.group_by("activity").aggregate(n=before.count()).order_by([ibis.desc("n"), "activity"]).limit(1)
    top = top.execute()
    after = str(top["activity"].iloc[0]) if len(top) else outcome
    return {"name": f"idle 24 h after {after}", "trigger": {"after": after, "idle_hours": 24},
            "outcome": {"activity": outcome, "within_days": 7}}


def load_rules(rules) -> list[dict]:
    """Rules from a dict, a list of dicts, or a YAML file (path) holding `rules:` (a list)."""
    from ...designs.reader import read_yaml

    doc = read_yaml(rules, error=FilterError, what="Next-best-action rules file", example="designed/actions.yml")
    if isinstance(doc, dict) and "rules" in doc:
        doc = doc["rules"]
    doc = [doc] if isinstance(doc, dict) else doc
    if not isinstance(doc, list) or not doc:
        raise FilterError(f"Rules must be a rule dict, a list of them or a YAML file with a 'rules:' list, got {rules!r}.")
    return doc


def check_rule(con, rule: dict) -> dict:
    """The rule with defaults filled in; a FilterError naming the bad part otherwise."""
    if not isinstance(rule, dict) or not isinstance(rule.get("trigger"), dict) or not isinstance(
            rule.get("outcome"), dict):
        raise FilterError(f"A rule is a dict with 'trigger' and 'outcome' dicts (and an optional 'action'), got "
                          f"{rule!r}.")
    trig = dict(rule["trigger"])
    kind = [k for k in TRIGGERS if k in trig]
    if len(kind) != 1:
        raise FilterError(f"A trigger needs exactly one of {', '.join(TRIGGERS)}; got keys {sorted(trig)}."
                          + (" " + one_of("trigger key", sorted(trig)[0], TRIGGERS) if trig and not kind else ""))
    kind = kind[0]
    if kind in ("after", "activity"):
        check_activity(con, trig[kind], f"trigger {kind}")
        for name in trig.get("ignore", ()):
            check_activity(con, name, "trigger ignore")
    if kind == "after":
        trig["idle_hours"] = _positive(trig.get("idle_hours", 24), "idle_hours")
    if kind == "switch" and trig["switch"] not in SWITCH_BY:
        raise FilterError(one_of("switch", trig["switch"], SWITCH_BY))
    if kind == "score_at_most":
        trig["score_at_most"] = float(trig["score_at_most"])
        trig.setdefault("instrument", "nps")
    out = {"activity": check_activity(con, rule["outcome"].get("activity"), "outcome"),
           "within_days": _positive(rule["outcome"].get("within_days", 7), "within_days")}
    action = None
    if rule.get("action"):
        action = {"activity": check_activity(con, rule["action"].get("activity"), "action"),
                  "within_hours": _positive(rule["action"].get("within_hours", 48), "within_hours")}
    return {"name": str(rule.get("name") or f"{kind} {trig[kind]}"), "kind": kind, "trigger": trig,
            "action": action, "outcome": out}


def _positive(value, name) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise FilterError(f"{name} must be a positive number, got {value!r}.")
    return float(value)
