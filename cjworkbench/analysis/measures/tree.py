"""`kpi_tree_table`: per touchpoint, a customer KPI beside the operational KPIs that drive it, each
with its value and change (the scorecard), and their relation over the last periods: the Pearson
correlation of the two KPIs' per-period values with a seeded bootstrap interval (periods
resampled), and the OLS slope. So "checkout abandonment rose while checkout time rose" is one row.

The tree comes from `tree=` (a list of {touchpoint, customer, drivers, filters}), from a KPI map
(`kpi_map=`, the `designed/kpi_map.yml` format: its customer and operational KPIs are mapped to
the catalogue by KPI_MAP_NAMES, its attributes and costs become options), else DEFAULT_TREE.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pandas as pd

from ...scope import as_filters, definition
from ..design.kpis import load_kpi_map
from .catalogue import CATALOGUE
from .kpis import MeasureError, check_kpis, context
from .scorecard import scorecard_table

DEFAULT_TREE = [
    {"touchpoint": "web shop", "customer": "checkout_abandonment", "drivers": ["checkout_time", "bounce_rate"]},
    {"touchpoint": "web shop", "customer": "conversion_rate", "drivers": ["checkout_time", "bounce_rate"]},
    {"touchpoint": "e-mail", "customer": "click_through_rate", "drivers": ["open_rate"]},
    {"touchpoint": "contact centre", "customer": "csat",
     "drivers": ["repeat_contact_rate", "first_contact_resolution", "handle_time", "wait_time", "resolution_time"]},
    {"touchpoint": "contact centre", "customer": "ces",
     "drivers": ["repeat_contact_rate", "first_contact_resolution", "handle_time", "wait_time", "resolution_time"]},
    {"touchpoint": "delivery", "customer": "nps", "drivers": ["on_time_delivery", "delivery_lead_time"]},
    {"touchpoint": "onboarding", "customer": "onboarding_completion", "drivers": ["onboarding_time"]},
]
KPI_MAP_NAMES = {"conversion": "conversion_rate", "nps": "nps", "csat": "csat", "ces": "ces",
                 "handling_time": "handle_time", "wait_time": "wait_time", "cost_per_contact": "cost_per_contact",
                 "first_contact_resolution": "first_contact_resolution"}
COLUMNS = ["touchpoint", "customer_kpi", "operational_kpi", "customer_estimate", "customer_change",
           "customer_better", "operational_estimate", "operational_change", "operational_better", "n_periods",
           "estimate", "low", "high", "p_value", "slope", "statement"]


def _throughput(spec: dict, roles: dict) -> str | None:
    """The catalogue KPI a KPI map's throughput_time stands for, judged by the roles of its activities."""
    def has(role, key):
        acts = set(map(str, spec.get(key) or [])) if isinstance(spec.get(key), list) else {str(spec.get(key))}
        return roles.get(role) is not None and bool(acts & set(roles[role].get("activity", [])))
    if has("delivered", "to"):
        return "delivery_lead_time"
    if has("onboarding_start", "from") or has("onboarding_done", "to"):
        return "onboarding_time"
    if has("contact", "from"):
        return "resolution_time"
    return None


def tree_from_kpi_map(kpi_map, roles: dict) -> tuple[list[dict], dict, dict]:
    """(tree, options, notes) from a KPI map: nodes, the attributes / costs / days it configures, and
    what it asks for that the library does not define."""
    m = load_kpi_map(kpi_map)
    tree, opts, notes = [], {"attributes": {}}, {}
    for tp in m["touchpoints"]:
        op = tp["operational_kpis"]
        drivers = []
        for k, spec in op.items():
            name = _throughput(spec, roles) if k == "throughput_time" else KPI_MAP_NAMES.get(k)
            if name is None:
                notes[f"{tp['name']}: {k}"] = "not a KPI of the library (or its activities match no role)"
                continue
            drivers.append(name)
            if k in ("handling_time", "wait_time"):
                opts["attributes"]["handle_seconds" if k == "handling_time" else "wait_seconds"] = spec["attribute"]
            if k == "cost_per_contact":
                opts["costs"] = {x: float(spec[x]) for x in ("fixed", "per_hour") if x in spec}
            if k == "first_contact_resolution" and spec.get("days"):
                opts["days"] = spec["days"]
        for k, spec in tp["customer_kpis"].items():
            filters = {"touchpoint": spec.get("feedback_touchpoint", tp["name"])} if k in ("nps", "csat", "ces") else {}
            tree.append({"touchpoint": tp["name"], "customer": KPI_MAP_NAMES[k], "drivers": drivers, "filters": filters})
    return tree, opts, notes


def _check_tree(tree) -> list[dict]:
    if not isinstance(tree, list) or not all(isinstance(n, dict) for n in tree):
        raise MeasureError("tree must be a list of {touchpoint, customer, drivers, filters} dicts, got "
                           f"{type(tree).__name__}.")
    for n in tree:
        check_kpis([n.get("customer")] + list(n.get("drivers") or []))
    return tree


def correlation(x, y, *, n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple:
    """(r, low, high, p_value, slope of y on x) over paired values; the interval is the percentile
    bootstrap of r with the pairs resampled (seeded); NaN below four pairs or without variation."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    nan = (math.nan,) * 5
    if len(x) < 4 or x.std() == 0 or y.std() == 0:
        return nan
    r = float(np.corrcoef(x, y)[0, 1])
    slope = float(np.polyfit(x, y, 1)[0])
    from scipy import stats
    t = r * math.sqrt((len(x) - 2) / max(1e-12, 1 - r * r))
    p = float(2 * stats.t.sf(abs(t), len(x) - 2))
    if n_resamples == 0:   # point estimates only: no interval
        return r, math.nan, math.nan, p, slope
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_resamples, len(x)))
    xs, ys = x[idx], y[idx]
    xc, yc = xs - xs.mean(1, keepdims=True), ys - ys.mean(1, keepdims=True)
    den = np.sqrt((xc ** 2).sum(1) * (yc ** 2).sum(1))
    rs = np.where(den > 0, (xc * yc).sum(1) / np.where(den > 0, den, 1), np.nan)
    a = (1 - level) / 2
    low, high = np.nanquantile(rs, [a, 1 - a])
    return r, float(low), float(high), p, slope


def _values(trend, n: int) -> np.ndarray:
    """A KPI's trend as n floats (an unavailable KPI has none: all NaN)."""
    values = np.asarray(trend if isinstance(trend, (list, tuple)) and len(trend) == n else [math.nan] * n, float)
    return values


def _moved(row) -> str:
    if not row["available"]:
        return f"{row['label']} is not available ({row['reason']})"
    c = row["change"]
    if c != c:
        return f"{row['label']} has no change to show"
    scale, unit = (100, " points") if row["unit"] == "%" else (1, f" {row['unit']}" if row["unit"] != "score" else "")
    verb = "rose" if c > 0 else "fell" if c < 0 else "held"
    return f"{row['label']} {verb} ({c * scale:+.3g}{unit})"


def kpi_tree_table(con, *, tree=None, kpi_map=None, roles=None, attributes=None, filters=None,
                   period: str = "month", as_of=None, trend_periods: int = 12, n_resamples: int = 1000,
                   seed: int = 0, level: float = 0.95, **options) -> pd.DataFrame:
    """One row per (touchpoint, customer KPI, operational KPI): both KPIs' value and change against the
    previous period (scorecard_table), and their relation across the last `trend_periods` periods:
    correlation (`estimate`, bootstrap `low` / `high` over `n_resamples` resamples of the periods (0: none),
    `p_value`) and `slope` (customer KPI per unit of the operational KPI). An association over
    periods, not a causal effect."""
    if not isinstance(n_resamples, int) or isinstance(n_resamples, bool) or n_resamples < 0:
        raise MeasureError(f"n_resamples must be a whole number ≥ 0 (0: no interval), got {n_resamples!r}.")
    notes = {}
    if tree is None and kpi_map is not None:
        ctx, _, _ = context(con, roles=roles, attributes=attributes, filters=filters)
        tree, opts, notes = tree_from_kpi_map(kpi_map, ctx.roles)
        attributes = {**opts.pop("attributes"), **(attributes or {})}
        options = {**opts, **options}
    tree = _check_tree(DEFAULT_TREE if tree is None else tree)
    common = dict(roles=roles, attributes=attributes, period=period, as_of=as_of, trend_periods=trend_periods,
                  level=level, **options)
    base = as_filters(filters)
    cards = {}   # one scorecard per distinct filter set, holding every KPI asked under it

    def card(extra: dict, names: list[str]):
        key = repr(sorted(extra.items()))
        cards.setdefault(key, (extra, set()))[1].update(names)
        return key
    plan = [(node, card(node.get("filters") or {}, [node["customer"]]), card({}, node.get("drivers") or []))
            for node in tree]
    got = {key: scorecard_table(con, kpis=sorted(names), filters=as_filters({**asdict(base), **extra}),
                                **common).set_index("kpi")
           for key, (extra, names) in cards.items() if names}
    rows = []
    for node, ckey, okey in plan:
        cust = got[ckey].loc[node["customer"]]
        for d in node.get("drivers") or [None]:
            o = got[okey].loc[d] if d else None
            x, y = _values(o["trend"] if d else [], trend_periods), _values(cust["trend"], trend_periods)
            r, low, high, p, slope = correlation(x, y, n_resamples=n_resamples, seed=seed,
                                                 level=level) if d else (math.nan,) * 5
            pairs = ~(np.isnan(x) | np.isnan(y)) if d else np.zeros(0, bool)
            rows.append({"touchpoint": node["touchpoint"], "customer_kpi": node["customer"], "operational_kpi": d,
                         "customer_estimate": cust["estimate"], "customer_change": cust["change"],
                         "customer_better": cust["better"],
                         "operational_estimate": o["estimate"] if d else math.nan,
                         "operational_change": o["change"] if d else math.nan,
                         "operational_better": o["better"] if d else None, "n_periods": int(pairs.sum()),
                         "estimate": r, "low": low, "high": high, "p_value": p, "slope": slope,
                         "statement": (f"{_moved(cust)} while {_moved(o)}" if d else
                                       f"{_moved(cust)}; no operational KPI of the library is linked to it")
                                      + (f"; over {trend_periods} periods r = {r:+.2f}" if r == r else "")
                                      + (f" ({level:.0%} CI {low:+.2f} to {high:+.2f})" if low == low else "")})
    df = pd.DataFrame(rows, columns=COLUMNS)
    return definition(df, analysis="KPI tree", period=period, as_of=next(iter(got.values())).attrs["definition"]["as_of"] if got
                      else None, relation="Pearson correlation of the two KPIs' values per period over the last "
                      f"{trend_periods} periods; " + (f"percentile bootstrap interval, {n_resamples} resamples of "
                      f"the periods (seed {seed})" if n_resamples else "no interval (n_resamples=0: point estimates "
                      "and the t-test p-value only)") + "; slope: OLS of the customer KPI on the operational KPI",
                      kpis={n: CATALOGUE[n].definition for n in {d for x in tree for d in [x["customer"], *(x.get("drivers") or [])]}},
                      not_in_library=notes or None, level=level)
