"""The KPI map: touchpoints linked to customer KPIs and operational KPIs, and how they relate.

A YAML (`cjworkbench/demo/kpi_map.yml`) lists touchpoints; each says which events belong to it
(`match` on canonical columns), its unit (`journey`: case / session / order id, or `customer`),
optional labels (`need`, `value_driver`), and which KPIs to compute from the canonical tables.
KPI names have one fixed meaning each (KPI_RULES, copied into every result's definition).
`relations` pair an operational KPI per journey with a customer KPI of the same journey's
feedback and estimate the slope by OLS with HC3 robust standard errors.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd
from ...designs.reader import read_yaml

from ...errors import KpiMapError, WorkbenchError, did_you_mean, one_of  # noqa: F401  (re-exported)
from ...scope import EVENT_RULE, FEEDBACK_RULE, _strs, definition, epoch, scope

MATCH_COLUMNS = ("touchpoint", "channel", "department", "device", "stage", "activity", "source")
CUSTOMER_KPIS = {"conversion": ("activity",), "nps": ("feedback_touchpoint",), "csat": ("feedback_touchpoint",),
                 "ces": ("feedback_touchpoint",)}
OPERATIONAL_KPIS = {"handling_time": ("attribute",), "wait_time": ("attribute",), "cost_per_contact": ("fixed", "per_hour"),
                    "backlog": ("closed",), "first_contact_resolution": ("resolved", "days"),
                    "throughput_time": ("from", "to"), "handoffs": ("activity",)}
TOUCHPOINT_KEYS = ("name", "match", "unit", "need", "value_driver", "customer_kpis", "operational_kpis")
PER = {"second": 1, "minute": 60, "hour": 3_600, "day": 86_400, "unit": 1}
KPI_RULES = {
    "conversion_rate": "share of the touchpoint's journeys with an event of `activity`",
    "nps": "% promoters (9-10) - % detractors (0-6) of nps answers whose feedback touchpoint is the KPI's "
           "feedback_touchpoint (default: the touchpoint's name)",
    "csat_mean": "mean csat score of the touchpoint's answers", "ces_mean": "mean ces score (effort) of its answers",
    "handling_seconds": "mean per journey of the sum of the events' `attribute` (e.g. handle_s); journeys "
                        "without a numeric value are left out",
    "wait_seconds": "mean per journey of the sum of the events' `attribute` (e.g. wait_s), as handling_seconds",
    "cost_per_contact": "mean per journey of fixed + per_hour x handling hours (no handling value: 0 hours)",
    "backlog": "journeys with no `closed` event (open at the end of the data)",
    "fcr_rate": "journeys with a `resolved` event and no next journey of the customer at this touchpoint "
                "within `days` after its last event, among journeys whose window is complete",
    "throughput_seconds": "median per journey of seconds from the first `from` event (default: first event) "
                          "to the first `to` event (default: last event); negative spans left out",
    "handoffs_per_journey": "mean number of `activity` events per journey",
}


def load_kpi_map(kpi_map) -> dict:
    """The KPI map as a checked dict, from a YAML path or a loaded mapping."""
    kpi_map = read_yaml(kpi_map, error=KpiMapError, what="KPI map", example="kpi_map.yml")
    if not isinstance(kpi_map, dict) or not isinstance(kpi_map.get("touchpoints"), list):
        raise KpiMapError("A KPI map needs a list under 'touchpoints'; see cjworkbench/demo/kpi_map.yml.")
    _keys(kpi_map, ("version", "title", "description", "touchpoints", "relations"), "the KPI map")
    tps = [_touchpoint(tp, i) for i, tp in enumerate(kpi_map["touchpoints"], 1)]
    names = [tp["name"] for tp in tps]
    if len(set(names)) < len(names):
        raise KpiMapError(f"Touchpoint names must be unique, got {names}.")
    rel = [_relation(r, {tp["name"]: tp for tp in tps}) for r in kpi_map.get("relations") or []]
    return {"touchpoints": tps, "relations": rel}


def _touchpoint(tp, i: int) -> dict:
    if not isinstance(tp, dict) or not tp.get("name") or not isinstance(tp.get("match"), dict) or not tp["match"]:
        raise KpiMapError(f"Touchpoint {i} needs a name and a match mapping, e.g. {{touchpoint: contact centre}}.")
    where = f"touchpoint '{tp['name']}'"
    _keys(tp, TOUCHPOINT_KEYS, where)
    _keys(tp["match"], MATCH_COLUMNS, f"{where} match")
    if tp.get("unit", "journey") not in ("journey", "customer"):
        raise KpiMapError(f"{where}: " + one_of("unit", tp["unit"], ("journey", "customer")))
    out = {**tp, "name": str(tp["name"]), "unit": tp.get("unit", "journey")}
    for side, allowed in (("customer_kpis", CUSTOMER_KPIS), ("operational_kpis", OPERATIONAL_KPIS)):
        kpis = tp.get(side) or {}
        _keys(kpis, allowed, f"{where} {side}")
        out[side] = {k: (v if isinstance(v, dict) else {}) for k, v in kpis.items()}
        for k, v in out[side].items():
            _keys(v, allowed[k], f"{where} {side}.{k}")
    needs = {"conversion": "activity", "handoffs": "activity", "handling_time": "attribute", "wait_time": "attribute",
             "backlog": "closed", "first_contact_resolution": "resolved"}
    for k, key in needs.items():
        spec = out["customer_kpis"].get(k, out["operational_kpis"].get(k))
        if spec is not None and not spec.get(key):
            raise KpiMapError(f"{where}: {k} needs `{key}`, e.g. {k}: {{{key}: {EXAMPLES[key]}}}.")
    return out


EXAMPLES = {"activity": "checkout_confirmed", "attribute": "handle_s", "closed": "case_closed", "resolved": "case_resolved"}


def _relation(r, tps: dict) -> dict:
    if not isinstance(r, dict):
        raise KpiMapError(f"A relation must be a mapping {{touchpoint, x, y, per}}, got {r!r}.")
    _keys(r, ("touchpoint", "x", "y", "per", "name"), "a relation")
    if r.get("touchpoint") not in tps:
        raise KpiMapError("relation: " + one_of("touchpoint", r.get("touchpoint"), tps))
    tp = tps[r["touchpoint"]]
    xs = [k for k in tp["operational_kpis"] if k != "backlog"]
    if r.get("x") not in xs:
        raise KpiMapError(f"relation on '{tp['name']}': x must be an operational KPI it defines per journey; "
                          + one_of("x", r.get("x"), xs))
    ys = [k for k in tp["customer_kpis"] if k != "conversion"]
    if r.get("y") not in ys:
        raise KpiMapError(f"relation on '{tp['name']}': y must be a score KPI it defines; " + one_of("y", r.get("y"), ys))
    if r.get("per", "unit") not in PER:
        raise KpiMapError("relation: " + one_of("per", r.get("per"), PER))
    return {"per": "unit", **r}


def _keys(doc, allowed, where: str) -> None:
    if not isinstance(doc, dict):
        raise KpiMapError(f"{where} must be a mapping, got {doc!r}.")
    for key in doc:
        if key not in allowed:
            raise KpiMapError(f"Unknown key '{key}' in {where}. Expected one of: {', '.join(allowed)}."
                              + did_you_mean(str(key), list(allowed)))


def _num(ev: ir.Table, attribute: str) -> ir.FloatingValue:
    return ev.attributes[str(attribute)].try_cast("float64")


def journeys(con, tp: dict, filters=None) -> ir.Table:
    """One row per journey of the touchpoint with its per-journey operational values."""
    ev = scope(con, filters, unit=tp["unit"]).events()
    for col, value in tp["match"].items():
        ev = ev.filter(ev[col].isin(_strs(value)))
    op, cu = tp["operational_kpis"], tp["customer_kpis"]
    aggs = {"customer_id": ev.customer_id.min(), "first_ts": ev.event_ts.min(), "last_ts": ev.event_ts.max()}
    if "conversion" in cu:
        aggs["converted"] = ev.count(where=ev.activity.isin(_strs(cu["conversion"]["activity"]))) > 0
    for k in ("handling_time", "wait_time"):
        if k in op:
            aggs[k] = _num(ev, op[k]["attribute"]).sum()
    if "throughput_time" in op:
        spec = op["throughput_time"]
        aggs["from_ts"] = ev.event_ts.min(where=ev.activity.isin(_strs(spec["from"]))) if spec.get("from") else \
            ev.event_ts.min()
        aggs["to_ts"] = ev.event_ts.min(where=ev.activity.isin(_strs(spec["to"]))) if spec.get("to") else \
            ev.event_ts.max()
    for k, flag in (("backlog", "closed"), ("first_contact_resolution", "resolved")):
        if k in op:
            aggs[flag] = ev.count(where=ev.activity.isin(_strs(op[k][flag]))) > 0
    if "handoffs" in op:
        aggs["handoffs"] = ev.count(where=ev.activity.isin(_strs(op["handoffs"]["activity"])))
    j = ev.group_by("journey_key").aggregate(**aggs)
    return _journey_values(con, j, op)


def _journey_values(con, j: ir.Table, op: dict) -> ir.Table:
    if "throughput_time" in op:
        span = epoch(j.to_ts) - epoch(j.from_ts)
        j = j.mutate(throughput_time=ibis.cases((span >= 0, span), else_=ibis.null("float64")))
    if "cost_per_contact" in op:
        c = op["cost_per_contact"]
        hours = j.handling_time.fill_null(0) / 3600 if "handling_time" in op else ibis.literal(0.0)
        j = j.mutate(cost_per_contact=float(c.get("fixed", 0)) + float(c.get("per_hour", 0)) * hours)
    if "first_contact_resolution" in op:
        limit = float(op["first_contact_resolution"].get("days", 7)) * 86_400
        nxt = j.first_ts.lead().over(ibis.window(group_by="customer_id", order_by=["first_ts", "journey_key"]))
        end = con.table("events").event_ts.max().as_scalar()
        j = j.mutate(next_ts=nxt, data_end_ts=end)
        repeat = j.next_ts.notnull() & (epoch(j.next_ts) - epoch(j.last_ts) <= limit)
        j = j.mutate(fcr_known=repeat | (epoch(j.last_ts) + limit <= epoch(j.data_end_ts)))
        j = j.mutate(first_contact_resolution=ibis.cases((j.fcr_known, (j.resolved & ~repeat).cast("float64")),
                                                         else_=ibis.null("float64")))
    return j


def nps_points(score) -> ir.FloatingValue:
    """100 for a promoter (9-10), -100 for a detractor (0-6), 0 otherwise: their mean is the NPS.
    Integer literals, then a cast: Spark reads 100.0 as a DECIMAL and would round the mean."""
    return ibis.cases((score >= 9, 100), (score <= 6, -100), else_=0).cast("float64")


def feedback(con, tp: dict, kpi: str, filters=None) -> ir.Table:
    """The touchpoint's answers in scope (FEEDBACK_RULE) for `kpi` (nps / csat / ces) with `y` (nps
    coded 100 / 0 / -100)."""
    fb = scope(con, filters).feedback(kpi, scored=True)
    ftp = tp["customer_kpis"][kpi].get("feedback_touchpoint", tp["name"])
    fb = fb.filter(fb.touchpoint.isin(_strs(ftp)))
    y = fb.score.cast("float64")
    if kpi == "nps":
        y = nps_points(fb.score)
    return fb.mutate(y=y)


_F = ibis.dtype("float64")
_I = ibis.dtype("int64")
MAP_COLUMNS = {"n_journeys": _I, "n_customers": _I, "conversion_rate": _F, "n_nps": _I, "nps": _F, "n_csat": _I,
               "csat_mean": _F, "n_ces": _I, "ces_mean": _F, "handling_seconds": _F, "wait_seconds": _F,
               "cost_per_contact": _F, "backlog": _I, "n_fcr": _I, "fcr_rate": _F, "throughput_seconds": _F,
               "handoffs_per_journey": _F}


def _row(con, tp: dict, filters) -> ir.Table:
    j = journeys(con, tp, filters)
    op, cu = tp["operational_kpis"], tp["customer_kpis"]
    v = {"n_journeys": j.count(), "n_customers": j.customer_id.nunique()}
    if "conversion" in cu:
        v["conversion_rate"] = j.converted.cast("float64").mean()
    for k, col in (("handling_time", "handling_seconds"), ("wait_time", "wait_seconds"),
                   ("cost_per_contact", "cost_per_contact"), ("handoffs", "handoffs_per_journey")):
        if k in op:
            v[col] = j[k].cast("float64").mean()
    if "backlog" in op:
        v["backlog"] = j.count(where=~j.closed)
    if "first_contact_resolution" in op:
        v |= {"n_fcr": j.first_contact_resolution.count(), "fcr_rate": j.first_contact_resolution.mean()}
    if "throughput_time" in op:
        v["throughput_seconds"] = j.throughput_time.median()
    row = j.aggregate(**v)
    for kpi, col in (("nps", "nps"), ("csat", "csat_mean"), ("ces", "ces_mean")):
        if kpi in cu:
            fb = feedback(con, tp, kpi, filters)
            row = row.cross_join(fb.aggregate(**{f"n_{kpi}": fb.count(), col: fb.y.mean()}))
    cols = {c: (row[c].cast(t) if c in row.columns else ibis.null(t)) for c, t in MAP_COLUMNS.items()}
    return row.select(touchpoint=ibis.literal(tp["name"]), need=ibis.literal(str(tp.get("need") or "")),
                      value_driver=ibis.literal(str(tp.get("value_driver") or "")), **cols)


def kpi_map_table(con, *, kpi_map, filters=None) -> pd.DataFrame:
    """One row per touchpoint of the map: its customer KPIs and operational KPIs side by side
    (NULL where the map does not ask for a KPI). Journeys follow EVENT_RULE, answers
    FEEDBACK_RULE (the same answers every VoC table counts)."""
    m = load_kpi_map(kpi_map)
    rows = [_row(con, tp, filters) for tp in m["touchpoints"]]
    df = ibis.union(*rows).execute() if len(rows) > 1 else rows[0].execute()
    order = {tp["name"]: i for i, tp in enumerate(m["touchpoints"])}
    df = df.sort_values("touchpoint", key=lambda s: s.map(order), ignore_index=True)
    return definition(df, analysis="kpi map", kpis=KPI_RULES, units={tp["name"]: tp["unit"] for tp in m["touchpoints"]},
                      match={tp["name"]: tp["match"] for tp in m["touchpoints"]}, filters=scope(con, filters).describe(),
                      filter_rules={"journeys": EVENT_RULE, "feedback": FEEDBACK_RULE})


def kpi_relation_table(con, *, kpi_map, filters=None, level: float = 0.95) -> pd.DataFrame:
    """Per relation of the map: the OLS slope of the customer KPI (one row per answer, nps as
    100 / 0 / -100 so the slope is in NPS points) on the operational KPI of the journey the
    answer is about (feedback.journey_id, or the customer for customer-unit touchpoints), per
    `per` unit, with an HC3 robust interval. An association, not a causal effect."""
    import statsmodels.api as sm

    m = load_kpi_map(kpi_map)
    tps = {tp["name"]: tp for tp in m["touchpoints"]}
    parts = []
    for i, r in enumerate(m["relations"]):
        tp = tps[r["touchpoint"]]
        j = journeys(con, tp, filters)
        fb = feedback(con, tp, r["y"], filters)
        link = "journey_id" if tp["unit"] == "journey" else "customer_id"
        answers = fb.select(key=fb[link], y=fb.y)
        pair = j.join(answers, j.journey_key == answers.key)
        pair = pair.filter(pair[r["x"]].notnull())
        parts.append(pair.select(relation=ibis.literal(i), x=pair[r["x"]].cast("float64") / PER[r["per"]], y=pair.y))
    if not parts:
        raise KpiMapError("The KPI map has no relations; add e.g. {touchpoint: contact centre, x: wait_time, "
                          "per: minute, y: csat} under relations.")
    data = (ibis.union(*parts) if len(parts) > 1 else parts[0]).execute()
    rows = [_ols(r, data[data.relation == i], level, sm) for i, r in enumerate(m["relations"])]
    return definition(pd.DataFrame(rows), analysis="kpi relations", level=level, kpis=KPI_RULES,
                      model="y = intercept + slope * x / per, OLS with HC3 standard errors; one row per answer; "
                            "nps answers coded 100 (9-10), 0 (7-8), -100 (0-6) so the slope is in NPS points",
                      filters=scope(con, filters).describe(),
                      filter_rules={"journeys": EVENT_RULE, "feedback": FEEDBACK_RULE})


def _ols(r: dict, d: pd.DataFrame, level: float, sm) -> dict:
    out = {"name": r.get("name") or f"{r['x']} vs {r['y']}", "touchpoint": r["touchpoint"], "x": r["x"],
           "per": r["per"], "y": r["y"], "n_answers": len(d)}
    nan = float("nan")
    if len(d) < 3 or d.x.nunique() < 2:
        return out | dict(slope=nan, slope_low=nan, slope_high=nan, p_value=nan, intercept=nan, r_squared=nan,
                          statement="too few answers with different x values to estimate a slope")
    fit = sm.OLS(d.y.to_numpy(float), sm.add_constant(d.x.to_numpy(float))).fit(cov_type="HC3")
    low, high = fit.conf_int(alpha=1 - level)[1]
    unit = "points of NPS" if r["y"] == "nps" else f"points of {r['y'].upper()}"
    step = {"unit": "each extra unit", "second": "each extra second", "minute": "each extra minute",
            "hour": "each extra hour", "day": "each extra day"}[r["per"]]
    return out | dict(slope=float(fit.params[1]), slope_low=float(low), slope_high=float(high),
                      p_value=float(fit.pvalues[1]), intercept=float(fit.params[0]), r_squared=float(fit.rsquared),
                      statement=f"{step} of {r['x'].replace('_', ' ')} at {r['touchpoint']} goes with "
                                f"{fit.params[1]:+.3g} {unit} ({level:.0%} CI {low:+.3g} to {high:+.3g})")
