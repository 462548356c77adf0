"""Journey facts per feedback answer: what happened before the customer answered.

The inputs of the driver model (`drivers.py`), one row per answer. Two sources of facts:
- the lookback window, `lookback_days` before feedback_ts (answer time included): steps,
  touchpoints used, the latest delivery and, for answers not about a case, the contact cases
  opened in the window;
- the answer's own contact case when its journey_id is one (CSAT / CES surveys): repeat contact,
  channel switch, transfers, waiting and handling time of that case.
Case facts follow data/README.md (E3, E4): a case is a journey with an opened step; it is a
*repeat* when the customer's previous case (by opened step) ended (its last step) at most
`repeat_days` before this case was opened, or had not ended yet; it *switches channel* when its
steps use more than one channel. All durations are epoch-second differences (portable).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...scope import FEEDBACK_RULE, definition, epoch, scope
from .voc_journey import DAY_SECONDS, answers, check_instrument


@dataclass(frozen=True)
class FactRules:
    """Activity and attribute names the facts read (defaults: the demo's ingest config)."""

    case_opened: str = "case_opened"
    transfer: str = "case_transferred"
    delivered: str = "order_delivered"
    wait_attribute: str = "wait_s"
    handle_attribute: str = "handle_s"
    days_late_attribute: str = "days_late"
    late_days: float = 3
    repeat_days: float = 7


FLAGS = ("repeat_contact", "channel_switch", "transfer", "has_delivery", "late_delivery")
NUMERIC = ("wait_minutes", "handle_minutes", "days_late", "n_steps", "n_touchpoints")


def touchpoint_column(touchpoint: str) -> str:
    """'contact centre' -> 'used_contact_centre'."""
    return "used_" + (re.sub(r"[^0-9a-z]+", "_", str(touchpoint).lower()).strip("_") or "x")


def _num(ev: ir.Table, attribute: str) -> ir.FloatingValue:
    return ev.attributes[str(attribute)].try_cast("float64")


def case_facts(ev: ir.Table, rules: FactRules) -> ir.Table:
    """One row per contact case (customer_id, case_key): opened_ts, repeat, switched, n_transfers,
    wait_seconds, handle_seconds."""
    g = ev.group_by(["customer_id", "journey_key"]).aggregate(
        opened_ts=ev.event_ts.min(where=ev.activity == rules.case_opened), last_ts=ev.event_ts.max(),
        n_channels=ev.channel.nunique(), n_transfers=ev.count(where=ev.activity == rules.transfer),
        wait_seconds=_num(ev, rules.wait_attribute).sum(), handle_seconds=_num(ev, rules.handle_attribute).sum())
    c = g.filter(g.opened_ts.notnull())
    prev_last = c.last_ts.lag().over(ibis.window(group_by="customer_id", order_by=["opened_ts", "journey_key"]))
    c = c.mutate(prev_last=prev_last)
    repeat = c.prev_last.notnull() & (epoch(c.opened_ts) - epoch(c.prev_last) <= rules.repeat_days * DAY_SECONDS)
    return c.select("customer_id", "opened_ts", case_key=c.journey_key, repeat=repeat.fill_null(False).cast("int64"),
                    switched=(c.n_channels > 1).cast("int64"), n_transfers=c.n_transfers,
                    wait_seconds=c.wait_seconds, handle_seconds=c.handle_seconds)   # no attribute: NULL, not 0


def _own_case(fb: ir.Table, cases: ir.Table) -> ir.Table:
    j = fb.join(cases, [fb.customer_id == cases.customer_id, fb.journey_id == cases.case_key])
    return j.select("fseq", o_repeat=j.repeat, o_switch=j.switched, o_transfer=(j.n_transfers > 0).cast("int64"),
                    o_wait=j.wait_seconds, o_handle=j.handle_seconds)


def _window_cases(fb: ir.Table, cases: ir.Table, lookback_s: float) -> ir.Table:
    j = fb.join(cases, fb.customer_id == cases.customer_id)
    age = epoch(j.fts) - epoch(j.opened_ts)
    j = j.filter((age >= 0) & (age <= lookback_s))
    return j.group_by("fseq").aggregate(w_repeat=j.repeat.max(), w_switch=j.switched.max(),
                                        w_transfer=(j.n_transfers > 0).cast("int64").max(),
                                        w_wait=j.wait_seconds.sum(), w_handle=j.handle_seconds.sum())


def _window_steps(fb: ir.Table, ev: ir.Table, lookback_s: float, touchpoints: list[str]) -> ir.Table:
    """Per answer: n_steps and used_<touchpoint> flags over the events in its window, as
    differences of running counts (no answer × event join): each answer enters its customer's
    stream twice, before the events at feedback_ts - lookback (kind -1) and after those at
    feedback_ts (kind 1), and a cumulative sum per touchpoint is read at both marks."""
    i64, ts = "int64", ibis.dtype("timestamp(6)")
    flags = {f"t{i}": (ev.touchpoint == tp).fill_null(False).cast(i64) for i, tp in enumerate(touchpoints)}
    cid = ibis.dtype("string")   # nullable on both sides: a semi-join may drop NOT NULL from one of them
    e = ev.select(customer_id=ev.customer_id.cast(cid), ts=ev.event_ts.cast(ts), kind=ibis.literal(0).cast(i64), seq=ev.seq.cast(i64),
                  fseq=ibis.null(i64), one=ibis.literal(1).cast(i64), **flags)
    zeros = {f"t{i}": ibis.literal(0).cast(i64) for i in range(len(touchpoints))}
    marks = [fb.select(customer_id=fb.customer_id.cast(cid), ts=(fb.fts - ibis.interval(seconds=int(round(lookback_s)))).cast(ts),
                       kind=ibis.literal(-1).cast(i64), seq=fb.fseq.cast(i64), fseq=fb.fseq.cast(i64),
                       one=ibis.literal(0).cast(i64), **zeros),
             fb.select(customer_id=fb.customer_id.cast(cid), ts=fb.fts.cast(ts), kind=ibis.literal(1).cast(i64), seq=fb.fseq.cast(i64),
                       fseq=fb.fseq.cast(i64), one=ibis.literal(0).cast(i64), **zeros)]
    u = e.union(marks[0]).union(marks[1])
    w = ibis.window(group_by="customer_id", order_by=["ts", "kind", "seq"], rows=(None, 0))
    cols = ["one", *flags]
    u = u.mutate(**{f"c_{c}": u[c].sum().over(w) for c in cols})
    m = u.filter(u.kind != 0)
    lo = m.filter(m.kind == -1).select(lo_fseq=m.fseq, **{f"lo_{c}": m[f"c_{c}"] for c in cols})
    hi = m.filter(m.kind == 1).select("fseq", **{f"hi_{c}": m[f"c_{c}"] for c in cols})
    j = hi.join(lo, hi.fseq == lo.lo_fseq)
    used = {touchpoint_column(tp): ((j[f"hi_t{i}"] - j[f"lo_t{i}"]) > 0).cast(i64) for i, tp in enumerate(touchpoints)}
    return j.select("fseq", n_steps=j.hi_one - j.lo_one, **used)


def _latest_delivery(fb: ir.Table, ev: ir.Table, lookback_s: float, rules: FactRules) -> ir.Table:
    d = ev.filter(ev.activity == rules.delivered)
    d = d.select(d_customer=d.customer_id, ts=d.event_ts, d_seq=d.seq, days_late=_num(d, rules.days_late_attribute))
    j = fb.join(d, fb.customer_id == d.d_customer)
    age = epoch(j.fts) - epoch(j.ts)
    j = j.filter((age >= 0) & (age <= lookback_s))
    j = j.mutate(k=ibis.row_number().over(ibis.window(group_by="fseq", order_by=[ibis.desc("ts"),
                                                                                  ibis.desc("d_seq")])))
    j = j.filter(j.k == 0)
    return j.select("fseq", d_found=ibis.literal(1).cast("int64"), d_days_late=j.days_late)


def journey_facts(con, *, instrument: str, lookback_days: float = 60, filters=None, feedback_touchpoint=None,
                  items=None, rules: FactRules | None = None) -> pd.DataFrame:
    """One row per answer with a score: feedback_id, customer_id, feedback_touchpoint,
    feedback_ts, score, the case facts (repeat_contact, channel_switch, transfer 0/1,
    wait_minutes, handle_minutes: of the answer's own case, else over the cases opened in the
    window; NA when the answer has no case: missing, never 0), has_delivery 0/1, late_delivery 0/1
    and days_late of the latest delivery in the window (NA without one), n_steps, n_touchpoints
    and used_<touchpoint> 0/1 in the window, and item_<name> for each survey item read from
    feedback.attributes (NaN when blank)."""
    check_instrument(instrument)
    rules = rules or FactRules()
    lookback_s = float(lookback_days) * DAY_SECONDS
    fb = answers(con, filters, instrument=instrument, feedback_touchpoint=feedback_touchpoint)
    ev = scope(con, filters).history()   # the whole history: facts, not filters (FEEDBACK_RULE)
    base = fb.select("feedback_id", "customer_id", "journey_id", "score", "attributes", fseq=fb.seq,
                     feedback_touchpoint=fb.touchpoint, fts=fb.feedback_ts)
    key = base.select("fseq", "customer_id", "journey_id", "fts")
    cases = case_facts(ev, rules)
    touchpoints = sorted(ev.filter(ev.touchpoint.notnull()).select("touchpoint").distinct().execute()["touchpoint"])
    t = base.mutate(**{f"item_{name}": base.attributes[str(name)].try_cast("float64") for name in (items or ())})
    t = t.drop("attributes", "journey_id")
    for part in (_own_case(key, cases), _window_cases(key, cases, lookback_s),
                 _window_steps(key, ev, lookback_s, touchpoints), _latest_delivery(key, ev, lookback_s, rules)):
        t = t.left_join(part, "fseq").drop("fseq_right")
    df = t.execute()
    return definition(_assemble(df, touchpoints, rules), analysis="journey facts", instrument=instrument,
                      lookback_days=lookback_days, feedback_touchpoint=feedback_touchpoint,
                      rules=dataclasses.asdict(rules), filters=scope(con, filters).describe(), facts=FACT_RULES,
                      filter_rule=FEEDBACK_RULE)


FACT_RULES = {
    "repeat_contact": "the case is a repeat: the customer's previous case ended at most repeat_days before it was "
                      "opened, or had not ended (own case of the answer, else any case opened in the window); "
                      "the case facts are NULL for an answer with no case (missing, not 0)",
    "channel_switch": "the case's steps use more than one channel",
    "transfer": "the case has a transfer step (a department hand-off)",
    "wait_minutes": "sum of the wait attribute over the case's steps, in minutes (NULL without one)",
    "handle_minutes": "sum of the handle attribute over the case's steps, in minutes (NULL without one)",
    "has_delivery": "a delivered event in the window",
    "late_delivery": "the latest delivered event in the window has days_late > late_days (NULL without a "
                     "delivery or its days_late)",
    "days_late": "days_late of the latest delivered event in the window (NaN without one)",
    "n_steps": "events of the customer in the window",
    "n_touchpoints": "distinct touchpoints of those events",
    "used_<touchpoint>": "at least one event at that touchpoint in the window",
}


def _assemble(df: pd.DataFrame, touchpoints: list[str], rules: FactRules) -> pd.DataFrame:
    own = df["o_repeat"].notna()
    out = df[["feedback_id", "customer_id", "feedback_touchpoint", "fts", "score"]]
    out = out.rename(columns={"fts": "feedback_ts"})
    for name, o, w in (("repeat_contact", "o_repeat", "w_repeat"), ("channel_switch", "o_switch", "w_switch"),
                       ("transfer", "o_transfer", "w_transfer")):
        out[name] = df[o].where(own, df[w]).astype("Int64")   # no case (own or in the window): NA, not 0
    for name, o, w in (("wait_minutes", "o_wait", "w_wait"), ("handle_minutes", "o_handle", "w_handle")):
        out[name] = df[o].where(own, df[w]).astype(float) / 60   # no case, or no such attribute: NaN
    days_late = df["d_days_late"].astype(float)
    out["has_delivery"] = df["d_found"].notna().astype("int64")
    out["late_delivery"] = (days_late > rules.late_days).astype("Int64").where(days_late.notna())
    out["days_late"] = days_late
    out["n_steps"] = df["n_steps"].fillna(0).astype("int64")
    cols = [touchpoint_column(tp) for tp in touchpoints]
    out["n_touchpoints"] = df[cols].fillna(0).sum(axis=1).astype("int64")
    for col in cols:
        out[col] = df[col].fillna(0).astype("int64")
    for col in [c for c in df.columns if c.startswith("item_")]:
        out[col] = df[col].astype(float)
    return out.sort_values(["feedback_ts", "feedback_id"], ignore_index=True)
