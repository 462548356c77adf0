"""truth.json: what was planted, how big, and how to measure it; plus the exact mess counts.

`planted` holds the structural sizes from `effects.py` (and what they imply, e.g. the NPS of a
score distribution). `expected` holds expectations for this particular data set where the
mix of units matters (devices, periods, personas): the mean of each unit's planted
probability, so a test can compare a measured rate with it, within sampling error.
"""

from __future__ import annotations

import numpy as np

from . import effects as fx
from .comments import NL_SHARE, PATTERNS
from .surveys import scale_pmf
from .timeline import DAY, ZONE, Window, to_local


def _nps(pmf: np.ndarray) -> float:
    return 100 * (pmf[9:].sum() - pmf[:7].sum())


def _r(x, nd=4):
    return round(float(x), nd)


def build_truth(world: dict, files: dict, mess: dict, win: Window, *, seed: int, customers: int) -> dict:
    events = (mess["web_clickstream.csv.gz"]["valid_rows"] + files["orders.parquet"] + files["deliveries.jsonl"]
              + mess["contact_cases.csv"]["valid_rows"] + files["marketing_emails.csv"])
    return {
        "generator": {"seed": seed, "customers": customers, "end_date": win.end_date.isoformat(),
                      "start_date": win.start_date.isoformat(), "drift_date": _date(win.drift),
                      "timezone": ZONE},
        "files": {f"exports/{k}": v for k, v in files.items()},
        "mess": {f"exports/{k}": v for k, v in mess.items()},
        "canonical": {"customers": files["crm_customers.csv"], "events": int(events),
                      "feedback": files["nps_survey.xlsx"] + files["csat_survey.csv"] + files["ces_survey.csv"],
                      "events_nonexistent_local_times": mess["web_clickstream.csv.gz"]["nonexistent_local_times"]},
        "effects": {"E1": _e1(world, win), "E2": _e2(world, win), "E3": _e3(world, win), "E4": _e4(world),
                    "E5": _e5(world), "E6": _e6(world, win), "E7": _e7(world, win), "E8": _e8(world), "E9": _e9(world)},
    }


def _date(ts: int) -> str:
    """The Amsterdam date of a UTC instant, as YYYY-MM-DD."""
    return str(np.datetime64(int(to_local(np.array([ts]))[0] // DAY), "D"))


def _e1(world: dict, win: Window) -> dict:
    co = world["purchases"]["checkout"]
    app, sw = co["device"] == 2, co["switch"]
    pay = fx.PAY_REACH["app"]
    period = {}
    for name, drop in (("before_drift", fx.PAYMENT_DROP_BEFORE), ("drift_window", fx.PAYMENT_DROP_AFTER)):
        period[name] = {"no_switch": _r(pay * (1 - drop)), "switch": _r(pay * (1 - drop) - fx.SWITCH_PENALTY)}
    return {
        "unit": "checkout attempt: a clickstream session with device 'app' and a /checkout/start hit",
        "switch": f"a TEL contact case opened (action 'opened') after the /checkout/start hit and before "
                  f"/checkout/confirmed, or within {fx.SWITCH_WINDOW_HOURS} h of the start if not confirmed",
        "outcome": "complete = the session has a /checkout/confirmed hit",
        "planted": {"switch_rate": fx.APP_SWITCH_RATE, "completion_gap": -fx.SWITCH_PENALTY,
                    "completion": period},
        "expected": {"completion_no_switch": _r(co["p_complete"][app & ~sw].mean()),
                     "completion_switch": _r(co["p_complete"][app & sw].mean()),
                     "n_attempts": int(app.sum()), "n_switch": int((app & sw).sum())},
    }


def _e2(world: dict, win: Window) -> dict:
    on, late = (scale_pmf(0, 10, fx.LTR_MEAN[k], fx.LTR_CONCENTRATION) for k in ("on_time", "late"))
    a = world["nps"]
    pop = (a["touchpoint"] > 0) & a["after_delivery"]
    return {
        "unit": "NPS answer with touchpoint DELIV or REL whose customer had a 'delivered' event in the "
                f"{fx.LOOKBACK_DAYS} days before answered_on",
        "exposure": f"the latest such delivery had days_late > {fx.LATE_DAYS}",
        "planted": {"ltr_mean": dict(fx.LTR_MEAN), "ltr_gap": _r(fx.LTR_MEAN["late"] - fx.LTR_MEAN["on_time"]),
                    "nps": {"on_time": _r(_nps(on), 2), "late": _r(_nps(late), 2)},
                    "nps_gap": _r(_nps(late) - _nps(on), 2),
                    "late_share_of_deliveries": _r(sum(p for d, p in fx.DAYS_LATE.items() if d > fx.LATE_DAYS))},
        "expected": {"n_late": int((pop & a["late"]).sum()), "n_on_time": int((pop & ~a["late"]).sum())},
        "drift": _e2_drift(world, win),
    }


def _e2_drift(world: dict, win: Window) -> dict:
    """E2 worsens from the drift date: more parcels late (by order time), the on-time share falls."""
    p, s, x = fx.DAYS_LATE, fx.LATE_DRIFT_SHARE, fx.DRIFT_EXTRA_DAYS
    on = sum(q for d, q in p.items() if d <= 0)
    late = sum(q for d, q in p.items() if d > fx.LATE_DAYS)
    parcels = world["parcels"]
    after = world["orders"]["ts"][parcels["order"]] >= win.drift
    return {"drift_date": _date(win.drift), "share_delayed": s, "extra_days": x,
            "planted": {"on_time_before": _r(on), "on_time_after": _r((1 - s) * on + s * sum(q for d, q in p.items()
                                                                                         if d + x <= 0)),
                        "late_before": _r(late), "late_after": _r((1 - s) * late + s * sum(
                            q for d, q in p.items() if d + x > fx.LATE_DAYS))},
            "expected": {k: _r((parcels["days_late"][m] <= 0).mean()) for k, m in
                         (("on_time_before", ~after), ("on_time_after", after))}}


def _case_scores(instrument: str, repeat: float, switch: float) -> dict:
    """Mean and top-box (CSAT 5) or low-effort (CES <= 2) rate; a flag given as a share is mixed over."""
    lo, hi, base, d_rep, d_sw = ((1, 5, fx.CSAT_MEAN, fx.CSAT_REPEAT, fx.CSAT_SWITCH) if instrument == "csat"
                                 else (1, 7, fx.CES_MEAN, fx.CES_REPEAT, fx.CES_SWITCH))
    mean = top = 0.0
    for r in (0, 1):
        for s in (0, 1):
            w = (repeat if r else 1 - repeat) * (switch if s else 1 - switch)
            m = base + d_rep * r + d_sw * s
            pmf = scale_pmf(lo, hi, m, fx.SCORE_CONCENTRATION)
            mean += w * m
            top += w * (pmf[-1] if instrument == "csat" else pmf[:2].sum())
    return {"mean": _r(mean), "top_box" if instrument == "csat" else "low_effort": _r(top)}


def _e3(world: dict, win: Window) -> dict:
    s, kase = fx.CASE_SWITCH_RATE, world["cases"]
    return {
        "unit": "answered CSAT / CES survey (case_id -> the case)",
        "exposure": f"repeat: the customer's previous case (by its 'opened' step) had its last step at most "
                    f"{fx.REPEAT_DAYS} days before this case's 'opened' step (or later)",
        "planted": {"csat_gap": fx.CSAT_REPEAT, "ces_gap": fx.CES_REPEAT,
                    "csat": {"first": _case_scores("csat", 0, s), "repeat": _case_scores("csat", 1, s)},
                    "ces": {"first": _case_scores("ces", 0, s), "repeat": _case_scores("ces", 1, s)}},
        "expected": {"repeat_share_of_answers": _r(world["cases"]["repeat"][world["case_answers"]["case"]].mean())},
        "drift": {"drift_date": _date(win.drift),
                  "planted": {"follow_up_before": fx.FOLLOW_UP_P, "follow_up_after": fx.FOLLOW_UP_P_DRIFT},
                  "expected": {k: _r(kase["repeat"][m].mean()) for k, m in
                               (("repeat_share_before", kase["t_open"] < win.drift),
                                ("repeat_share_after", kase["t_open"] >= win.drift))}},
    }


def _e4(world: dict) -> dict:
    r = float(world["cases"]["repeat"][world["case_answers"]["case"]].mean())
    return {
        "unit": "answered CSAT / CES survey (case_id -> the case)",
        "exposure": "switch: the case's steps use more than one chan code",
        "planted": {"switch_rate": fx.CASE_SWITCH_RATE, "csat_gap": fx.CSAT_SWITCH, "ces_gap": fx.CES_SWITCH,
                    "transfer_rate": fx.TRANSFER_RATE, "transfer_effect": 0.0},
        "expected": {"csat": {"no_switch": _case_scores("csat", r, 0), "switch": _case_scores("csat", r, 1)},
                     "ces": {"no_switch": _case_scores("ces", r, 0), "switch": _case_scores("ces", r, 1)}},
    }


def _order_probability(world: dict) -> np.ndarray:
    """Per purchase intent: P(it becomes an order) -- 1 by phone or in a store, else the funnel's."""
    p = np.ones(world["intents"]["cust"].size)
    co = world["purchases"]["checkout"]
    p[co["intent"]] = co["p_complete"]
    return p


def _e5(world: dict) -> dict:
    cust, route = world["customers"], world["purchases"]["route"]
    trad = cust["traditional"]
    p_order = _order_probability(world)
    s = world["sessions"]
    habit = np.array([fx.DEVICE_P[h] for h in ("traditional", "app_user", "web_user")])[cust["habit"][s["cust"]]]
    forced = (s["kind"] == 3) | (s["kind"] == 4)  # phone_browse: desktop; promo: browser
    p_app = np.where(forced, 0.0, habit[:, 2])
    p_desktop = np.where(s["kind"] == 3, 1.0, habit[:, 0])
    out = {}
    for name, who in (("traditional", True), ("other", False)):
        i = trad[world["intents"]["cust"]] == who
        ses = trad[s["cust"]] == who
        out[name] = {"phone_share_of_orders": _r((route[i] == 0).sum() / p_order[i].sum()),
                     "app_share_of_sessions": _r(p_app[ses].mean()),
                     "desktop_share_of_sessions": _r(p_desktop[ses].mean()),
                     "n_customers": int((trad == who).sum())}
    return {
        "unit": f"customers born before {fx.TRADITIONAL_BEFORE} (CRM birth_year) vs the others; "
                "orders (orders.parquet channel) and clickstream sessions (device)",
        "planted": {"channel_per_purchase_intent": fx.CHANNEL_P, "device_per_session": fx.DEVICE_P,
                    "app_user_share_of_others": fx.APP_USER_SHARE,
                    "desktop_session_before_phone_order": fx.PHONE_BROWSE_P},
        "expected": out,
    }


def _e6(world: dict, win: Window) -> dict:
    co = world["purchases"]["checkout"]
    return {
        "unit": "checkout session with a /checkout/payment hit; period by the session's first hit",
        "outcome": "drop-off = no /checkout/confirmed hit in the session",
        "planted": {"drop_before": fx.PAYMENT_DROP_BEFORE, "drop_after": fx.PAYMENT_DROP_AFTER,
                    "drift_date": _date(win.drift), "months": fx.DRIFT_MONTHS},
        "expected": {"n_payment_before": int(((co["reached"] >= 1) & (co["start"] < win.drift)).sum()),
                     "n_payment_after": int(((co["reached"] >= 1) & (co["start"] >= win.drift)).sum())},
    }


def _e7(world: dict, win: Window) -> dict:
    onb, intents = world["onboarding"], world["intents"]
    first = np.flatnonzero(intents["first"])
    p_first = np.zeros(onb["cust"].size)
    p_first[np.searchsorted(onb["cust"], intents["cust"][first])] = _order_probability(world)[first]
    pop = onb["signup"] <= win.end - fx.FIRST_PURCHASE_DAYS * DAY
    conform = onb["path"] == 0
    ltr = {k: scale_pmf(0, 10, m, fx.LTR_CONCENTRATION) for k, m in fx.ONB_LTR_MEAN.items()}
    return {
        "unit": f"customer with a /signup hit at least {fx.FIRST_PURCHASE_DAYS} days before the end",
        "exposure": "deviate = no /verify-email hit, or the first /profile hit before the first /verify-email hit",
        "outcome": f"an order (orders.parquet, any channel) within {fx.FIRST_PURCHASE_DAYS} days after the "
                   "/signup hit; onboarding NPS = nps_survey rows with touchpoint ONB",
        "planted": {"paths": fx.ONBOARDING_PATH, "first_attempt_rate": fx.FIRST_ATTEMPT_P,
                    "onboarding_ltr_mean": fx.ONB_LTR_MEAN,
                    "onboarding_nps": {k: _r(_nps(p), 2) for k, p in ltr.items()}},
        "expected": {"first_purchase_rate": {"conform": _r(p_first[pop & conform].mean()),
                                             "deviate": _r(p_first[pop & ~conform].mean())},
                     "n_conform": int((pop & conform).sum()), "n_deviate": int((pop & ~conform).sum())},
    }


def _e8(world: dict) -> dict:
    a = world["case_answers"]
    lang = {"nps": world["nps"]["comment_language"], "csat": a["comment_language"][a["csat"]],
            "ces": a["comment_language"][~a["csat"]]}
    return {
        "unit": "non-empty comment (nps comment, csat/ces verbatim)",
        "measure": "a theme is present when its case-insensitive regular expression matches",
        "planted": {k: {**v, "pattern": PATTERNS[k]} for k, v in fx.THEMES.items()},
        "comment_rate": fx.COMMENT_RATE, "pii_rate": fx.PII_RATE,
        "languages": {"share": {"en": round(1 - NL_SHARE, 4), "nl": NL_SHARE},
                      "rule": "each comment is Dutch with probability nl, at random and independent of every cause; "
                              "Dutch phrases carry the same themes (the same patterns match) and sentiment",
                      "n_comments": {k: {c: int((v == c).sum()) for c in ("en", "nl")} for k, v in lang.items()}},
    }


def _e9(world: dict) -> dict:
    cart, co = world["carts"], world["carts"]["checkout"]
    diff = fx.RETURN_P["reminded"] - fx.RETURN_P["not_reminded"]
    return {
        "unit": "abandoned cart: a browse session of an opted-in customer ending with a /cart hit",
        "rule": {"trigger": f"view_cart, then no event of the customer for {fx.IDLE_HOURS} h",
                 "action": "email_sent (campaign CMP-CART, 'Your cart is waiting') within 48 h of the trigger",
                 "outcome": f"checkout_confirmed within {fx.RETURN_DAYS} days"},
        "assignment": "the reminder goes to a random half of the abandoned carts (a randomised action)",
        "planted": {"cart_rate_per_year": fx.CART_RATE, "reminder_share": fx.REMINDER_SHARE,
                    "reminder_delay_hours": list(fx.REMINDER_DELAY_HOURS), "idle_hours": fx.IDLE_HOURS,
                    "return_days": fx.RETURN_DAYS, "return_checkout_rate": fx.RETURN_P,
                    "return_rate_diff": _r(diff)},
        "expected": {"n_carts": int(cart["cust"].size), "n_reminded": int(cart["reminded"].sum()),
                     "return_p_complete": _r(co["p_complete"].mean()),
                     "confirmed_rate_diff": _r(diff * co["p_complete"].mean())},
    }
