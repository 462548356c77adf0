"""The journey engine recovers the effects planted in the demo data, inside its own intervals."""

from __future__ import annotations

import cjworkbench
from cjworkbench.analysis.gaps import switch_gaps_table


def test_app_to_phone_switch_gap_is_recovered(demo_db):
    """E1: app checkouts with a phone call complete about 20 points less often."""
    path, truth = demo_db
    con = cjworkbench.connect(path)
    planted = truth["effects"]["E1"]["planted"]["completion_gap"]
    g = switch_gaps_table(con, dimension="channel", switch=("app", "phone"), outcome_activity="checkout_confirmed",
                          unit="session", filters={"has_activity": "checkout_start",
                                                   "source": ["web", "contact_centre", "orders"]}).iloc[0]
    assert g.rate_diff_low <= planted <= g.rate_diff_high
    assert g.rate_diff_high < 0 and g.p_value < 1e-6
    expected = truth["effects"]["E1"]["expected"]
    assert abs(g.n_with - expected["n_switch"]) <= 0.02 * expected["n_switch"] + 5
    assert abs(g.n_with + g.n_without - expected["n_attempts"]) <= 0.02 * expected["n_attempts"] + 5
