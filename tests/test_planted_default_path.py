"""Every planted demo effect (E1-E9) through the dashboard a stakeholder opens, with its defaults
(issue #14). Each notebook is run as papermill runs it (its parameters cell, then `db` and
`interactive=False` injected), with `display` captured, so the test calls exactly the package
function and options the dashboard's view calls (`View.table(con, filters=panel.filters, **options)`).
A notebook default that changes changes what is tested. Planted sizes come from truth.json.

Effect -> view (notebook, `controls.show` table):
E1 funnels_and_gaps switch_gaps_table   E2 voc drivers_table (nps)   E3/E4 voc drivers_table
(the view's instrument choice csat / ces; the default nps view says its outcome is nps)
E2/E3 drifts overview scorecard_table (targets too)
E5 personas_and_segments personas_table E6 what_changed changes_table   E7 designed_vs_actual
deviations_table   E8 voc theme_impact_table (sign; the planted theme rates are not what it
estimates, and its definition says what it does)   E9 actions actions_table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scipy.stats import norm

import cjworkbench
from cjworkbench.controls import view as view_module

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_notebook(name: str, db) -> list:
    """The views `notebooks/<name>.py` shows with its default parameters on `db` (nothing drawn)."""
    src = (NOTEBOOKS / f"{name}.py").read_text()
    heads = re.findall(r"^# %%.*$", src, flags=re.M)
    cells = re.split(r"^# %%.*$", src, flags=re.M)[1:]
    views, ns, shown = [], {}, view_module.display
    view_module.display = views.append
    try:
        for head, cell in zip(heads, cells):
            if "[markdown]" in head:
                continue
            exec(compile(cell, f"notebooks/{name}.py", "exec"), ns)
            if "parameters" in head:   # what papermill injects after the parameters cell
                ns.update(db=str(db), interactive=False)
    finally:
        view_module.display = shown
    return views


@pytest.fixture(scope="module")
def dashboards(demo_db):
    path, truth = demo_db
    cache: dict[str, list] = {}

    def view(notebook: str, table: str):
        if notebook not in cache:
            cache[notebook] = run_notebook(notebook, path)
        found = [v for v in cache[notebook] if v.table.__name__ == table]
        assert found, f"notebooks/{notebook}.py shows no {table}: update the effect -> view map"
        return found[0]

    return view, truth


def result(view, **changed):
    """The table the dashboard's view computes (its filters and option values), `changed` options aside."""
    options = {**view._values("options"), **changed}
    return view.table(view.panel.con, filters=view.panel.filters, **options)


def inside(planted: float, row, est="estimate", low="low", high="high", level: float = 0.95) -> bool:
    """`planted` lies in the row's interval; at another `level`, the interval rescaled from its 95 % width."""
    lo, hi = float(row[low]), float(row[high])
    if level != 0.95:
        half = (hi - lo) / 2 * norm.ppf(0.5 + level / 2) / norm.ppf(0.975)
        lo, hi = float(row[est]) - half, float(row[est]) + half
    return lo <= planted <= hi


def test_e1_switch_gap_on_the_default_dashboard(dashboards):
    view, truth = dashboards
    v = view("funnels_and_gaps", "switch_gaps_table")
    df = result(v)
    row = df.set_index(["from_value", "to_value"]).loc[("app", "phone")]
    planted = truth["effects"]["E1"]["planted"]["completion_gap"]           # -0.20
    assert row.rate_diff < 0 and row.rate_diff_high < 0 and row.p_value < 1e-6
    assert inside(planted, row, "rate_diff", "rate_diff_low", "rate_diff_high"), row
    expected = truth["effects"]["E1"]["expected"]
    assert abs(row.n_with - expected["n_switch"]) <= 0.02 * expected["n_switch"] + 5
    assert abs(row.n_with + row.n_without - expected["n_attempts"]) <= 0.02 * expected["n_attempts"] + 5
    assert df.attrs["definition"]["anchor"] == "checkout_start"


def test_e2_late_delivery_in_the_nps_drivers(dashboards):
    view, truth = dashboards
    v = view("voc", "drivers_table")
    df = result(v)
    assert df.attrs["definition"]["outcome"] == "nps"
    row = df.set_index("driver").loc["late_delivery"]
    planted = truth["effects"]["E2"]["planted"]["ltr_gap"]                  # -1.0 on the 0-10 answer
    assert row.effect < 0 and row.high < 0
    assert inside(planted, row, "effect"), row


@pytest.mark.parametrize("instrument,effect,driver,key,level", [
    ("csat", "E3", "repeat_contact", "csat_gap", 0.95), ("ces", "E3", "repeat_contact", "ces_gap", 0.95),
    # E4 on CSAT: -0.47 (-0.79 to -0.16) on the 5,000-customer test set, -2.0 standard errors from
    # the planted -0.8 (the raw files give -0.52 there too, data/README.md): checked at 99 %
    ("csat", "E4", "channel_switch", "csat_gap", 0.99), ("ces", "E4", "channel_switch", "ces_gap", 0.95)])
def test_e3_e4_case_effects_in_the_drivers_view(dashboards, instrument, effect, driver, key, level):
    """The voc dashboard opens on NPS, whose drivers view states its outcome (nps): the CSAT / CES
    effects are the same view with the instrument the view's own control offers."""
    view, truth = dashboards
    v = view("voc", "drivers_table")
    offered = [value for _label, value in v.parts["options"]["outcome"].options]
    assert instrument in offered
    assert result(v).attrs["definition"]["outcome"] == "nps"
    df = result(v, outcome=instrument)
    row = df.set_index("driver").loc[driver]
    planted = truth["effects"][effect]["planted"][key]
    assert (row.effect > 0) == (planted > 0) and (row.low > 0 or row.high < 0)
    assert inside(planted, row, "effect", level=level), row


def test_e5_traditional_persona_orders_by_phone(dashboards):
    view, truth = dashboards
    v = view("personas_and_segments", "personas_table")
    df = result(v)
    rows = df[(df.persona == "traditional") & (df.measure == "purchase channel")].set_index("category")
    expected = truth["effects"]["E5"]["expected"]
    share = expected["traditional"]["phone_share_of_orders"]
    assert inside(share, rows.loc["phone"], "value"), rows.loc["phone"]
    gap = share - expected["other"]["phone_share_of_orders"]
    assert inside(gap, rows.loc["phone"], "difference", "difference_low", "difference_high")


def test_e6_payment_step_drift_in_what_changed(dashboards):
    """The default report month (the last, in the drift window) against six months earlier (before it)."""
    view, truth = dashboards
    v = view("what_changed", "changes_table")
    df = result(v)
    rows = df[(df.area == "funnel") & df["item"].str.endswith("checkout_payment → checkout_confirmed")
              & (df.baseline == "six_months")]
    assert len(rows) == 1, df[df.area == "funnel"]
    row = rows.iloc[0]
    planted = truth["effects"]["E6"]["planted"]
    assert row.significant and row.change < 0
    assert inside(planted["drop_before"] - planted["drop_after"], row, "change"), row   # -0.12 conversion


def test_e2_e3_drifts_and_targets_in_the_overview_scorecard(dashboards):
    """The overview opens with the scorecard: the last month against six months earlier (before the
    drift date) shows fewer deliveries on time (E2) and more repeat contacts (E3), both worse; the
    targets the demo's designs carry show with their gap (estimate - target)."""
    view, truth = dashboards
    card = result(view("overview", "scorecard_table")).set_index("kpi")
    on_time, repeat = card.loc["on_time_delivery"], card.loc["repeat_contact_rate"]
    drift = truth["effects"]["E2"]["drift"]["planted"]
    assert on_time.change_six_months_high < 0 and on_time.better is not True
    assert inside(drift["on_time_after"] - drift["on_time_before"], on_time, "change_six_months",
                  "change_six_months_low", "change_six_months_high", level=0.99), on_time
    assert repeat.change_six_months_low > 0
    assert on_time.target == 0.85 and on_time.target_gap == on_time.estimate - 0.85 and not on_time.target_met
    assert card.attrs["definition"]["targets_from"] == "designs: targets"


def test_e7_onboarding_deviation_costs_first_purchases(dashboards):
    view, truth = dashboards
    v = view("designed_vs_actual", "deviations_table")
    df = result(v)
    assert df.attrs["definition"]["outcome"] == "completion"
    row = df[(df.category == "any") & (df.step == "(any step)")].iloc[0]
    expected = truth["effects"]["E7"]["expected"]["first_purchase_rate"]
    gap = expected["deviate"] - expected["conform"]                          # about -0.23 (5k) / -0.20
    assert row.impact_high < 0
    assert inside(gap, row, "impact", "impact_low", "impact_high"), row


def test_e8_late_delivery_theme_in_theme_impact(dashboards):
    """Theme impact estimates how much a theme's answers pull the NPS down, not the theme's planted
    rate in its cause group (55 % of late-delivery comments vs 3 %): the sign is checked, and the
    definition says what the number is."""
    view, truth = dashboards
    v = view("voc", "theme_impact_table")
    df = result(v).set_index("theme")
    assert set(truth["effects"]["E8"]["planted"]) <= set(df.index)
    late = df.loc["late_delivery"]
    assert late.score_theme < late.score_without and late.high < 0
    assert "not mentioning the theme" in df.attrs["definition"]["impact"]


def test_e9_cart_reminder_in_the_actions_backtest(dashboards):
    view, truth = dashboards
    v = view("actions", "actions_table")
    df = result(v)
    row = df[(df.rule == "cart left idle for a day") & (df.comparison == "action vs none")].iloc[0]
    planted = truth["effects"]["E9"]["expected"]["confirmed_rate_diff"]      # +0.14
    assert row.low > 0
    assert inside(planted, row), row


def test_the_runner_reads_the_notebook_defaults(dashboards):
    """The captured views carry the notebook's own option values (not the test's)."""
    view, _truth = dashboards
    gaps = view("funnels_and_gaps", "switch_gaps_table")
    assert gaps.table is cjworkbench.switch_gaps_table
    assert gaps.panel.interactive is False and gaps._values("options")["unit"] == "session"


GAP = re.compile(r"^([+-]\d+\.\d) pts \(([+-]\d+\.\d) to ([+-]\d+\.\d)\)")


def gaps_in_svg(svg: str) -> dict[str, tuple[float, float, float]]:
    """{"app → phone": (points, low, high)} as the drawn switch-gaps chart labels them: its y-axis
    labels (the switches) and its "With minus without" text marks come in the table's order."""
    texts = [re.sub(r"<[^>]+>", "", t).replace("&gt;", ">").replace("−", "-").strip()
             for t in re.findall(r"<text\b[^>]*>(.*?)</text>", svg, flags=re.S)]
    switches = list(dict.fromkeys(t for t in texts if " → " in t))
    gaps = [tuple(map(float, m.groups())) for m in (GAP.match(t) for t in texts) if m]
    assert switches and len(gaps) == len(switches), (switches, gaps)
    return dict(zip(switches, gaps))


def test_e1_reads_right_in_the_report(demo_db, tmp_path):
    """`cjw report` (papermill, SVG) of the hand-off page on the demo: the drawn app → phone gap has the
    planted sign and its interval holds the planted size (the year to date: half the demo's sessions)."""
    import base64

    from cjworkbench import cli

    db, truth = demo_db
    out = tmp_path / "out"
    assert cli.main(["report", "--db", str(db), "--period", "year", "--as-of", "2026-06-30", "--out", str(out),
                     "--notebooks", str(NOTEBOOKS / "funnels_and_gaps.py")]) == 0
    page = (out / "2026" / "funnels_and_gaps.html").read_text()
    svgs = [base64.b64decode(b).decode() for b in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", page)]
    chart = [s for s in svgs if "With minus without" in s]
    assert len(chart) == 1
    points, low, high = gaps_in_svg(chart[0])["App → Phone"]   # channels in words
    planted = truth["effects"]["E1"]["planted"]["completion_gap"] * 100
    assert points < 0 and high < 0 and low <= planted <= high, (points, low, high)
