"""Time to event: the wrapper on the Stanford heart transplant data (shipped inside the statsmodels
wheel) loaded into a tiny DuckDB gives statsmodels' own Kaplan-Meier medians and Cox hazard ratio;
hand-checked censoring; the planted onboarding effect (E7) recovered from the demo."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight

from cjworkbench import connect
from cjworkbench.analysis.survival import hazard_table, survival_table
from cjworkbench.errors import WorkbenchError
from cjworkbench.ingest import run_ingest

from .conftest import write_config

T0 = dt.datetime(2020, 1, 1)


def _ingest(tmp_path, events, customers=None):
    lines = ["customer,ts,activity"] + [f"{c},{t.isoformat(sep=' ')},{a}" for c, t, a in events]
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    sources = [{"name": "ev", "kind": "events", "path": "events.csv", "duplicates": "keep",
                "columns": {"customer_id": "customer", "event_ts": "ts", "activity": "activity"}}]
    if customers:
        (tmp_path / "customers.csv").write_text("customer,segment\n" + "\n".join(f"{c},{s}" for c, s in customers)
                                                + "\n")
        sources.append({"name": "crm", "kind": "customers", "path": "customers.csv",
                        "columns": {"customer_id": "customer", "segment": "segment"}})
    run_ingest(write_config(tmp_path, sources), tmp_path / "db.duckdb")
    return connect(tmp_path / "db.duckdb")


@pytest.fixture(scope="module")
def heart(tmp_path_factory):
    """69 patients: 'enrolled' at T0, then 'death' (censors = 1) or 'follow_up' (censored) after
    `survival` days; segment 'age 50+' or 'under 50'."""
    d = sm.datasets.heart.load_pandas().data
    events, customers = [], []
    for i, row in d.iterrows():
        c = f"P{i:03d}"
        events.append((c, T0, "enrolled"))
        events.append((c, T0 + dt.timedelta(days=float(row.survival)), "death" if row.censors else "follow_up"))
        customers.append((c, "age 50+" if row.age >= 50 else "under 50"))
    return _ingest(tmp_path_factory.mktemp("heart"), events, customers), d


def test_km_medians_equal_statsmodels_on_the_heart_data(heart):
    con, d = heart
    df = survival_table(con, start="enrolled", event="death", censor="last_event", by="segment")
    for group, sel in (("age 50+", d.age >= 50), ("under 50", d.age < 50)):
        sf = SurvfuncRight(d.survival[sel].to_numpy(), d.censors[sel].to_numpy())
        row = df[df.group == group].iloc[0]
        assert row.median_days == pytest.approx(sf.quantile(0.5))
        with np.errstate(divide="ignore", invalid="ignore"):    # statsmodels' log of S = 1
            lo, hi = sf.quantile_ci(0.5, method="cloglog")
        assert row.median_low == pytest.approx(lo) and (np.isnan(row.median_high) if hi is None or np.isnan(hi)
                                                        else row.median_high == pytest.approx(hi))
        curve = df[df.group == group].iloc[1:]
        assert curve.estimate.to_numpy() == pytest.approx(sf.surv_prob)
        assert curve.n_at_risk.tolist() == sf.n_risk.astype(int).tolist()
    everyone = survival_table(con, start="enrolled", event="death", censor="last_event")
    assert everyone.median_days.iloc[0] == pytest.approx(SurvfuncRight(d.survival, d.censors).quantile(0.5))


def test_hazard_ratio_equals_statsmodels_on_the_heart_data(heart):
    con, d = heart
    df = hazard_table(con, start="enrolled", event="death", censor="last_event", by="segment").set_index("group")
    assert df.attrs["definition"]["reference"] == "under 50"          # the larger group (46 of 69)
    x = (d.age >= 50).astype(float).to_numpy()[:, None]
    res = PHReg(d.survival.to_numpy(), x, status=d.censors.to_numpy(), ties="breslow").fit()
    ci = np.exp(res.conf_int())
    row = df.loc["age 50+"]
    assert row.estimate == pytest.approx(np.exp(res.params[0]))
    assert (row.low, row.high) == pytest.approx((ci[0, 0], ci[0, 1]))
    assert row.p_value == pytest.approx(res.pvalues[0])
    assert 0 <= row.ph_p_value <= 1
    assert row.n_customers == 23 and row.n_events == int(d.censors[d.age >= 50].sum())
    assert df.loc["under 50", "estimate"] == 1.0


def test_censoring_rules_by_hand(tmp_path):
    # data end = day 10 (C3's last event).  C1 converts on day 2; C2 never: censored at day 10 (data end)
    # or day 4 (its own last event); C3 converts on day 10; C4 only converted BEFORE its start: censored.
    ev = [("C1", T0, "visit"), ("C1", T0 + dt.timedelta(days=2), "buy"),
          ("C2", T0, "visit"), ("C2", T0 + dt.timedelta(days=4), "visit"),
          ("C3", T0, "visit"), ("C3", T0 + dt.timedelta(days=10), "buy"),
          ("C4", T0 + dt.timedelta(days=1), "buy"), ("C4", T0 + dt.timedelta(days=2), "visit")]
    con = _ingest(tmp_path, ev)
    df = survival_table(con, start="visit", event="buy")
    # C4's clock starts at its visit on day 2. Durations: C1 2 (event), C2 10 (censored), C3 10 (event),
    # C4 8 (censored). Day 2: 1 event of 4 at risk -> 3/4; day 10: 1 of 2 -> 3/8
    steps = df[df.n_events > 0]
    assert steps.time_days.tolist() == pytest.approx([2, 10]) and steps.estimate.tolist() == pytest.approx([.75, .375])
    own = survival_table(con, start="visit", event="buy", censor="last_event")
    # censored at their own last event: C2 at 4 days, C4 at 0 days. Day 2: 1 of 3 -> 2/3; day 10: 1 of 1 -> 0
    steps = own[own.n_events > 0]
    assert steps.time_days.tolist() == pytest.approx([2, 10]) and steps.estimate.tolist() == pytest.approx([2 / 3, 0])
    churn = survival_table(con, outcome="churn", churn_days=5)
    # data end day 10: churned C1 and C4 (last event day 2: 8 days quiet), C2 (day 4: 6 days); C3 not
    assert churn.n_events.sum() == 3 and churn.attrs["definition"]["churn_days"] == 5


def test_errors_name_the_nearest_values(tmp_path):
    con = _ingest(tmp_path, [("C1", T0, "visit"), ("C1", T0 + dt.timedelta(days=1), "buy")])
    with pytest.raises(WorkbenchError, match="Did you mean 'buy'"):
        survival_table(con, event="bye")
    with pytest.raises(ValueError, match="Unknown by 'segmnt'.*Did you mean 'segment'"):
        hazard_table(con, event="buy", by="segmnt")
    with pytest.raises(ValueError, match="Unknown outcome"):
        survival_table(con, outcome="death")
    assert survival_table(con).attrs["definition"]["event"] == "buy"     # the journey's last activity


def test_planted_onboarding_effect_is_recovered(demo_db):
    """E7: customers who skip /verify-email make a first purchase within 30 days less often. The
    Kaplan-Meier share with an order 30 days after signup, 1 - S(30), holds the planted expectation
    for the deviating customers inside its interval, and the Cox hazard ratio is below 1."""
    path, truth = demo_db
    con = connect(path)
    e7 = truth["effects"]["E7"]["expected"]["first_purchase_rate"]
    df = survival_table(con, start="signup", event="order_placed", by="has:verify_email")
    without = df[(df.group == "without verify_email") & (df.time_days <= 30)].iloc[-1]
    with_ = df[(df.group == "with verify_email") & (df.time_days <= 30)].iloc[-1]
    assert 1 - without.high <= e7["deviate"] <= 1 - without.low
    assert (1 - with_.estimate) > (1 - without.high)           # the conforming majority buys sooner
    hz = hazard_table(con, start="signup", event="order_placed", by="has:verify_email").set_index("group")
    assert hz.loc["without verify_email", "high"] < 1


def test_charts_are_typed_specs(heart):
    from cjworkbench.charts import hazard_chart, survival_chart

    con, _ = heart
    s = survival_table(con, start="enrolled", event="death", censor="last_event", by="segment")
    layer = survival_chart(s).to_dict()["vconcat"][0]["layer"]
    assert layer[1]["mark"]["type"] == "line" and layer[1]["mark"]["interpolate"] == "step-after"
    assert layer[1]["encoding"]["x"]["field"] == "time_days" and layer[1]["encoding"]["y"]["type"] == "quantitative"
    h = hazard_table(con, start="enrolled", event="death", censor="last_event", by="segment")
    spec = hazard_chart(h).to_dict()
    assert spec["vconcat"][0]["layer"][1]["encoding"]["x"]["scale"]["type"] == "log"
    assert "under 50" in str(spec["vconcat"][0]["title"])
