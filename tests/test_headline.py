"""The answer first (issue #16): every page's headline figures equal the tables its charts show, a
planted effect reads from the headline with its sign, figures that cannot be computed say why (never
a zero), the sentence and band are in words and units, and the report index opens with a summary
across pages and lists them in the order a manager reads them."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportions_ztest

from cjworkbench.analysis.headline import PAGES, figure, headline_table, missing, verdict
from cjworkbench.controls import headline_view
from cjworkbench.controls import view as view_module
from cjworkbench.controls.headline_view import HeadlineView
from cjworkbench.db import connect
from cjworkbench.errors import HeadlineError
from cjworkbench.narrative import HEADLINE_MIME, headline_html, headline_record, headline_sentence

from .conftest import write_config

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_page(name: str, db) -> tuple[HeadlineView, list]:
    """`notebooks/<name>.py` as papermill runs it (defaults, `db` and interactive=False injected), with
    `display` captured: its headline view and its other views (nothing drawn)."""
    src = (NOTEBOOKS / f"{name}.py").read_text()
    heads = re.findall(r"^# %%.*$", src, flags=re.M)
    cells = re.split(r"^# %%.*$", src, flags=re.M)[1:]
    shown, ns = [], {}
    saved = view_module.display, headline_view.display
    view_module.display = headline_view.display = shown.append
    try:
        for head, cell in zip(heads, cells):
            if "[markdown]" not in head:
                exec(compile(cell, f"notebooks/{name}.py", "exec"), ns)
                if "parameters" in head:
                    ns.update(db=str(db), interactive=False)
    finally:
        view_module.display, headline_view.display = saved
    assert isinstance(shown[0], HeadlineView), f"{name}: the headline is not the page's first output"
    return shown[0], shown[1:]


def table_of(views, name: str) -> pd.DataFrame:
    """The table a page's view computes (its filters and options)."""
    v = next(v for v in views if v.table.__name__ == name)
    return v.table(v.panel.con, filters=v.panel.filters, **v._values("options"))


@pytest.fixture(scope="module")
def pages(demo_db):
    path, truth = demo_db
    return {name: run_page(name, path) for name in ("overview", "funnels_and_gaps")}, truth


def test_every_page_opens_with_its_headline():
    for path in sorted(NOTEBOOKS.glob("*.py")):
        src = path.read_text()
        first_view = min(src.find(x) for x in ("controls.show(", "controls.show_table(") if x in src)
        call = re.search(rf'^controls\.headline\(panel, "{path.stem}"', src, re.M)
        assert call and call.start() < first_view, f"{path.name}: no headline before the first chart"
    assert sorted(PAGES) == sorted(p.stem for p in NOTEBOOKS.glob("*.py"))


def test_overview_headline_is_the_scorecards_top_mover_and_the_worst_hotspot(pages):
    hv, views = pages[0]["overview"]
    head = hv.result().set_index("figure")
    sc = table_of(views, "scorecard_table")
    ok = sc[sc["available"].astype(bool) & sc["p_value"].notna() & (sc["n_customers"] >= hv.panel.k_min)]
    top = ok.sort_values(["p_value", "kpi"]).iloc[0]
    row = head.loc[f"kpi:{top['kpi']}"]
    assert head.index[0] == f"kpi:{top['kpi']}"
    assert (row["label"], row["value"], row["previous"], row["change"], row["p_value"]) == \
        (top["label"], top["estimate"], top["previous"], top["change"], top["p_value"])
    assert row["verdict"] == verdict(top["change"], top["p_value"], top["direction"])
    hot = table_of(views, "hotspots_table")
    worst = hot.loc[hot["hours_lost"].idxmax()]
    from cjworkbench.formats import display_name

    assert head.loc["worst_hotspot", "value"] == worst["hours_lost"] and display_name(worst["name"]) in \
        head.loc["worst_hotspot", "label"]


def test_funnels_headline_reads_the_planted_app_to_phone_gap(pages):
    """E1: a phone contact during an app checkout lowers completion by 20 points (truth.json)."""
    (hv, views), truth = pages[0]["funnels_and_gaps"], pages[1]
    head = hv.result().set_index("figure")
    gaps = table_of(views, "switch_gaps_table")
    gap = head.loc["handoff_gap"]
    worst = gaps[(gaps["rate_diff_high"] < 0) & ~gaps["small_sample"]].sort_values("rate_diff").iloc[0]
    assert (worst["from_value"], worst["to_value"]) == ("app", "phone")
    assert gap["label"] == "Hand-off App → Phone"   # channels in words
    assert (gap["value"], gap["low"], gap["high"], gap["p_value"]) == \
        (worst["rate_diff"], worst["rate_diff_low"], worst["rate_diff_high"], worst["p_value"])
    planted = truth["effects"]["E1"]["planted"]["completion_gap"]                 # -0.20
    assert gap["value"] < 0 and gap["low"] <= planted <= gap["high"] and gap["verdict"] == "worse"
    assert "App → Phone" in headline_sentence(hv.result())


def test_funnels_headline_conversion_is_this_month_against_the_last(pages, demo_db):
    """Conversion of the business month holding the last event against the month before, with the
    pooled z-test p-value (statsmodels as the independent reference)."""
    hv, views = pages[0]["funnels_and_gaps"]
    row = hv.result().set_index("figure").loc["conversion"]
    con = connect(demo_db[0])
    last = con.table("events").event_date.max().execute()
    last = last.date() if hasattr(last, "date") else last
    start = last.replace(day=1)
    prev_start = (start - dt.timedelta(days=1)).replace(day=1)
    prev_end = min(prev_start + (last - start), start - dt.timedelta(days=1))
    v = next(v for v in views if v.table.__name__ == "funnel_table")
    opts = v._values("options")
    from dataclasses import replace

    counts = []
    for a, b in ((start, last), (prev_start, prev_end)):
        f = v.table(con, filters=replace(v.panel.filters, start_date=a, end_date=b), **opts)
        counts.append((int(f["n_entered"].iloc[-1]), int(f["n_entered"].iloc[0])))
    (x1, n1), (x0, n0) = counts
    assert math.isclose(row["value"], x1 / n1) and math.isclose(row["previous"], x0 / n0)
    assert math.isclose(row["change"], x1 / n1 - x0 / n0)
    _, p = proportions_ztest([x1, x0], [n1, n0])
    assert math.isclose(row["p_value"], p, rel_tol=1e-6)
    assert row["period"] == start.strftime("%Y-%m")


def test_sentence_and_band_in_words_and_units():
    table = pd.DataFrame([
        figure("conversion", "Conversion", 0.763, kind="share", previous=0.78, change=-0.017, low=-0.03,
               high=-0.004, p_value=0.0004, better="higher", detail="the biggest drop is at payment",
               period="2026-03"),
        figure("handoff_gap", "Hand-off app → phone", -0.2, kind="points", low=-0.28, high=-0.12, p_value=2e-9,
               better="higher", difference=True),
        missing("worst_theme", "Worst theme", "The database carries no themes design."),
    ])
    table.attrs["definition"] = {"page": "funnels_and_gaps", "period_rule": "months", "verdict_rule": "5 %"}
    assert headline_sentence(table) == ("Conversion fell 1.7 points to 76.3 % in March 2026 (significant, "
                                        "p < 0.001); the biggest drop is at payment. Hand-off app → phone: "
                                        "-20.0 pts (significant, p < 0.001).")
    band = headline_html(table)
    assert 'class="cjw-headline"' in band and "<details" in band and "How is this calculated?" in band
    assert "▼ −1.7 points vs 78.0 %" in band and "#b35806" in band   # worse: the one palette (charts.theme.VERDICT)
    assert "Not shown — Worst theme: The database carries no themes design." in band
    assert band.count('class="cjw-figure"') == 2          # the missing figure is no card, no zero
    record = headline_record(table)
    assert json.loads(json.dumps(record))["figures"][2] == {
        "figure": "worst_theme", "label": "Worst theme", "available": False, "text": "", "sentence": "",
        "verdict": "", "reason": "The database carries no themes design."}


@pytest.mark.parametrize("change,p,better,low,high,expected", [
    (-0.02, 0.001, "higher", math.nan, math.nan, "worse"),
    (-0.02, 0.001, "lower", math.nan, math.nan, "better"),
    (0.02, 0.2, "higher", math.nan, math.nan, "no clear change"),
    (0.02, math.nan, "higher", 0.01, 0.03, "better"),     # no p-value: the interval decides
    (0.02, math.nan, "higher", -0.01, 0.05, "no clear change"),
    (0.02, 0.001, None, math.nan, math.nan, ""),           # no direction, no verdict
    (math.nan, 0.001, "higher", math.nan, math.nan, ""),
])
def test_verdict(change, p, better, low, high, expected):
    assert verdict(change, p, better, low=low, high=high) == expected


def test_unknown_page_names_the_pages(demo_db):
    con = connect(demo_db[0])
    with pytest.raises(HeadlineError, match="Unknown page 'overveiw'.*Did you mean 'overview'"):
        headline_table(con, page="overveiw")


def test_small_groups_are_left_out_with_why(demo_db):
    con = connect(demo_db[0])
    head = headline_table(con, page="overview", k_min=10**7)
    assert not head["available"].any()
    assert all(math.isnan(v) for v in head["value"]) and all(head["reason"])


def test_headline_on_a_database_with_only_events(tmp_path):
    rows = ["customer,ts,activity"]
    t0 = dt.datetime(2024, 3, 1, 9)
    for c in range(40):
        for i, a in enumerate(("visit", "basket", "pay") if c % 4 else ("visit", "basket")):
            rows.append(f"C{c:02d},{t0 + dt.timedelta(days=c % 60, minutes=10 * i):%Y-%m-%d %H:%M:%S},{a}")
    (tmp_path / "events.csv").write_text("\n".join(rows) + "\n")
    cfg = write_config(tmp_path, [{"name": "ev", "kind": "events", "path": "events.csv",
                                   "columns": {"customer_id": "customer", "event_ts": "ts", "activity": "activity"}}])
    from cjworkbench.ingest import run_ingest

    run_ingest(cfg, tmp_path / "db.duckdb")
    con = connect(tmp_path / "db.duckdb")
    for page in PAGES:
        head = headline_table(con, page=page)
        left_out = head[~head["available"]]
        assert all(left_out["value"].isna()) and all(left_out["reason"].str.len() > 10), page
    voc = headline_table(con, page="voc").set_index("figure")
    assert not voc.loc["score", "available"] and "No scored answers" in voc.loc["score", "reason"]
    journeys = headline_table(con, page="journey_explorer").set_index("figure")
    assert journeys.loc["n_journeys", "value"] == 40                       # one journey per customer
    assert journeys.loc["median_duration", "value"] == 1200                  # visit -> pay: 20 minutes
    assert journeys.loc["top_variant", "value"] == 30 / 40 and "Pay" in journeys.loc["top_variant", "detail"]


def test_headline_on_a_real_database(real_data, tmp_path):
    import yaml

    from cjworkbench.ingest import run_ingest

    examples = Path(__file__).resolve().parents[1] / "examples" / "real"
    doc = yaml.safe_load((examples / "helpdesk.yml").read_text())
    for source in doc["sources"]:
        source["path"] = str((examples / source["path"]).resolve())
    (tmp_path / "helpdesk.yml").write_text(yaml.safe_dump(doc))
    run_ingest(tmp_path / "helpdesk.yml", tmp_path / "db.duckdb")
    con = connect(tmp_path / "db.duckdb")
    journeys = headline_table(con, page="journey_explorer").set_index("figure")
    n = con.con.sql("select count(distinct journey_id) from events").fetchone()[0]
    assert journeys.loc["n_journeys", "value"] == n
    design = headline_table(con, page="designed_vs_actual", design=None).set_index("figure")
    assert "journeys design" in design.loc["conformance", "reason"]
    voc = headline_table(con, page="voc")
    assert not voc["available"].any() and "No headline figure" in headline_sentence(voc)


def _manifest(folder: Path, names: list[str]) -> None:
    figures = {"what_changed": ("largest_change", "Conversion fell 13.7 points to 75.2 % in March 2026.", "worse"),
               "overview": ("worst_hotspot", "Hours lost after Order shipped: 20,890.", ""),
               "funnels_and_gaps": ("handoff_gap", "Hand-off app → phone: -22.3 pts (significant, p < 0.001).",
                                    "worse")}
    titles = {"overview": "Journey overview: where do our customers lose time?",
              "funnels_and_gaps": "Funnels and hand-offs: where do customers drop out?",
              "what_changed": "What changed: which journey figures moved this period?",
              "voc": "Voice of the customer: how do customers rate us?"}
    entries = []
    for name in names:
        entry = {"name": name, "title": titles.get(name, name), "html": f"{name}.html"}
        if name in figures:
            fid, sentence, verdict_ = figures[name]
            entry["headline"] = {"page": name, "sentence": sentence, "figures": [
                {"figure": fid, "label": "", "available": True, "text": "", "sentence": sentence,
                 "verdict": verdict_, "reason": ""}]}
        if name == "voc":
            entry["headline"] = {"page": "voc", "sentence": "No headline figure.", "figures": [
                {"figure": "score", "label": "Score", "available": False, "text": "", "sentence": "",
                 "verdict": "", "reason": "No nps answers in this database."}]}
        entries.append(entry)
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({
        "label": "2026-03", "start_date": "2026-03-01", "end_date": "2026-03-31", "generated": "now",
        "notebooks": entries, "failed": []}))


def test_report_index_summary_and_page_order(tmp_path):
    from cjworkbench.reports.index import write_index

    names = sorted(["actions", "designed_vs_actual", "funnels_and_gaps", "journey_explorer", "overview",
                    "personas_and_segments", "voc", "what_changed", "zz_custom"])            # alphabetical
    _manifest(tmp_path / "2026-03", names)
    page = write_index(tmp_path).read_text()
    body = page[page.index("</section>"):]
    links = re.findall(r'<a href="2026-03/(\w+)\.html" title=', body)
    assert links == [*PAGES, "zz_custom"]
    summary = page[page.index('class="cjw-summary"'):page.index("</section>")]
    assert "March 2026 at a glance" in summary
    items = re.findall(r"<strong>(.*?)</strong>: <span[^>]*>(.*?)</span> \(<a href=\"2026-03/(\w+)\.html\">(.*?)</a>",
                       summary)
    assert [(h, p) for h, _, p, _ in items] == [("What changed most", "what_changed"), ("Worst hotspot", "overview"),
                                                ("Biggest hand-off gap", "funnels_and_gaps"), ("Score trend", "voc")]
    assert items[0][1].startswith("Conversion fell 13.7 points") and items[2][1].startswith("Hand-off app → phone")
    assert items[3][1] == "not computed: No nps answers in this database."
    assert items[2][3] == "Funnels and hand-offs — March 2026"
    assert "Hand-off app → phone: -22.3 pts" in body            # each page's sentence under its link


def test_report_page_keeps_its_headline_for_the_index(tmp_path):
    """A report notebook's headline output carries the figures as JSON beside the HTML band."""
    import nbformat

    from cjworkbench.reports.pages import headline_of

    record = {"page": "voc", "sentence": "NPS fell.", "figures": []}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
        "display_data", data={"text/html": "<div class='cjw-headline'></div>", HEADLINE_MIME: record})])])
    nbformat.write(nb, tmp_path / "x.ipynb")
    assert headline_of(tmp_path / "x.ipynb") == record


def test_display_names_humanised_and_overridden_by_the_labels_design(tmp_path):
    from cjworkbench.display import table_html
    from cjworkbench.formats import display_name, use_labels

    assert [display_name(x) for x in ("order_shipped", "used_contact_centre", "n_steps", "nps", "web",
                                      "Resolve ticket", "view_home → track_order")] == \
        ["Order shipped", "Used contact centre", "Steps", "NPS", "Web", "Resolve ticket", "View home → Track order"]
    df = pd.DataFrame({"activity": ["order_shipped", "web"], "n_journeys": [12, 30]})
    try:
        assert "<td" in table_html(df) and "Order shipped" in table_html(df) and ">Web<" in table_html(df)
        use_labels({"order_shipped": "Parcel sent"})
        assert "Parcel sent" in table_html(df) and "Order shipped" not in table_html(df)
    finally:
        use_labels(None)

    rows = ["customer,ts,activity"] + [f"C{c:02d},2024-03-0{1 + c % 5} 09:0{i}:00,{a}"
                                       for c in range(30) for i, a in enumerate(("visit_shop", "pay_order"))]
    (tmp_path / "events.csv").write_text("\n".join(rows) + "\n")
    cfg = write_config(tmp_path, [{"name": "ev", "kind": "events", "path": "events.csv",
                                   "columns": {"customer_id": "customer", "event_ts": "ts", "activity": "activity"}}],
                       designs={"labels": {"pay_order": "Payment received"}})
    from cjworkbench.ingest import run_ingest
    from cjworkbench.designs import store

    run_ingest(cfg, tmp_path / "db.duckdb")
    con = connect(tmp_path / "db.duckdb")
    assert store.design(con, "labels") == {"pay_order": "Payment received"}
    top = headline_table(con, page="journey_explorer").set_index("figure").loc["top_variant"]
    assert top["detail"] == "Visit shop → Payment received" and top["value"] == 1.0


def test_a_labels_design_must_map_names_to_text(tmp_path):
    from cjworkbench.designs.config import parse_designs
    from cjworkbench.errors import ConfigError

    with pytest.raises(ConfigError, match="must map raw names to display names"):
        parse_designs({"labels": {"order_shipped": 3}}, None, tmp_path)
    assert parse_designs({"labels": {"a_b": "A b"}}, None, tmp_path).items[0].body == {"a_b": "A b"}


def test_clusters_are_described_by_the_features_that_set_them_apart():
    from cjworkbench.analysis.segments.segments import describe_cluster

    z = pd.Series({"log1p_n_journeys": 1.4, "purchase_share_app": 0.9, "recency_days": -0.6, "revenue": 0.1})
    assert describe_cluster(z) == "Many journeys, mostly app purchases"
    assert describe_cluster(z, top=3) == "Many journeys, mostly app purchases, recently active"
    assert describe_cluster(pd.Series({"revenue": -0.8, "tenure_days": 0.2})) == "Low revenue"
    assert describe_cluster(pd.Series({"revenue": 0.3, "tenure_days": -0.2})) == "Close to the average customer"
