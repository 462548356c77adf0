"""New customers' onboarding (E7): the designed path and the ways customers deviate from it.

The design (`onboarding.yml`, shipped next to this module and copied to `designed/`) is
signup -> verify e-mail -> complete profile -> (set preferences) -> first order within 30 days.
Here 70 % follow it, 18 % never verify their e-mail address and 12 % complete the profile
before verifying. Deviating customers attempt a first purchase less often (FIRST_ATTEMPT_P)
and score the onboarding survey lower (ONB_LTR_MEAN, in `surveys.py`).
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from . import effects as fx
from .clickstream import BROWSE, MAIL_REFERRER, P, browsing, plan
from .people import pick_devices
from .timeline import DAY, HOUR, Window, after

PATHS = tuple(fx.ONBOARDING_PATH)  # conform, skip_verify, out_of_order


def design_yaml() -> str:
    """The designed onboarding journey, as written to designed/onboarding.yml."""
    return resources.files(__package__).joinpath("onboarding.yml").read_text(encoding="utf-8")


def plan_onboarding(rng, customers: dict, win: Window) -> tuple[dict, list[dict]]:
    """Each new customer's path, first-purchase attempt and onboarding sessions."""
    cust = np.flatnonzero(customers["is_new"])
    n = cust.size
    path = rng.choice(len(PATHS), n, p=list(fx.ONBOARDING_PATH.values()))
    signup = customers["signup"][cust]
    attempt_p = np.where(path == 0, fx.FIRST_ATTEMPT_P["conform"], fx.FIRST_ATTEMPT_P["deviate"])
    attempt_ts = after(rng, signup, HOUR, (fx.FIRST_PURCHASE_DAYS - 2) * DAY)
    onboarding = {"cust": cust, "path": path, "signup": signup,
                  "attempt": (rng.random(n) < attempt_p) & (attempt_ts < win.end),
                  "attempt_ts": attempt_ts}
    return onboarding, _sessions(rng, customers, onboarding)


def _sessions(rng, customers: dict, onb: dict) -> list[dict]:
    """Signup session; a session from the verification mail (or not); a late verification."""
    cust, path, signup = onb["cust"], onb["path"], onb["signup"]
    device = pick_devices(rng, customers, cust)
    prefs = rng.random(cust.size) < 0.5
    signup_session = plan(rng, cust, signup, device, "onboarding",
                          [(P["/signup"], True)] + browsing(2, rng.integers(0, 3, cust.size)))
    second_start = after(rng, signup, 120, 6 * HOUR)
    second = plan(rng, cust, second_start, device, "onboarding",
                  [(P["/verify-email"], path == 0), (P["/profile"], True), (P["/preferences"], prefs),
                   (P["/home"], True), (BROWSE, rng.random(cust.size) < .5)],
                  referrer=np.where(path == 0, MAIL_REFERRER, 0))
    late = path == 2
    third = plan(rng, cust[late], after(rng, second_start[late], 2 * HOUR, 2 * DAY), device[late],
                 "onboarding", [(P["/verify-email"], True), (P["/home"], True)], referrer=MAIL_REFERRER)
    return [signup_session, second, third]
