"""The planted effects: every size the demo generator plants, declared once.

The generators read these constants, `truth.py` reports them (and the expectations they imply)
in truth.json, and data/README.md documents them. Change a size here and all three follow.
Probabilities are per unit named in the comment; score means are exact expectations of the
beta-binomial score distributions in `surveys.py`.
"""

from __future__ import annotations

# --- E1 app -> phone switch during checkout (unit: checkout attempt = session with /checkout/start)
PAY_REACH = {"desktop": 0.85, "mobile": 0.78, "app": 0.80}  # P(/checkout/payment | start)
APP_SWITCH_RATE = 0.12  # P(customer phones before confirming | app checkout attempt)
SWITCH_PENALTY = 0.20  # completion points lost by app attempts with a phone switch
SWITCH_WINDOW_HOURS = 2  # a call counts as a switch if opened within this time after the start

# --- E6 drift of the payment step (unit: checkout session reaching /checkout/payment)
PAYMENT_DROP_BEFORE = 0.10  # P(no /checkout/confirmed | payment), sessions starting before drift
PAYMENT_DROP_AFTER = 0.22  # the same in the last DRIFT_MONTHS months before end_date
DRIFT_MONTHS = 6

# --- E2 late delivery (unit: NPS answer after a delivery)
LATE_DAYS = 3  # "late" means days_late > LATE_DAYS
DAYS_LATE = {-1: 0.05, 0: 0.75, 1: 0.05, 2: 0.04, 3: 0.03,
             4: 0.025, 5: 0.02, 6: 0.015, 7: 0.01, 8: 0.005, 10: 0.005}
LOOKBACK_DAYS = 60  # the delivery an NPS answer follows: the latest within this many days
LTR_MEAN = {"on_time": 7.6, "late": 6.6}  # mean likelihood-to-recommend, 0-10
# E2 drift: from the drift date (E6's) on, this share of parcels (by order time) arrives DRIFT_EXTRA_DAYS later
# than DAYS_LATE says: on-time (days_late <= 0) 80 % -> 68 %, late (> LATE_DAYS) 8 % -> 21 %
LATE_DRIFT_SHARE = 0.15
DRIFT_EXTRA_DAYS = 4
LTR_CONCENTRATION = 3.0

# --- E3 repeat contact and E4 channel switch within a case (unit: answered CSAT / CES survey)
REPEAT_DAYS = 7  # a case opened at most this many days after the previous case ended
FOLLOW_UP_P = 0.18  # P(a closed case gets a follow-up within REPEAT_DAYS): the repeat contacts
FOLLOW_UP_P_DRIFT = 0.30  # E3 drift: the same for cases closed from the drift date (E6's) on
CASE_SWITCH_RATE = 0.12  # P(case changes channel), independent of everything else
CSAT_MEAN = 4.2  # no repeat, no switch; 1-5, higher is better
CSAT_REPEAT = -1.0
CSAT_SWITCH = -0.8
CES_MEAN = 2.6  # no repeat, no switch; 1-7, LOWER is better (effort)
CES_REPEAT = +1.0
CES_SWITCH = +1.4
SCORE_CONCENTRATION = 4.0
TRANSFER_RATE = 0.25  # department hand-offs: a null control, no effect on any score

# --- E5 persona "traditional" (born before TRADITIONAL_BEFORE)
TRADITIONAL_BEFORE = 1960
CHANNEL_P = {"traditional": {"phone": 0.60, "store": 0.15, "online": 0.25},  # per purchase intent
             "other": {"phone": 0.05, "store": 0.15, "online": 0.80}}
PHONE_BROWSE_P = {"traditional": 0.90, "other": 0.30}  # desktop session before a phone order
DEVICE_P = {"traditional": (0.85, 0.13, 0.02),  # desktop, mobile, app per session
            "app_user": (0.15, 0.25, 0.60),
            "web_user": (0.50, 0.50, 0.00)}
APP_USER_SHARE = 0.45  # of the non-traditional customers

# --- E7 onboarding vs the designed journey (unit: customer who signed up in the window)
ONBOARDING_PATH = {"conform": 0.70, "skip_verify": 0.18, "out_of_order": 0.12}
FIRST_ATTEMPT_P = {"conform": 0.60, "deviate": 0.35}  # P(checkout/phone/store attempt <= 30 d)
FIRST_PURCHASE_DAYS = 30
ONBOARDING_SURVEY_DAYS = 14
ONB_LTR_MEAN = {"conform": 8.0, "deviate": 7.0}

# --- E8 comment themes: P(theme | comment written), for the cause group vs everyone else
THEMES = {
    "late_delivery": {"cause": "NPS answer whose delivery was late (E2)", "rate": 0.55, "base": 0.03},
    "repeat_contact": {"cause": "CSAT/CES answer on a repeat case (E3)", "rate": 0.50, "base": 0.04},
    "app_payment": {"cause": "CSAT/CES answer on an app-checkout call (E1)", "rate": 0.55, "base": 0.01},
    "price_value": {"cause": "NPS answer with value item <= 2", "rate": 0.50, "base": 0.06},
    "friendly_staff": {"cause": "CSAT >= 4 or CES <= 2", "rate": 0.30, "base": 0.05},
    "verification": {"cause": "onboarding NPS answer of a customer who skipped /verify-email (E7)",
                     "rate": 0.35, "base": 0.01},
}
COMMENT_RATE = {"nps": 0.55, "csat": 0.50, "ces": 0.45}  # P(free text | answer)
PII_RATE = 0.02  # P(a comment carries a fake e-mail address or phone number)

# --- E9 abandoned cart and the reminder e-mail (unit: abandoned cart = a browse session ending at /cart)
CART_RATE = 0.6  # abandoned-cart sessions per opted-in customer-year
REMINDER_SHARE = 0.5  # of abandoned carts get the "Your cart is waiting" e-mail, at random
REMINDER_DELAY_HOURS = (24, 48)  # the e-mail is sent this long after the /cart hit
IDLE_HOURS = 24  # the rule's trigger: no event of the customer for this long after the /cart hit
RETURN_DAYS = 7  # the outcome window, counted from the /cart hit
RETURN_P = {"reminded": 0.30, "not_reminded": 0.10}  # P(checkout attempt in the browser within RETURN_DAYS)
