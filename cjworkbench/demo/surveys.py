"""Survey answers: relational NPS, and CSAT / CES after contact-centre cases.

Scores are drawn from beta-binomial distributions whose means are set by the planted
effects: late deliveries (E2) and onboarding deviations (E7) lower likelihood-to-recommend,
repeat contacts (E3) and channel switches (E4) lower CSAT and raise effort, additively and
without interaction, so each effect's size holds exactly in expectation.
"""

from __future__ import annotations

import math

import numpy as np

from . import effects as fx
from .comments import compose
from .people import active_from
from .timeline import DAY, HOUR, Window, after, random_times

NPS_TOUCHPOINTS = ("ONB", "DELIV", "REL")
DELIVERY_INVITE_P = 0.45 * 0.45  # invited after a delivery x responded
ONBOARDING_RESPONSE_P = 0.35
RELATIONAL_RATE = 0.10  # relational answers per customer-year
CASE_RESPONSE_P = 0.40  # per closed case, CSAT or CES with equal chance


def scale_pmf(lo: int, hi: int, mean: float, concentration: float) -> np.ndarray:
    """P(score = lo..hi): beta-binomial with the given mean; concentration sets the spread."""
    n, m = hi - lo, (mean - lo) / (hi - lo)
    a, b = m * concentration, (1 - m) * concentration
    lbeta = lambda x, y: math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)  # noqa: E731
    pmf = [math.comb(n, k) * math.exp(lbeta(k + a, n - k + b) - lbeta(a, b)) for k in range(n + 1)]
    return np.array(pmf) / sum(pmf)


def draw_scores(rng, lo: int, hi: int, means: np.ndarray, concentration: float) -> np.ndarray:
    """One score per row from the row's mean (rows share a handful of distinct means)."""
    out = np.empty(means.size, np.int8)
    for mean in np.unique(means):
        sel = means == mean
        out[sel] = lo + rng.choice(hi - lo + 1, sel.sum(), p=scale_pmf(lo, hi, mean, concentration))
    return out


def nps_answers(rng, customers: dict, onboarding: dict, parcels: dict, win: Window) -> dict:
    """Onboarding, post-delivery and relational NPS answers with item scores and comments."""
    a = _nps_invites(rng, customers, onboarding, parcels, win)
    late = _late_before(parcels, a["cust"], a["answered"], win)
    a["late"], a["after_delivery"] = late == 1, late >= 0
    onb = a["touchpoint"] == 0
    deviated = onb & (a["path"] > 0)
    mean = np.where(onb, np.where(deviated, fx.ONB_LTR_MEAN["deviate"], fx.ONB_LTR_MEAN["conform"]),
                    np.where(a["late"] & ~onb, fx.LTR_MEAN["late"], fx.LTR_MEAN["on_time"]))
    ltr = draw_scores(rng, 0, 10, mean, fx.LTR_CONCENTRATION)
    base = 1 + 0.4 * ltr
    a["ltr"] = ltr
    a["ease"] = np.clip(np.rint(base + rng.normal(0, .7, ltr.size)), 1, 5).astype(np.int8)
    a["value"] = np.clip(np.rint(base - .5 + rng.normal(0, 1., ltr.size)), 1, 5).astype(np.int8)
    a["delivery"] = np.where(a["after_delivery"], np.clip(np.rint(
        base + rng.normal(0, .7, ltr.size) - 1.5 * a["late"]), 1, 5), np.nan)
    causes = {"late_delivery": a["late"] & ~onb, "price_value": a["value"] <= 2,
              "verification": onb & (a["path"] == 1)}
    a["comment"], a["comment_language"] = compose(rng, causes, fx.COMMENT_RATE["nps"])
    return a


def _nps_invites(rng, customers: dict, onb: dict, parcels: dict, win: Window) -> dict:
    """Who answered when, by touchpoint: ONB 14 days after signup, DELIV after a parcel, REL."""
    o = rng.random(onb["cust"].size) < ONBOARDING_RESPONSE_P
    d = (parcels["delivered"] < win.end) & (rng.random(parcels["cust"].size) < DELIVERY_INVITE_P)
    lo = active_from(customers, win)
    k = rng.poisson(RELATIONAL_RATE * (win.end - lo) / (365.25 * DAY))
    r = np.repeat(np.arange(lo.size), k)
    sent = np.concatenate([
        random_times(rng, onb["signup"][o] + fx.ONBOARDING_SURVEY_DAYS * DAY,
                     onb["signup"][o] + (fx.ONBOARDING_SURVEY_DAYS + 1) * DAY, "daytime"),
        random_times(rng, parcels["delivered"][d] + DAY, parcels["delivered"][d] + 3 * DAY, "daytime"),
        random_times(rng, lo[r], win.end, "daytime")])
    a = {"touchpoint": np.repeat(np.arange(3, dtype=np.int8), [o.sum(), d.sum(), r.size]),
         "cust": np.concatenate([onb["cust"][o], parcels["cust"][d], r]),
         "path": np.concatenate([onb["path"][o], np.full(d.sum() + r.size, -1)]),
         "order": np.concatenate([np.full(o.sum(), -1), parcels["order"][d], np.full(r.size, -1)]),
         "sent": sent, "answered": sent + (rng.exponential(1.5 * DAY, sent.size) + 600).astype(np.int64)}
    keep = a["answered"] < win.end
    order = np.argsort(a["answered"][keep], kind="stable")
    return {k: v[keep][order] for k, v in a.items()}


def _late_before(parcels: dict, cust, ts, win: Window) -> np.ndarray:
    """Per answer: 1 if the customer's latest delivery in LOOKBACK_DAYS was late, 0 if not, -1 none."""
    done = parcels["delivered"] < win.end
    key = parcels["cust"][done].astype(np.int64) << 32 | parcels["delivered"][done]
    order = np.argsort(key)
    key, late = key[order], (parcels["days_late"][done] > fx.LATE_DAYS)[order]
    i = np.searchsorted(key, cust.astype(np.int64) << 32 | ts, side="right") - 1
    j = np.maximum(i, 0)
    found = (i >= 0) & (key[j] >> 32 == cust) & ((key[j] & 0xFFFFFFFF) >= ts - fx.LOOKBACK_DAYS * DAY)
    return np.where(found, late[j].astype(np.int8), -1)


def case_answers(rng, cases: dict, win: Window) -> dict:
    """CSAT or CES answers to closed cases; scores from the repeat and switch flags."""
    idx = np.flatnonzero(cases["closed"] & (rng.random(cases["closed"].size) < CASE_RESPONSE_P))
    csat = rng.random(idx.size) < 0.5
    sent = after(rng, cases["t"][idx, -1], 60, 600)
    answered = sent + (rng.exponential(6 * HOUR, idx.size) + 120).astype(np.int64)
    keep = answered < win.end
    idx, csat, sent, answered = idx[keep], csat[keep], sent[keep], answered[keep]
    rep, sw = cases["repeat"][idx], cases["switch"][idx]
    score = np.where(csat, draw_scores(rng, 1, 5, fx.CSAT_MEAN + fx.CSAT_REPEAT * rep + fx.CSAT_SWITCH * sw,
                                       fx.SCORE_CONCENTRATION),
                     draw_scores(rng, 1, 7, fx.CES_MEAN + fx.CES_REPEAT * rep + fx.CES_SWITCH * sw,
                                 fx.SCORE_CONCENTRATION))
    causes = {"repeat_contact": rep, "app_payment": cases["origin"][idx] == 2,
              "friendly_staff": np.where(csat, score >= 4, score <= 2)}
    rate = np.where(csat, fx.COMMENT_RATE["csat"], fx.COMMENT_RATE["ces"])
    comment, language = compose(rng, causes, rate, multiline=True)
    return {"case": idx, "csat": csat, "sent": sent, "answered": answered, "score": score,
            "comment": comment, "comment_language": language}
