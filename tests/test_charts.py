"""Charts are specs: marks, typed encodings, the definition caption and the aggregated data they
embed are checked on `to_dict()`; every chart also renders to SVG with vl-convert."""

from __future__ import annotations

import html
import json
import re

import altair as alt
import pandas as pd
import pytest
import vl_convert as vlc

import cjworkbench
from cjworkbench import charts
from cjworkbench.charts import ChartError, process_map_layout
from cjworkbench.charts.theme import MIN_N, VERDICT
from cjworkbench.errors import WorkbenchError
from cjworkbench.privacy import suppress_small

STEPS = ["view_product", "checkout_start", "checkout_payment", "checkout_confirmed"]
TIES = "Ties: events ordered by (event_ts, seq)"
MAX_ROWS = 400


# -- helpers reading a spec ------------------------------------------------------------------------

def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def marks(spec) -> set[str]:
    return {(d["mark"] if isinstance(d["mark"], str) else d["mark"]["type"]) for d in _walk(spec) if "mark" in d}


def encodings(spec) -> set[tuple[str, str, str]]:
    out = set()
    for d in _walk(spec):
        for channel, enc in (d.get("encoding") or {}).items():
            if isinstance(enc, dict) and "field" in enc:
                out.add((channel, enc["field"], enc.get("type")))
    return out


def data_rows(spec) -> list[list[dict]]:
    """Every inline dataset of the spec (Altair moves them to `datasets`)."""
    sets = list((spec.get("datasets") or {}).values())
    sets += [d["data"]["values"] for d in _walk(spec) if isinstance(d.get("data"), dict) and "values" in d["data"]]
    return sets


def caption(spec) -> str:
    title = spec["title"]
    assert title["orient"] == "bottom"
    return " ".join(title["text"])


def check(chart, *, expect_marks, expect_enc, expect_caption=(), title=None) -> dict:
    """The common contract: captioned, typed encodings, small inline data, renders to SVG."""
    assert isinstance(chart, alt.VConcatChart)
    spec = chart.to_dict()
    assert expect_marks <= marks(spec), marks(spec)
    assert expect_enc <= encodings(spec), encodings(spec)
    text = caption(spec)
    for fragment in ("Filters:", *expect_caption):
        assert fragment in text, (fragment, text)
    rows = data_rows(spec)
    assert rows and max(len(r) for r in rows) <= MAX_ROWS
    svg = vlc.vegalite_to_svg(chart.to_json())
    assert svg.lstrip().startswith("<svg") and "<text" in svg
    assert spec["title"]["text"][0] in html.unescape(svg)                  # the caption is drawn
    if title:
        assert title in json.dumps(spec)
    return spec


def chart_data(spec, column: str) -> pd.DataFrame:
    """The inline dataset holding `column`, as a frame."""
    for rows in data_rows(spec):
        if rows and column in rows[0]:
            return pd.DataFrame(rows)
    raise AssertionError(f"no dataset with {column}")


# -- the demo tables, computed once ------------------------------------------------------------------

@pytest.fixture(scope="module")
def tables(demo_db):
    path, _ = demo_db
    con = cjworkbench.connect(path, read_only=True)
    design = path.parent / "designed" / "onboarding.yml"
    gaps = dict(unit="session",
                filters={"has_activity": "checkout_start", "source": ["web", "contact_centre", "orders"]})
    out = {
        "transitions": cjworkbench.transitions_table(con),
        "step_matrix": cjworkbench.step_matrix_table(con, max_steps=8),
        "variants": cjworkbench.variants_table(con, top=10),
        "paths": cjworkbench.paths_around_table(con, anchor="checkout_start", max_steps=3),
        "hotspots": cjworkbench.hotspots_table(con, top=12),
        "funnel": cjworkbench.funnel_table(con, steps=STEPS, window="7d", filters={"segment": "Premium"}),
        "funnel_by": cjworkbench.funnel_table(con, steps=STEPS, by="segment"),
        "funnel_times": cjworkbench.funnel_times_table(con, steps=STEPS),
        "dropoff": cjworkbench.funnel_dropoff_next_table(con, steps=STEPS, at_step=2),
        "switch_matrix": cjworkbench.switch_matrix_table(con, by="department"),
        "switch_gaps": cjworkbench.switch_gaps_table(con, by="channel", switch=("app", "phone"),
                                                     outcome_activity="checkout_confirmed", n_resamples=200, **gaps),
        "deviations": cjworkbench.deviations_table(con, design=design, n_resamples=200),
        "deviations_by": cjworkbench.deviations_table(con, design=design, by="segment", n_resamples=200),
        "conformance": cjworkbench.conformance_table(con, design=design),
        "retention": cjworkbench.retention_table(con),
        "lifecycle": cjworkbench.lifecycle_table(con),
    }
    con.disconnect()
    return out


# -- the process map -----------------------------------------------------------------------------------

def _edges(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["from_activity", "to_activity", "n_transitions", "median_seconds"])


def test_process_map_layout_orders_activities_left_to_right():
    """A → B → C with a shortcut A → C and a loop back C → B: B sits between A and C, the loop
    is a back edge, the self-loop B → B is counted on the node, not drawn."""
    table = _edges([("(start)", "A", 10, None), ("A", "B", 8, 60.0), ("B", "C", 8, 120.0), ("A", "C", 2, 30.0),
                    ("C", "B", 1, 10.0), ("C", "(end)", 10, None), ("B", "B", 3, 5.0)])
    nodes, edges = process_map_layout(table)
    assert nodes["activity"].tolist() == ["(start)", "A", "B", "C", "(end)"]
    assert nodes["column"].tolist() == [0, 1, 2, 3, 4]
    assert nodes.set_index("activity")["position"].to_dict() == {"(start)": 0.0, "A": 1.0, "B": 2.0,
                                                                 "C": 2.8, "(end)": 3.8}  # C: (8·3 + 2·2) / 10
    assert nodes.set_index("activity").loc["B", "n_loops"] == 3
    assert nodes.set_index("activity").loc["B", "volume"] == 12        # 8 from A + 1 from C + 3 repeats
    back = edges.set_index(["from_activity", "to_activity"])["back"]
    assert back[("C", "B")] and not back[("B", "C")]
    assert ("B", "B") not in back.index


def test_process_map_layout_weighs_positions_and_keeps_top_edges():
    """X is mostly entered straight from the start (9 of 10), so it goes in the first column with P
    although a longer route P → Q → X exists (a longest-path layering would put it after Q);
    `top` keeps the heaviest activity edges only."""
    table = _edges([("(start)", "X", 90, None), ("(start)", "P", 10, None), ("P", "Q", 10, 5.0),
                    ("Q", "X", 10, 5.0), ("X", "Y", 100, 50.0), ("Y", "(end)", 100, None), ("Q", "(end)", 1, None)])
    nodes, edges = process_map_layout(table, top=3)
    pos = nodes.set_index("activity")
    assert pos.loc["X", "position"] == pytest.approx(0.9 * 1 + 0.1 * 3)       # 1.2, not the longest path 3
    assert pos.loc["Y", "position"] == pytest.approx(2.2)
    assert pos["column"].to_dict() == {"(start)": 0, "P": 1, "X": 1, "Q": 2, "Y": 2, "(end)": 3}
    inner = edges[~edges["from_activity"].eq("(start)") & ~edges["to_activity"].eq("(end)")]
    assert sorted(zip(inner["from_activity"], inner["to_activity"])) == [("P", "Q"), ("Q", "X"), ("X", "Y")]
    assert ("Q", "(end)") not in set(zip(edges["from_activity"], edges["to_activity"]))  # 1 of 100 starts: < 2 %
    with pytest.raises(ChartError, match="top must be"):
        process_map_layout(table, top=0)


def test_transitions_chart(tables):
    table = tables["transitions"]
    chart = charts.transitions_chart(table, top=25)
    spec = check(chart, expect_marks={"rule", "circle", "text", "point"},
                 expect_enc={("size", "n_transitions", "quantitative"), ("color", "time_band", "ordinal"),
                             ("x", "x", "quantitative"), ("y", "y", "quantitative"), ("x2", "x2", None),
                             ("size", "area", "quantitative"), ("text", "activity", "nominal"),
                             ("angle", "angle", "quantitative")},
                 expect_caption=("Unit: journey.", TIES))
    edges = chart_data(spec, "n_transitions")
    inner = edges[~edges["boundary"]]
    busiest = table[(table.from_activity != table.to_activity) & (table.from_activity != "(start)")
                    & (table.to_activity != "(end)")].nlargest(25, "n_transitions")
    assert len(inner) == 25 and set(inner["n_transitions"]) == set(busiest["n_transitions"])
    nodes = chart_data(spec, "area").set_index("activity_raw")   # laid out by raw name, labelled in words
    assert nodes.loc["checkout_start", "activity"] == "Checkout start"
    assert nodes.loc["checkout_start", "column"] < nodes.loc["checkout_payment", "column"] \
        < nodes.loc["checkout_confirmed", "column"] < nodes.loc["(end)", "column"]


# -- one test per chart family ---------------------------------------------------------------------------

def test_step_matrix_chart(tables):
    spec = check(charts.step_matrix_chart(tables["step_matrix"], top=10), expect_marks={"rect", "text"},
                 expect_enc={("x", "step", "ordinal"), ("y", "activity", "nominal"),
                             ("color", "share", "quantitative")},
                 expect_caption=("Unit: journey.", "Max steps: 8.", TIES))
    data = chart_data(spec, "share")
    assert data.groupby("step")["share"].sum().round(9).eq(1).all()      # '(other)' keeps each step at 100 %
    assert data["activity"].nunique() <= 12                               # 10 + (other) + (end)


def test_variants_and_paths_and_hotspots(tables):
    v = tables["variants"]
    spec = check(charts.variants_chart(v), expect_marks={"bar", "text"},
                 expect_enc={("x", "share", "quantitative"), ("y", "variant", "nominal")},
                 expect_caption=(f"N variants: {v.attrs['definition']['n_variants']}.",))
    y = next(d["encoding"]["y"] for d in _walk(spec) if "encoding" in d and "y" in d["encoding"])
    from cjworkbench.formats import display_name
    assert y["sort"] == [display_name(x, {}) for x in v.sort_values("rank")["variant"]]   # ranked, 'other' last
    assert y["sort"][0].startswith("Order placed → Order shipped")                        # in words, step by step
    check(charts.paths_around_chart(tables["paths"]), expect_marks={"bar"}, expect_enc={("y", "variant", "nominal")},
          expect_caption=("Anchor: checkout_start.",), title="Paths after Checkout start")
    spec = check(charts.hotspots_chart(tables["hotspots"]), expect_marks={"bar", "text"},
                 expect_enc={("x", "hours_lost", "quantitative"), ("color", "kind_text", "nominal")})
    assert len(chart_data(spec, "hours_lost")) == len(tables["hotspots"])


def test_funnel_chart(tables):
    f = tables["funnel"]
    spec = check(charts.funnel_chart(f), expect_marks={"bar", "text"},
                 expect_enc={("y", "n", "quantitative"), ("color", "part", "nominal"), ("x", "step_text", "nominal")},
                 expect_caption=("Window: 7d from entry.", "Order: ordered", "segment = Premium", TIES,
                                 "Steps: View product → Checkout start → Checkout payment → Checkout confirmed."))
    data = chart_data(spec, "part")
    reached = data[data["part"] == "reached"].sort_values("step")
    dropped = data[data["part"] != "reached"].sort_values("step")
    assert reached["n"].tolist() == f["n_entered"].tolist()
    assert dropped["n"].tolist() == f["n_dropped"].tolist()
    assert (reached["n"].to_numpy()[:-1] == (reached["n"].to_numpy() + dropped["n"].to_numpy())[1:]).all()
    row = f.iloc[3]
    assert reached["label_text"].iloc[3] == (f"{row.conversion_from_start:.1%} of start\n"
                                             f"{row.conversion_from_previous:.1%} of previous")
    assert reached["step_text"].tolist() == ["1. View product", "2. Checkout\nstart", "3. Checkout\npayment",
                                             "4. Checkout\nconfirmed"]   # in words, wrapped for a phone
    by = charts.funnel_chart(tables["funnel_by"]).to_dict()
    assert by["vconcat"][0]["facet"]["row"]["field"] == "segment"


def test_funnel_times_and_dropoff(tables):
    spec = check(charts.funnel_times_chart(tables["funnel_times"]), expect_marks={"bar", "line"},
                 expect_enc={("y", "share", "quantitative"), ("y", "cumulative_share", "quantitative")},
                 expect_caption=("Bin rule: lower_seconds <= seconds",))
    assert chart_data(spec, "cumulative_share")["cumulative_share"].iloc[-1] == pytest.approx(1.0)
    check(charts.funnel_dropoff_next_chart(tables["dropoff"]), expect_marks={"bar"},
          expect_enc={("y", "next_activity", "nominal"), ("x", "share", "quantitative")},
          title="before step 2")


def test_switch_matrix_chart_and_privacy(tables):
    t = tables["switch_matrix"]
    spec = check(charts.switch_matrix_chart(t), expect_marks={"rect", "text"},
                 expect_enc={("x", "to_value", "nominal"), ("y", "from_value", "nominal"),
                             ("color", "n_switches", "quantitative")},
                 expect_caption=("By: department.", "Switch rule:"))
    data = chart_data(spec, "row_share")
    assert data.groupby("from_value")["row_share"].sum().round(9).eq(1).all()
    assert len(data) == len(t)
    small = suppress_small(t, k=10)
    n_small = int((t["n_customers"] < 10).sum())
    assert n_small > 0
    spec = charts.switch_matrix_chart(small).to_dict()
    assert len(chart_data(spec, "row_share")) == len(t) - n_small        # suppressed cells are not drawn
    assert f"Privacy: {n_small} groups with fewer than 10 customers not shown." in caption(spec)


def test_switch_gaps_chart(tables, demo_db):
    g = tables["switch_gaps"]
    planted = demo_db[1]["effects"]["E1"]["planted"]["completion_gap"]
    spec = check(charts.switch_gaps_chart(g), expect_marks={"rule", "point", "text"},
                 expect_enc={("x", "rate", "quantitative"), ("x", "low", "quantitative"), ("x2", "high", None),
                             ("x", "pts", "quantitative"), ("yOffset", "which", "nominal")},
                 expect_caption=("Unit: session.", "Outcome activity: checkout_confirmed.",
                                 "Intervals: 95% confidence."))
    diff = chart_data(spec, "pts").iloc[0]
    assert diff["pts_low"] <= planted * 100 <= diff["pts_high"] < 0      # E1: the gap is drawn where it is
    assert diff["diff_label"].startswith(f"{g.rate_diff[0] * 100:+.1f} pts")


def test_deviation_and_conformance_charts(tables):
    d = tables["deviations"]
    spec = check(charts.deviations_chart(d), expect_marks={"rule", "point"},
                 expect_enc={("x", "deviation_rate", "quantitative"), ("x", "effect", "quantitative"),
                             ("x", "effect_low", "quantitative"), ("x2", "effect_high", None)},
                 expect_caption=("Outcome: completion", "Designed journey: onboarding.",
                                 "Rate: deviation_rate is per journey"))
    data = chart_data(spec, "effect")
    assert len(data) == int((d["n_deviating"] > 0).sum())
    shown = d[d["n_deviating"] > 0].reset_index(drop=True)
    # percentage points; an impact the analysis cannot estimate (NaN) stays empty, the rate is still drawn
    assert data["effect"].tolist() == pytest.approx((shown["impact"] * 100).tolist(), nan_ok=True)
    spec = check(charts.deviations_chart(tables["deviations_by"], include_any=False), expect_marks={"point"},
                 expect_enc={("color", "segment", "nominal"), ("yOffset", "segment", "nominal")},
                 expect_caption=("By: segment.",))
    assert "(any step)" not in set(chart_data(spec, "effect")["step"])
    c = tables["conformance"]
    chart = charts.conformance_chart(c)
    spec = check(chart, expect_marks={"bar"}, expect_enc={("y", "n_journeys", "quantitative"),
                                                          ("x", "fitness_label", "ordinal")},
                 expect_caption=("Unit: journey instance (customer).",))
    assert chart_data(spec, "n_journeys")["n_journeys"].sum() == int((~c["open_window"]).sum())
    text = chart.to_json()
    assert not any(cid in text for cid in c["customer_id"])                # aggregates only, no journey rows


def test_retention_and_lifecycle_charts(tables):
    r = tables["retention"]
    spec = check(charts.retention_chart(r), expect_marks={"rect"},
                 expect_enc={("x", "period_offset", "ordinal"), ("y", "cohort", "ordinal"),
                             ("color", "retention_rate", "quantitative")},
                 expect_caption=("Period: month.", "Counted: on.", "Dates in Europe/Amsterdam."))   # the demo's business zone
    data = chart_data(spec, "retention_rate")
    assert len(data) == len(r) and set(data["cohort"]) == {d.strftime("%Y-%m") for d in r["cohort_date"]}
    assert "Showing the latest" not in caption(spec)                        # 24 months: nothing cut
    spec = charts.retention_chart(r, last=6).to_dict()
    data = chart_data(spec, "retention_rate")
    latest = sorted({d.strftime("%Y-%m") for d in r["cohort_date"]})[-6:]
    assert sorted(data["cohort"].unique()) == latest and data["period_offset"].max() <= 5
    assert f"Showing the latest 6 of {r['cohort_date'].nunique()} cohorts and their first 6 months." in caption(spec)
    lc = tables["lifecycle"]
    spec = check(charts.lifecycle_chart(lc), expect_marks={"bar"},
                 expect_enc={("y", "n", "quantitative"), ("color", "status", "nominal")}, expect_caption=("Statuses:",))
    data = chart_data(spec, "status")
    assert data.loc[data["status"] == "dormant", "n"].sum() == lc["n_dormant"].sum() < 0


# -- VoC charts on hand-made frames (the VoC tables are written by other modules) -------------------------

def _scores() -> pd.DataFrame:
    rows = [dict(touchpoint=tp, instrument="nps", period=pd.Timestamp(f"2026-0{m}-01"), n_answers=n, estimate=s,
                 low=s - 9, high=s + 9, small=n < 30, promoters=0.5, extra_text="ignored")
            for tp, base in (("delivery", 10.0), ("onboarding", 30.0))
            for m, n, s in ((1, 25, base), (2, 40, base + 4), (3, 60, base - 2))]
    df = pd.DataFrame(rows)
    df.attrs["definition"] = {"analysis": "scores", "instrument": "nps", "period": "month",
                              "filters": {"channel": "app"}}
    return df


def test_scores_chart():
    table = _scores().drop(columns="extra_text")
    spec = check(charts.scores_chart(table), expect_marks={"area", "line", "point"},
                 expect_enc={("x", "period", "ordinal"), ("y", "low", "quantitative"), ("y2", "high", None),
                             ("y", "score", "quantitative"), ("color", "group", "nominal")},
                 expect_caption=("Period: month.", "channel = app"), title="NPS over time")
    data = chart_data(spec, "score")
    assert sorted(data["period"].unique()) == ["2026-01", "2026-02", "2026-03"]
    assert sorted(data["group"].unique()) == ["Delivery", "Onboarding"]   # plain words start with a capital
    assert data.loc[data["small"], "n_answers"].tolist() == [25, 25]
    spec = charts.scores_chart(suppress_small(table, k=30, count="n_answers")).to_dict()
    assert "Privacy: 2 groups with fewer than 30 customers not shown." in caption(spec)
    assert len(chart_data(spec, "score")) == 4


def test_drivers_and_theme_impact_charts():
    drivers = pd.DataFrame({"driver": ["transfer", "repeat_contact", "channel_switch"],
                            "relative_weight": [0.02, 0.55, 0.3], "rw_low": [0.0, 0.45, 0.2],
                            "rw_high": [0.05, 0.65, 0.4],
                            "effect": [0.03, -1.0, -0.8], "low": [-0.1, -1.2, -1.0], "high": [0.16, -0.8, -0.6],
                            "p_value": [0.6, 1e-9, 1e-6], "n_answers": [900] * 3, "statement": ["..."] * 3, "rank": [3, 1, 2],
                            "moment_of_truth": [False, True, True]})
    drivers.attrs["definition"] = {"analysis": "drivers", "outcome": "csat", "method": "relative weights",
                                   "filters": {}}
    spec = check(charts.drivers_chart(drivers), expect_marks={"bar", "rule", "point"},
                 expect_enc={("x", "relative_weight", "quantitative"), ("x", "rw_low", "quantitative"),
                             ("x", "effect", "quantitative"), ("x", "low", "quantitative"),
                             ("color", "moment", "nominal")},
                 expect_caption=("Outcome: csat.", "Method: relative weights."))
    y = next(d["encoding"]["y"] for d in _walk(spec) if "encoding" in d and "y" in d["encoding"])
    assert y["sort"] == ["Repeat contact", "Channel switch", "Transfer"]
    data = chart_data(spec, "effect").set_index("driver_raw")
    assert "statement" not in data.columns
    assert data["moment"].to_dict() == {"repeat_contact": "lowers the score (moment of truth)",
                                        "channel_switch": "lowers the score (moment of truth)",
                                        "transfer": "no clear effect"}
    colour = next(d["encoding"]["color"] for d in _walk(spec) if "encoding" in d and "color" in d["encoding"])
    assert colour["scale"]["range"] == [VERDICT["better"], VERDICT["worse"], VERDICT["not significant"]]
    no_verdict = drivers.drop(columns="moment_of_truth").assign(high=[0.16, -0.8, 0.1])   # channel_switch crosses 0
    no_verdict.attrs = drivers.attrs
    data = chart_data(charts.drivers_chart(no_verdict).to_dict(), "effect").set_index("driver_raw")
    assert data["moment"].to_dict() == {"repeat_contact": "lowers the score", "channel_switch": "no clear effect",
                                        "transfer": "no clear effect"}
    themes = pd.DataFrame({"theme": ["friendly_staff", "late_delivery", "price"], "impact": [2.0, -6.0, -0.4],
                           "low": [1.0, -8.0, -1.5], "high": [3.0, -4.0, 0.7], "n_theme": [200, 300, 40],
                           "nps_theme": [60.0, -40.0, 5.0], "note": ["x", "y", "z"]})
    themes.attrs["definition"] = {"analysis": "theme impact", "instrument": "nps", "filters": {}}
    spec = check(charts.theme_impact_chart(themes), expect_marks={"rule", "point"},
                 expect_enc={("x", "impact", "quantitative"), ("x", "low", "quantitative"), ("x2", "high", None),
                             ("color", "direction", "nominal")}, expect_caption=("Instrument: nps.",))
    y = next(d["encoding"]["y"] for d in _walk(spec) if "encoding" in d and "y" in d["encoding"])
    assert y["sort"] == ["Late delivery", "Price", "Friendly staff"]     # most harmful first, in words
    data = chart_data(spec, "impact").set_index("theme_raw")
    assert data["direction"].to_dict() == {"late_delivery": "lowers the score", "price": "no clear impact",
                                           "friendly_staff": "raises the score"}


def test_sentiment_chart_both_shapes():
    df = pd.DataFrame({"touchpoint": ["delivery", "onboarding"], "n_answers": [500, 300], "share_negative": [0.3, 0.1],
                       "share_neutral": [0.3, 0.5], "share_positive": [0.4, 0.4], "mean_compound": [0.1, 0.3]})
    df.attrs["definition"] = {"analysis": "sentiment", "model": "vader", "filters": {}}
    spec = check(charts.sentiment_chart(df), expect_marks={"bar"},
                 expect_enc={("x", "share", "quantitative"), ("color", "label", "nominal"), ("y", "group", "nominal")},
                 expect_caption=("Model: vader.",))
    data = chart_data(spec, "label")
    assert data.groupby("group")["share"].sum().round(9).eq(1).all()
    means = df.drop(columns=["share_negative", "share_neutral", "share_positive"]).assign(low=[0.0, 0.2],
                                                                                           high=[0.2, 0.4])
    means.attrs = df.attrs
    check(charts.sentiment_chart(means), expect_marks={"point", "rule"},
          expect_enc={("x", "score", "quantitative"), ("x", "low", "quantitative")})
    rates = df.rename(columns={"share_negative": "negative_rate", "share_neutral": "neutral_rate",
                               "share_positive": "positive_rate"}).assign(mean_low=[0.0, 0.2], mean_high=[0.2, 0.4])
    rates.attrs = df.attrs
    data = chart_data(charts.sentiment_chart(rates).to_dict(), "label")
    assert data.set_index(["group", "label"])["share"][("Delivery", "negative")] == 0.3
    mean_only = rates.drop(columns=["negative_rate", "neutral_rate", "positive_rate"])
    mean_only.attrs = df.attrs
    check(charts.sentiment_chart(mean_only), expect_marks={"point", "rule"},
          expect_enc={("x", "score", "quantitative"), ("x", "mean_low", "quantitative")})
    with pytest.raises(ChartError, match="share_negative"):
        charts.sentiment_chart(df[["touchpoint", "n_answers"]])


# -- contract: hostile labels, errors, empty tables, theme --------------------------------------------------

HOSTILE = ["O'Brien's café", "'; DROP TABLE events; --", 'say "hi" \\ {datum}', "Zoë → 's-Hertogenbosch ✓"]


def test_hostile_labels_are_data_not_code():
    """Apostrophes, quotes, SQL and Vega-expression look-alikes and unicode in labels reach the
    chart as data values and render; no label is pasted into an expression."""
    a, b, c, d = HOSTILE
    table = _edges([("(start)", a, 10, None), (a, b, 8, 30.0), (b, c, 8, 4000.0), (c, d, 5, 90_000.0),
                    (d, "(end)", 10, None)])
    table.attrs["definition"] = {"analysis": "transitions", "unit": "journey", "filters": {"activity": [a, b]}}
    spec = check(charts.transitions_chart(table), expect_marks={"circle"}, expect_enc=set(),
                 expect_caption=(f"activity in {a}, {b}",))
    assert set(chart_data(spec, "area")["activity"]) == {"(start)", "(end)", *HOSTILE}
    variants = pd.DataFrame({"rank": [1, 2, 3, 4], "variant": HOSTILE, "n_journeys": [4, 3, 2, 1],
                             "share": [0.4, 0.3, 0.2, 0.1]})
    variants.attrs["definition"] = {"analysis": "variants", "filters": {"segment": a}}
    spec = check(charts.variants_chart(variants), expect_marks={"bar"}, expect_enc=set(),
                 expect_caption=(f"segment = {a}",))
    for d in _walk(spec):
        for key in ("test", "filter", "expr"):
            assert not any(h in str(d.get(key, "")) for h in HOSTILE), d


# -- contract: errors, empty tables, theme ---------------------------------------------------------------

def test_wrong_table_is_an_actionable_error(tables):
    with pytest.raises(ChartError, match=r"funnel_table\(\); missing: step, label") as err:
        charts.funnel_chart(tables["variants"])
    assert isinstance(err.value, WorkbenchError) and isinstance(err.value, ValueError)
    assert "'variants' analysis" in str(err.value)
    with pytest.raises(ChartError, match="expects the DataFrame returned by transitions_table"):
        charts.transitions_chart([1, 2])


def test_empty_table_says_so(tables):
    empty = tables["switch_matrix"].iloc[0:0]
    empty.attrs = tables["switch_matrix"].attrs
    spec = check(charts.switch_matrix_chart(empty), expect_marks={"text"}, expect_enc={("text", "message", "nominal")})
    assert chart_data(spec, "message")["message"][0] == "No department switches for these filters."


def test_theme_is_enabled_on_first_use_but_never_overrides_a_choice(tables):
    before = alt.theme.active
    try:
        alt.theme.enable("default")
        spec = charts.variants_chart(tables["variants"]).to_dict()
        assert alt.theme.active == "cjworkbench"
        assert spec["config"]["font"].startswith("Helvetica") and spec["config"]["view"]["stroke"] is None
        alt.theme.enable("dark")
        charts.variants_chart(tables["variants"])
        assert alt.theme.active == "dark"
    finally:
        alt.theme.enable(before)


# -- numbers for people (cjworkbench.formats) in axes and tooltips -----------------------------------

def tooltips(spec) -> dict[str, dict]:
    """Every tooltip field of the spec by its title (or field)."""
    out = {}
    for d in _walk(spec):
        tips = (d.get("encoding") or {}).get("tooltip")
        for t in (tips if isinstance(tips, list) else [tips] if isinstance(tips, dict) else []):
            out[t.get("title", t.get("field"))] = t
    return out


def _gaps(days_with: float, days_without: float, p: float) -> pd.DataFrame:
    df = pd.DataFrame({"from_value": ["app"], "to_value": ["phone"], "n_with": [400], "n_reached_with": [100],
                       "rate_with": [0.25], "rate_with_low": [0.21], "rate_with_high": [0.29], "n_without": [900],
                       "n_reached_without": [315], "rate_without": [0.35], "rate_without_low": [0.32],
                       "rate_without_high": [0.38], "rate_diff": [-0.1], "rate_diff_low": [-0.15],
                       "rate_diff_high": [-0.05], "p_value": [p],
                       "median_seconds_to_outcome_with": [days_with * 86_400],
                       "median_seconds_to_outcome_without": [days_without * 86_400]})
    df.attrs["definition"] = {"analysis": "switch gaps", "by": "channel", "filters": {}}
    return df


def test_switch_gaps_time_axis_reads_in_days_and_rates_in_percent():
    spec = check(charts.switch_gaps_chart(_gaps(2.5, 1.25, 6.4e-20)), expect_marks={"rule", "point", "bar"},
                 expect_enc={("x", "seconds", "quantitative")})
    x = next(d["encoding"]["x"] for d in _walk(spec) if "encoding" in d and d["encoding"].get("x", {}).get("field")
             == "seconds")
    assert x["axis"]["labelExpr"] == "format(datum.value / 86400, ',.1~f') + ' days'"
    times = chart_data(spec, "seconds").set_index("which")["time"].to_dict()
    assert times == {"with": "2.5 days", "without": "1.3 days"}          # 1.25 days rounds half up
    tips = tooltips(spec)
    assert tips["outcome rate"]["format"] == ".1%" and tips["interval low"]["format"] == ".1%"
    label = chart_data(spec, "diff_label")["diff_label"][0]
    assert label == "-10.0 pts (-15.0 to -5.0), p < 0.001"               # never 6.4e-20
    svg = vlc.vegalite_to_svg(charts.switch_gaps_chart(_gaps(2.5, 1.25, 0.0312)).to_json())
    assert "2 days" in svg and "p = 0.03" in svg                          # the axis is drawn in days


def test_switch_gaps_time_axis_reads_in_hours_for_short_waits():
    spec = charts.switch_gaps_chart(_gaps(0.25, 0.5, 0.2)).to_dict()
    x = next(d["encoding"]["x"] for d in _walk(spec) if "encoding" in d and d["encoding"].get("x", {}).get("field")
             == "seconds")
    assert x["axis"]["labelExpr"].endswith("' hours'") and "/ 3600" in x["axis"]["labelExpr"]
    assert chart_data(spec, "seconds").set_index("which")["time"].to_dict() == {"with": "6 hours",
                                                                                 "without": "12 hours"}


def test_p_values_read_as_words_in_tooltips():
    drivers = pd.DataFrame({"driver": ["transfer", "repeat_contact"], "relative_weight": [0.4, 0.6],
                            "rw_low": [0.3, 0.5], "rw_high": [0.5, 0.7], "effect": [0.03, -1.0], "low": [-0.1, -1.2],
                            "high": [0.16, -0.8], "p_value": [0.6, 6.4e-20], "n_answers": [900, 900]})
    drivers.attrs["definition"] = {"analysis": "drivers", "outcome": "csat", "filters": {}}
    spec = charts.drivers_chart(drivers).to_dict()
    assert tooltips(spec)["p-value"]["field"] == "p_text"
    assert chart_data(spec, "p_text").set_index("driver")["p_text"].to_dict() == {"Transfer": "0.60",
                                                                                   "Repeat contact": "< 0.001"}
    assert tooltips(spec)["relative weight"]["format"] == ".1%"


def test_hotspot_and_process_map_times_read_in_words(tables):
    spec = charts.hotspots_chart(tables["hotspots"]).to_dict()
    data = chart_data(spec, "median_time")
    assert all(t == "–" or t.endswith((" s", " min", " hour", " hours", " day", " days")) for t in data["median_time"])
    edges = chart_data(charts.transitions_chart(tables["transitions"]).to_dict(), "median_time")
    from cjworkbench import formats
    assert edges["median_time"].tolist() == [formats.duration(s) for s in edges["median_seconds"]]


def test_the_process_maps_size_legend_reads_plain_numbers(tables):
    """d3's tick format turns a bare "," into "2e+3" for a legend's steps; the legend says "2,000"."""
    svg = vlc.vegalite_to_svg(charts.transitions_chart(tables["transitions"]).to_json())
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "transitions" in texts   # the size legend is drawn
    assert not [t for t in texts if re.fullmatch(r"[\d.]+e[+-]\d+", t)], texts
    assert any(t.replace(",", "").isdigit() and t != "0" for t in texts), texts


# -- business language, one palette, honest small groups (issue #16) -----------------------------------

def test_charts_name_things_as_the_labels_design_says_and_keep_the_raw_name_in_the_tooltip():
    """`labels` (the database's `labels:` design, passed in by the dashboard) names activities inside
    the chart; other snake_case names read in words; the raw name stays in the tooltip."""
    table = pd.DataFrame({"rank": [1, 2], "variant": ["order_placed → order_shipped", "web"],
                          "n_journeys": [30, 20], "share": [0.6, 0.4]})
    table.attrs["definition"] = {"analysis": "variants", "filters": {}}
    spec = charts.variants_chart(table, labels={"order_shipped": "Parcel sent"}).to_dict()
    y = next(d["encoding"]["y"] for d in _walk(spec) if "encoding" in d and "y" in d["encoding"])
    assert y["sort"] == ["Order placed → Parcel sent", "Web"]
    assert tooltips(spec)["in the data"]["field"] == "variant_raw"
    assert chart_data(spec, "variant_raw")["variant_raw"].tolist() == ["order_placed → order_shipped", "web"]
    named = [n for n in charts.__all__ if n.endswith("_chart") and n not in ("retention_chart", "lifecycle_chart",
                                                                              "scorecard_chart")]
    import inspect
    assert [n for n in named if "labels" not in inspect.signature(getattr(charts, n)).parameters] == []


def test_one_better_worse_palette_colour_blind_safe_across_pages():
    """Every page colours better / worse from `theme.VERDICT` (blue / orange, no red-green pair); the
    old reds and greens are gone from the charts, the scorecard and the headline band."""
    from pathlib import Path

    from cjworkbench.narrative import headline_html
    assert VERDICT["better"] != VERDICT["worse"] and set(VERDICT) == {"better", "worse", "not significant", "no data"}
    root = Path(cjworkbench.__file__).parent
    old = ("#e45756", "#54a24b", "#c62828", "#2e7d32")
    sources = [*sorted((root / "charts").glob("*.py")), root / "narrative.py"]
    assert [(p.name, c) for p in sources for c in old if c in p.read_text()] == [("theme.py", "#e45756"),
                                                                                  ("theme.py", "#54a24b")]  # CATEGORY only
    from cjworkbench.charts.scorecard import COLOURS
    assert COLOURS["better"] == VERDICT["better"] and COLOURS["worse"] == VERDICT["worse"]
    band = pd.DataFrame([{"figure": "x", "label": "Conversion", "value": 0.5, "previous": 0.6, "change": -0.1,
                          "low": -0.12, "high": -0.08, "p_value": 0.001, "kind": "share", "better": "higher",
                          "verdict": "worse", "detail": "", "period": "", "source": "funnel_table",
                          "available": True, "reason": ""}])
    assert f"border-left:4px solid {VERDICT['worse']}" in headline_html(band)


def test_a_near_empty_group_is_drawn_faded_with_too_few_instead_of_a_confident_gap():
    """app → email seen in 3 journeys (+55 points, interval −20 to +90) is faded and dashed with
    "too few (n=3)" in place of its difference; app → phone (n=400) reads as before, coloured worse."""
    df = pd.concat([_gaps(1, 1, 1e-6), _gaps(1, 1, 0.2).assign(
        to_value="email", n_with=3, rate_with=0.9, rate_diff=0.55, rate_diff_low=-0.2, rate_diff_high=0.9)],
        ignore_index=True)
    df.attrs = _gaps(1, 1, 0.2).attrs
    spec = charts.switch_gaps_chart(df).to_dict()
    data = chart_data(spec, "diff_label").set_index("switch")
    assert data.loc["App → Email", "diff_label"] == "too few (n=3)" == data.loc["App → Email", "caution"]
    assert data.loc["App → Phone", "diff_label"].startswith("-10.0 pts (-15.0 to -5.0)")
    assert data.loc["App → Phone", "verdict"] == "worse" and data.loc["App → Email", "verdict"] == "not significant"
    faded = [d["encoding"]["opacity"] for d in _walk(spec) if "opacity" in (d.get("encoding") or {})]
    assert faded and all(o["condition"]["test"] == "datum.caution != ''" and o["condition"]["value"] == 0.3
                         for o in faded)
    from cjworkbench.charts.theme import caution
    assert caution([MIN_N - 1, MIN_N, 500], [-0.1, -0.1, -0.4], [0.1, 0.1, 0.3], wide=0.5) == \
        [f"too few (n={MIN_N - 1})", "", "interval too wide (n=500)"]


def test_a_page_keeps_the_notes_in_sight_and_folds_the_method():
    """`uncaptioned` splits a chart's caption: the privacy note stays under the chart, the method goes
    into the same "How is this calculated?" fold the tables and the headline use."""
    from cjworkbench.charts.page import fit_to_page
    from cjworkbench.charts.theme import uncaptioned
    from cjworkbench.display import method_html

    table = suppress_small(pd.DataFrame({"rank": [1, 2], "variant": ["a", "b"], "n_journeys": [30, 2],
                                         "share": [0.9, 0.1], "n_customers": [30, 2]}), k=10)
    table.attrs["definition"] = {**table.attrs.get("definition", {}), "analysis": "variants", "unit": "journey",
                                 "filters": {}}
    chart = charts.variants_chart(table)
    inner, notes, method = uncaptioned(chart)
    assert notes == ["Privacy: 1 group with fewer than 10 customers not shown."]
    assert method[0] == "Unit: journey." and "Filters: none." in method
    assert "title" not in inner.to_dict() or inner.to_dict()["title"] != chart.to_dict()["title"]
    markup = method_html(notes, method)
    assert markup.index("Privacy: 1 group") < markup.index("<details") < markup.index("Unit: journey.")
    assert "<summary>How is this calculated?</summary>" in markup
    fitted, lines = fit_to_page(chart)
    assert fitted.to_dict()["width"] == "container" and lines == [*notes, *method]


def test_titles_break_into_whole_lines_that_fit():
    """`page.wrap_titles`: a title and subtitle become lines no longer than their room allows (a panel's own
    width, else the page's), every word kept whole and in order, so nothing is cut with "…"."""
    from cjworkbench.charts.page import BOLD_EM, CHAR_EM, title_lines, wrap_titles

    subtitle = "Change: blue is better, orange is worse, in each KPI's own direction; trend: the last 12 periods."
    lines = title_lines(subtitle, 310, 11, bold=False)
    assert len(lines) == 2 and " ".join(lines) == subtitle
    assert all(len(line) <= 310 / (11 * CHAR_EM) for line in lines)
    panel = alt.Chart(pd.DataFrame({"x": [1]})).mark_point().encode(x="x:Q").properties(
        width=150, title="Importance (relative weight, 95 % interval)")
    chart = alt.vconcat(panel, title=alt.TitleParams("What drives the score", subtitle=subtitle))
    wrap_titles(chart, 310)
    spec = chart.to_dict()
    assert spec["title"]["text"] == ["What drives the score"] and spec["title"]["subtitle"] == lines
    inner = spec["vconcat"][0]["title"]["text"]   # the panel's own 150 px (less 10): 15 px bold
    assert " ".join(inner) == "Importance (relative weight, 95 % interval)"
    assert len(inner) >= 3 and all(len(line) <= 140 / (15 * BOLD_EM) for line in inner)


def test_a_phone_is_told_by_its_request_and_a_small_widening_redraws_nothing():
    from cjworkbench.charts.page import FIT_SLACK, PHONE_PX, phone_request, redraw_for

    iphone = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.5 Mobile/15E148 Safari/604.1")
    tablet = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
    desktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
    assert phone_request({"HTTP_USER_AGENT": iphone}) and phone_request({"HTTP_SEC_CH_UA_MOBILE": "?1"})
    assert not phone_request({"HTTP_USER_AGENT": tablet}) and not phone_request({"HTTP_USER_AGENT": desktop})
    assert not phone_request({"HTTP_SEC_CH_UA_MOBILE": "?0", "HTTP_USER_AGENT": desktop}) and not phone_request({})
    # drawn for a phone guess: a 390 px phone's chart column (~350 px) keeps it; 430 px, a narrower page,
    # or a wide one redraws
    assert not redraw_for(PHONE_PX, 350) and not redraw_for(PHONE_PX, PHONE_PX)
    assert redraw_for(PHONE_PX, PHONE_PX + FIT_SLACK) and redraw_for(PHONE_PX, 300) and redraw_for(PHONE_PX, None)
    assert redraw_for(None, 350) and not redraw_for(None, None)
