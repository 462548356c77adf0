"""Replaying a rule over history: its anchors, trigger moments, actions and outcomes."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...periods import period_start
from ...scope import epoch, scope

HOUR, DAY = 3600.0, 86_400.0


def anchors(con, rule: dict, filters=None) -> ir.Table:
    """customer_id, journey_key, channel, n_prior, anchor_no (the row's seq), anchor_ts, anchor_date
    (its business date), moment_ts, triggered (bool) per anchor."""
    sc = scope(con, filters, unit="journey")
    trig, kind = rule["trigger"], rule["kind"]
    ev = sc.events()     # only the columns used: the window below sorts every scoped event, wide rows cost
    ev = ev.select("customer_id", "journey_key", "channel", "seq", "event_ts", "event_date", "activity",
                   *([trig["switch"]] if kind == "switch" and trig["switch"] != "channel" else []))
    w = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])
    n_prior = ibis.row_number().over(w)    # the customer's scoped events before this one
    if kind == "after":
        if trig.get("ignore"):   # the next event that breaks the idle time: ignored activities skipped
            ev = ev.mutate(n_prior=n_prior)
            base = ev.filter((ev.activity == trig["after"]) | ~ev.activity.isin(list(trig["ignore"])))
            base = base.mutate(next_ts=base.event_ts.lead().over(w))
        else:                    # one window pass for both
            base = ev.mutate(n_prior=n_prior, next_ts=ev.event_ts.lead().over(w))
        a = base.filter(base.activity == trig["after"])
        idle = trig["idle_hours"] * HOUR
        gap = epoch(a.next_ts) - epoch(a.event_ts)
        return a.select("customer_id", "journey_key", "channel", "n_prior", anchor_no=a.seq, anchor_ts=a.event_ts, anchor_date=a.event_date,
                        moment_ts=a.event_ts + ibis.interval(seconds=int(idle)),
                        triggered=a.next_ts.isnull() | (gap >= idle))
    if kind != "score_at_most":
        ev = ev.mutate(n_prior=n_prior)
    if kind == "activity":
        a = ev.filter(ev.activity == trig["activity"])
        return a.select("customer_id", "journey_key", "channel", "n_prior", anchor_no=a.seq, anchor_ts=a.event_ts, anchor_date=a.event_date,
                        moment_ts=a.event_ts, triggered=ibis.literal(True))
    if kind == "switch":
        by = trig["switch"]
        t = ev.filter(ev[by].notnull())
        t = t.mutate(prev=t[by].lag().over(w))
        t = t.filter(t.prev.notnull())
        return t.select("customer_id", "journey_key", "channel", "n_prior", anchor_no=t.seq, anchor_ts=t.event_ts, anchor_date=t.event_date,
                        moment_ts=t.event_ts, triggered=t.prev != t[by])
    fb = sc.feedback(trig["instrument"], scored=True)
    return fb.select("customer_id", journey_key=fb.journey_id.fill_null(fb.customer_id), channel=fb.channel,
                     n_prior=ibis.literal(0, "int64"), anchor_no=fb.seq, anchor_ts=fb.feedback_ts, anchor_date=fb.feedback_date,
                     moment_ts=fb.feedback_ts,
                     triggered=fb.score <= trig["score_at_most"])


def replay(con, rule: dict, filters=None) -> pd.DataFrame:
    """One row per anchor: customer_id, journey_key, segment, week (of the anchor's business date: a
    computed moment has no stored date), channel, moment_ts, triggered,
    eligible (outcome window complete, outcome not reached before the moment), acted, reached,
    n_prior (the customer's scoped events before the anchor)."""
    # anchor_no: the anchor row's ingest seq, unique and stable. The anchors are read once (their window
    # over every scoped event would otherwise run again for each join below that refers to them)
    a = ibis.memtable(anchors(con, rule, filters).execute())
    ev = con.table("events")
    end = ev.aggregate(data_end=ev.event_ts.max())
    days = rule["outcome"]["within_days"] * DAY
    a = a.cross_join(end)
    out = ev.filter(ev.activity == rule["outcome"]["activity"]).select("customer_id", o_ts=ev.event_ts)
    j = a.select("anchor_no", "customer_id", "anchor_ts", "moment_ts").join(out, "customer_id")
    dt = epoch(j.o_ts) - epoch(j.moment_ts)
    flags = j.group_by("anchor_no").aggregate(
        n_before=j.count(where=(j.o_ts > j.anchor_ts) & (dt <= 0)),
        n_reached=j.count(where=(dt > 0) & (dt <= days)))
    a = a.left_join(flags, "anchor_no").drop("anchor_no_right")
    if rule["action"]:
        act = ev.filter(ev.activity == rule["action"]["activity"]).select("customer_id", x_ts=ev.event_ts)
        k = a.select("anchor_no", "customer_id", "moment_ts").join(act, "customer_id")
        dx = epoch(k.x_ts) - epoch(k.moment_ts)
        acted = k.group_by("anchor_no").aggregate(
            n_acted=k.count(where=(dx > 0) & (dx <= rule["action"]["within_hours"] * HOUR)))
        a = a.left_join(acted, "anchor_no").drop("anchor_no_right")
    else:
        a = a.mutate(n_acted=ibis.literal(0))
    cust = con.table("customers").select("customer_id", segment=ibis._.segment)
    a = a.left_join(cust, "customer_id").drop("customer_id_right")
    eligible = (a.n_before.fill_null(0) == 0) & (epoch(a.moment_ts) + days <= epoch(a.data_end))
    df = a.select("customer_id", "journey_key", "moment_ts", "triggered", eligible=eligible,
                  segment=a.segment.fill_null("(none)"),
                  channel=a.channel.fill_null("(none)"), week=period_start(a.anchor_date, "week"),
                  acted=a.n_acted.fill_null(0) > 0, reached=a.n_reached.fill_null(0) > 0,
                  n_prior=a.n_prior.fill_null(0)).execute()
    return df
