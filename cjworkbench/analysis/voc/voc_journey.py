"""VoC on the journey: every feedback answer tied to the event that came before it, scores per
touchpoint, activity, transition or variant, and the paths of detractors vs promoters compared.

The "event before the answer" is an as-of join written in the portable Ibis subset (no
`asof_join`, refused by Spark): answers are unioned into their customer's event stream, ordered
by (ts, events before answers, seq), and a cumulative count of events gives each answer the
index of the latest event at or before it; an equi-join then fetches that event. The same count
within the answer's own journey (feedback.journey_id, e.g. the order or case it is about) wins
when that journey has an event before the answer. Journeys are journey_id (else customer_id)
per customer, events in (event_ts, seq) order.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...contract import INSTRUMENTS
from ...errors import one_of
from ...model import ARROW
from ...scope import FEEDBACK_RULE, TIE_RULE, FilterError, _strs, definition, epoch, scope
from .scores import mean_interval, moments, nps_interval
from ..stats import Interval, newcombe_interval, two_proportion_p_value, wilson_interval

BY = ("touchpoint", "activity", "transition", "variant")
NONE = "(none)"
START = "(start)"
DAY_SECONDS = 86_400
NAN = float("nan")
_TS = ibis.dtype("timestamp(6)")
_STR = ibis.dtype("string")  # nullable: both sides of a union must agree

MATCH_RULE = ("the preceding event is the latest event of the answer's own journey (feedback.journey_id) at or "
              "before feedback_ts when that journey has one (matched_by = journey), else the customer's latest "
              "event at or before feedback_ts (matched_by = customer); an event at the same timestamp counts "
              "as before; events in (event_ts, seq) order")
FILTER_RULE = FEEDBACK_RULE   # answers in scope; the events they follow: the customer's whole history
NPS_RULE = "NPS = % promoters (9-10) - % detractors (0-6), Wald interval of the mean of +100 / 0 / -100"
MEAN_RULE = "mean score with a Student t interval"
SENTIMENT_RULE = ("mean compound (-1..+1, analysis.sentiment.score_detected: each text in its detected language) "
                  "of the non-empty texts in a language with a sentiment lexicon (en, nl, pt; others are not "
                  "scored and not counted in n_texts), with a t interval; negative_text_rate: share with "
                  "compound <= -0.05")


def check_instrument(instrument: str | None) -> str | None:
    if instrument is not None and instrument not in INSTRUMENTS:
        raise FilterError(one_of("instrument", instrument, INSTRUMENTS))
    return instrument


def answers(con, filters=None, *, instrument: str | None = None, feedback_touchpoint=None) -> ir.Table:
    """Scored answers in scope (FEEDBACK_RULE); `feedback_touchpoint` narrows to those touchpoints."""
    fb = scope(con, filters).feedback(check_instrument(instrument), scored=True)
    if feedback_touchpoint:
        fb = fb.filter(fb.touchpoint.isin(_strs(feedback_touchpoint)))
    return fb


def journey_events(con, filters=None) -> ir.Table:
    """The scoped customers' whole event histories (`Scope.history`: no date or event-level cut,
    so the event an answer follows is a fact) with `pos` in the customer's journey,
    `prev_activity`, `next_activity`, `next_ts` and `c_idx`, the 1-based index in the customer's
    whole event stream."""
    ev = scope(con, filters).history()
    wj = ibis.window(group_by=["customer_id", "journey_key"], order_by=["event_ts", "seq"])
    wc = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])
    return ev.mutate(pos=ibis.row_number().over(wj) + 1, prev_activity=ev.activity.lag().over(wj),
                     next_activity=ev.activity.lead().over(wj), next_ts=ev.event_ts.lead().over(wj),
                     c_idx=ibis.row_number().over(wc) + 1)


def _preceding_index(ev: ir.Table, fb: ir.Table) -> ir.Table:
    """Per answer (`fseq`): `c_idx` of the customer's latest event at or before it (0: none) and
    `j_idx`, the `pos` of its own journey's latest event at or before it (0: none)."""
    i64 = "int64"
    e = ev.select(customer_id=ev.customer_id.cast(_STR), jkey=ev.journey_key, ts=ev.event_ts.cast(_TS),
                  kind=ibis.literal(0).cast(i64), seq=ev.seq.cast(i64), is_event=ibis.literal(1).cast(i64))
    a = fb.select(customer_id=fb.customer_id.cast(_STR), jkey=fb.journey_id, ts=fb.feedback_ts.cast(_TS),
                  kind=ibis.literal(1).cast(i64), seq=fb.seq.cast(i64), is_event=ibis.literal(0).cast(i64))
    s = e.union(a)
    order = ["ts", "kind", "seq"]
    s = s.mutate(c_idx=s.is_event.sum().over(ibis.window(group_by="customer_id", order_by=order, rows=(None, 0))),
                 j_idx=s.is_event.sum().over(ibis.window(group_by=["customer_id", "jkey"], order_by=order,
                                                         rows=(None, 0))))
    s = s.filter(s.kind == 1)
    return s.select("customer_id", "jkey", fseq=s.seq, c_idx=s.c_idx.fill_null(0), j_idx=s.j_idx.fill_null(0))


def feedback_events(con, *, instrument: str | None = None, filters=None, feedback_touchpoint=None) -> ir.Table:
    """Each answer with the event that preceded it (see MATCH_RULE), as an Ibis table: feedback_id,
    customer_id, instrument, score, scale_min, scale_max, direction, feedback_ts,
    feedback_touchpoint, matched_by, journey_key, event_ts, activity, touchpoint, channel, pos
    (1-based position in the journey), prev_activity, transition ('a → b', '(start) → b' at the
    journey's first event), seconds_since (from the event to the answer), fseq (the answer's
    ingest sequence, a unique key) and text (the verbatim: redact before showing it). Answers
    with no earlier event keep NULL event columns."""
    fb = answers(con, filters, instrument=instrument, feedback_touchpoint=feedback_touchpoint)
    ev = journey_events(con, filters)
    idx = _preceding_index(ev, fb)
    keys = ev.select(k_customer=ev.customer_id, k_journey=ev.journey_key, k_pos=ev.pos, jc_idx=ev.c_idx)
    idx = idx.left_join(keys, [idx.customer_id == keys.k_customer, idx.jkey == keys.k_journey,
                               idx.j_idx == keys.k_pos])
    idx = idx.select("fseq", "customer_id", matched_by=ibis.cases(
        (idx.jc_idx.notnull(), "journey"), (idx.c_idx > 0, "customer"), else_=ibis.null("string")),
        target=ibis.coalesce(idx.jc_idx, ibis.cases((idx.c_idx > 0, idx.c_idx), else_=ibis.null("int64"))))
    a = fb.select("feedback_id", "customer_id", "instrument", "score", "scale_min", "scale_max", "direction",
                  "feedback_ts", "text", feedback_touchpoint=fb.touchpoint, fseq=fb.seq.cast("int64"))
    a = a.join(idx.select("fseq", "matched_by", "target"), "fseq")
    e = ev.select(e_customer=ev.customer_id, e_idx=ev.c_idx, journey_key=ev.journey_key, event_ts=ev.event_ts,
                  activity=ev.activity, touchpoint=ev.touchpoint, channel=ev.channel, pos=ev.pos,
                  prev_activity=ev.prev_activity)
    j = a.left_join(e, [a.customer_id == e.e_customer, a.target == e.e_idx])
    transition = ibis.cases((j.activity.notnull(), j.prev_activity.fill_null(START).concat(ARROW, j.activity)),
                            else_=ibis.null("string"))
    return j.select("feedback_id", "customer_id", "instrument", "score", "scale_min", "scale_max", "direction",
                    "feedback_ts", "feedback_touchpoint", "matched_by", "journey_key", "event_ts", "activity",
                    "touchpoint", "channel", "pos", "prev_activity", transition=transition,
                    seconds_since=epoch(j.feedback_ts) - epoch(j.event_ts), fseq=j.fseq, text=j.text)


def _variants(con, fe: ir.Table, filters) -> ir.Table:
    """Per answer (`fseq`): the variant of its journey up to and including the preceding event."""
    ev = journey_events(con, filters)
    m = fe.filter(fe.pos.notnull()).select("fseq", m_customer="customer_id", m_journey="journey_key", upto="pos")
    j = ev.join(m, [ev.customer_id == m.m_customer, ev.journey_key == m.m_journey])
    j = j.filter(j.pos <= j.upto)
    g = j.group_by("fseq").aggregate(steps=ibis.struct({"pos": j.pos, "activity": j.activity}).collect())
    return g.select("fseq", variant=g.steps.sort().map(lambda s: s.activity).join(ARROW))


def feedback_on_journey_table(con, *, instrument: str | None = None, by: str = "touchpoint", filters=None,
                              feedback_touchpoint=None, sentiment: bool = True, level: float = 0.95,
                              min_n: int = 30) -> pd.DataFrame:
    """Per instrument and `by` value of the event before each answer (touchpoint, activity,
    transition or variant): answers, customers, mean score with a t interval, NPS with its
    interval (nps only), median seconds from the event to the answer and, with `sentiment` (when
    `analysis.sentiment` is installed), the texts' mean sentiment. Groups with fewer than
    `min_n` answers are flagged (`small_sample`), not hidden; '(none)' holds answers with no
    earlier event (or a NULL value)."""
    if by not in BY:
        raise FilterError(one_of("by", by, BY))
    fe = feedback_events(con, instrument=instrument, filters=filters, feedback_touchpoint=feedback_touchpoint)
    if by == "variant":
        fe = fe.left_join(_variants(con, fe, filters), "fseq")
    key = fe[by].fill_null(NONE).name("group_value")
    s = fe.score.cast("float64")
    g = fe.group_by([fe.instrument, key]).aggregate(
        n_answers=fe.count(), n_customers=fe.customer_id.nunique(), score_sum=s.sum(), score_sq=(s * s).sum(),
        n_promoters=fe.count(where=s >= 9), n_detractors=fe.count(where=s <= 6),
        median_seconds_since=fe.seconds_since.median()).execute()
    rows = [_group_stats(r, level, min_n) for r in g.itertuples(index=False)]
    df = pd.DataFrame(rows, columns=["instrument", "group_value", *_STAT_COLUMNS])
    senti = _sentiment(fe, key, level) if sentiment else None
    if senti is not None:
        df = df.merge(senti, on=["instrument", "group_value"], how="left")
        df["n_texts"] = df["n_texts"].fillna(0).astype("int64")
    df = df.rename(columns={"group_value": by})
    df = df.sort_values(["instrument", "n_answers", by], ascending=[True, False, True], ignore_index=True)
    return definition(df, analysis="feedback on journey", by=by, instrument=instrument,
                      feedback_touchpoint=feedback_touchpoint, level=level, match=MATCH_RULE, nps=NPS_RULE,
                      score=MEAN_RULE, small_sample=f"fewer than {min_n} answers", filter_rule=FILTER_RULE,
                      sentiment=SENTIMENT_RULE if senti is not None else None,
                      variant="the journey's activities up to and including the preceding event",
                      tie_rule=TIE_RULE, filters=scope(con, filters).describe())


_STAT_COLUMNS = ["n_answers", "n_customers", "score_mean", "score_low", "score_high", "nps", "nps_low", "nps_high",
                 "promoter_rate", "detractor_rate", "median_seconds_since", "small_sample"]


def _group_stats(r, level: float, min_n: int) -> list:
    n = int(r.n_answers)
    m = mean_interval(n, *moments(n, r.score_sum, r.score_sq), level=level)
    nps = Interval(NAN, NAN, NAN) if r.instrument != "nps" else nps_interval(r.n_promoters, r.n_detractors, n,
                                                                            level=level)
    pro, det = (r.n_promoters / n, r.n_detractors / n) if r.instrument == "nps" and n else (NAN, NAN)
    return [r.instrument, r.group_value, n, int(r.n_customers), *m, *nps, pro, det, r.median_seconds_since,
            n < min_n]


def _sentiment(fe: ir.Table, key: ir.Value, level: float) -> pd.DataFrame | None:
    """Per (instrument, group_value): texts scored in their own language by `sentiment.score_detected`
    (when that module is installed): n_texts, mean compound with its t interval, negative share."""
    try:
        from .sentiment import NEUTRAL_BAND, score_detected
    except ImportError:
        return None
    t = fe.filter(fe.text.notnull() & (fe.text.strip() != ""))
    df = t.select("instrument", key, "text").execute()
    cols = ["instrument", "group_value", "n_texts", "sentiment_mean", "sentiment_low", "sentiment_high",
            "negative_text_rate"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["c"] = score_detected(df.pop("text"))
    rows = []
    for (ins, gv), g in df.groupby(["instrument", "group_value"], sort=False):
        c = g["c"].dropna().to_numpy(float)
        m = mean_interval(len(c), float(c.mean()) if len(c) else NAN, float(c.var(ddof=1)) if len(c) > 1 else NAN,
                          level=level)
        rows.append([ins, gv, len(c), *m, float((c <= -NEUTRAL_BAND).mean()) if len(c) else NAN])
    return pd.DataFrame(rows, columns=cols)


def path_contrast_table(con, *, instrument: str = "nps", lookback_days: float = 30, filters=None,
                        feedback_touchpoint=None, min_windows: int = 10, level: float = 0.95) -> pd.DataFrame:
    """Per transition (activity -> next activity of the same journey, both events inside the
    `lookback_days` before the answer; '(start) -> a' for a journey starting there): the share of
    detractors' (0-6) and promoters' (9-10) windows containing it, their difference with a
    Newcombe interval and a two-proportion p-value, and the lift (detractor share / promoter
    share); ranked by the difference, so the transitions most over-represented among detractors
    come first. Transitions seen in fewer than `min_windows` windows are left out."""
    if instrument != "nps":
        raise FilterError(f"path_contrast_table compares NPS detractors with promoters; instrument must be "
                          f"'nps', got '{instrument}'.")
    if not isinstance(lookback_days, (int, float)) or isinstance(lookback_days, bool) or lookback_days <= 0:
        raise FilterError(f"lookback_days must be a positive number of days, got {lookback_days!r}.")
    fb = answers(con, filters, instrument="nps", feedback_touchpoint=feedback_touchpoint)
    fb = fb.mutate(group=ibis.cases((fb.score <= 6, "detractor"), (fb.score >= 9, "promoter"),
                                    else_=ibis.null("string")))
    fb = fb.filter(fb.group.notnull()).select("customer_id", "group", fseq=fb.seq, fts=fb.feedback_ts)
    ev = journey_events(con, filters)
    inner = ev.filter(ev.next_activity.notnull()).select(
        s_customer=ev.customer_id, activity=ev.activity.cast(_STR), next_activity=ev.next_activity.cast(_STR),
        ts=ev.event_ts.cast(_TS), next_ts=ev.next_ts.cast(_TS))
    starts = ev.filter(ev.pos == 1).select(
        s_customer=ev.customer_id, activity=ibis.literal(START).cast(_STR), next_activity=ev.activity.cast(_STR),
        ts=ev.event_ts.cast(_TS), next_ts=ev.event_ts.cast(_TS))
    st = inner.union(starts)
    j = fb.join(st, fb.customer_id == st.s_customer)
    j = j.filter((j.next_ts <= j.fts) & (epoch(j.fts) - epoch(j.ts) <= lookback_days * DAY_SECONDS))
    per = j.group_by(["group", "activity", "next_activity"]).aggregate(n_windows=j.fseq.nunique()).execute()
    totals = fb.group_by("group").aggregate(n=fb.count()).execute().set_index("group")["n"]
    n_det, n_pro = int(totals.get("detractor", 0)), int(totals.get("promoter", 0))
    wide = per.pivot_table(index=["activity", "next_activity"], columns="group", values="n_windows",
                           fill_value=0, aggfunc="sum").reindex(columns=["detractor", "promoter"], fill_value=0)
    wide = wide[wide.sum(axis=1) >= min_windows].reset_index()
    rows = [_contrast_row(r.activity, r.next_activity, int(r.detractor), n_det, int(r.promoter), n_pro, level)
            for r in wide.itertuples(index=False)]
    df = pd.DataFrame(rows, columns=_CONTRAST_COLUMNS)
    df = df.sort_values(["share_diff", "transition"], ascending=[False, True], ignore_index=True)
    return definition(df, analysis="detractor vs promoter paths", instrument=instrument, lookback_days=lookback_days,
                      feedback_touchpoint=feedback_touchpoint, level=level, n_detractors=n_det, n_promoters=n_pro,
                      window=f"the transitions of the customer's journeys whose two events fall within "
                            f"{lookback_days} days (x 86,400 s) before the answer, answer time included",
                      share="windows containing the transition / all answers of the group (passives 7-8 left out)",
                      share_diff="detractor share - promoter share, Newcombe hybrid score interval; p_value of "
                                 "the pooled two-proportion z test", lift="detractor share / promoter share",
                      min_windows=min_windows, filter_rule=FILTER_RULE, tie_rule=TIE_RULE,
                      filters=scope(con, filters).describe())


_CONTRAST_COLUMNS = ["transition", "from_activity", "to_activity", "n_detractor_windows", "n_detractors",
                     "detractor_share", "n_promoter_windows", "n_promoters", "promoter_share", "share_diff",
                     "share_diff_low", "share_diff_high", "lift", "p_value"]


def _contrast_row(a: str, b: str, xd: int, nd: int, xp: int, np_: int, level: float) -> list:
    d = newcombe_interval(xd, nd, xp, np_, level=level)
    sd, sp = wilson_interval(xd, nd).estimate, wilson_interval(xp, np_).estimate
    lift = sd / sp if sp and sp > 0 else float("inf") if sd and sd > 0 else float("nan")
    return [f"{a}{ARROW}{b}", a, b, xd, nd, sd, xp, np_, sp, *d, lift, two_proportion_p_value(xd, nd, xp, np_)]
