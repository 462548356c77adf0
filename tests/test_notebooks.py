"""Notebooks, their controls and the dashboards folder.

Every notebook in notebooks/ runs through papermill in report mode (interactive=False,
renderer="svg") on the 5,000-customer demo and must draw SVG charts with no error output; the
notebooks stay thin (parameters of literals, no def/class/SQL/paths); the controls redraw on a
widget change, show errors as friendly messages and suppress small groups; the landing page lists
every dashboard. Real browsers are tests/test_browser.py.
"""

from __future__ import annotations

import ast
import html
import json
import logging
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest

from cjworkbench import controls, dashboards, display
from cjworkbench.errors import WorkbenchError
from cjworkbench.privacy import suppress_small

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
NAMES = [p.stem for p in NOTEBOOKS]
COMMON = {"db", "start_date", "end_date", "segment", "interactive", "renderer", "k_min"}
CUSTOMER_ID = re.compile(r"\bC\d{6}\b")  # the demo's raw customer numbers
BAD_RANGE = "overview-bad-range"


def _read(path: Path):
    return jupytext.read(path)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


# -- the notebooks stay thin ------------------------------------------------------------------------

def test_there_are_the_six_dashboards():
    assert {"overview", "journey_explorer", "funnels_and_gaps", "designed_vs_actual", "voc",
            "personas_and_segments"} <= set(NAMES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_parameters_cell_holds_literals_with_help(path):
    nb = _read(path)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    names = set()
    for line in cells[0].source.splitlines():
        if not line.strip():
            continue
        code, sep, help_ = line.partition("  # ")
        assert sep and help_.strip(), f"no '# help' comment: {line!r}"
        assert "=" not in help_, f"papermill cannot parse a help text with '=': {line!r}"
        name, _, value = code.partition(" = ")
        ast.literal_eval(value)  # a literal, nothing derived
        names.add(name.strip())
    assert COMMON <= names, f"missing parameters: {COMMON - names}"
    assert ast.literal_eval(cells[0].source.split("interactive = ")[1].split()[0]) is True


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_is_thin(path):
    nb = _read(path)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ") and "?" in first.source.splitlines()[0]
    shows = 0
    for i, cell in enumerate(_code_cells(nb)):
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), \
                f"logic in the notebook: {ast.unparse(node)[:60]}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not re.search(r"\b(select|insert|delete|create)\b.+\b(from|into|table)\b", node.value, re.I)
                # a file path (designed files are named, `controls.designed("kpi_map.yml")`, never located)
                assert not re.search(r"\.duckdb$|^~?/|^\.\.?/|\w/[\w.-]+\.\w+$", node.value), node.value
        shows += cell.source.count("controls.show")
    assert shows >= 1
    # every output cell follows a markdown cell: a heading and the sentence that interprets it
    for prev, cell in zip(nb.cells, nb.cells[1:]):
        if cell.cell_type == "code" and "controls.show" in cell.source:
            assert prev.cell_type == "markdown" and len(prev.source.splitlines()) >= 2


# -- papermill: every notebook in report mode ------------------------------------------------------

def _papermill(src: Path, out_dir: Path, name: str, db: Path, extra: dict) -> dict:
    ipynb = out_dir / f"{name}.in.ipynb"
    nbformat.write(_read(src), ipynb)
    out = out_dir / f"{name}.out.ipynb"
    args = [sys.executable, "-m", "papermill", str(ipynb), str(out), "--execution-timeout", "300",
            "-p", "db", str(db), "-p", "interactive", "False", "-p", "renderer", "svg", "--cwd", str(out_dir)]
    for k, v in extra.items():
        args += ["-p", k, v]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    return {"rc": proc.returncode, "out": out, "log": proc.stdout + proc.stderr}


@pytest.fixture(scope="session")
def executed(demo_db, tmp_path_factory):
    """Every notebook executed once (three at a time), plus the overview with an impossible date range."""
    db, _ = demo_db
    out_dir = tmp_path_factory.mktemp("papermill")
    jobs = {p.stem: (p, {}) for p in NOTEBOOKS}
    jobs[BAD_RANGE] = (ROOT / "notebooks" / "overview.py", {"start_date": "2026-05-01", "end_date": "2026-01-31"})
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(_papermill, src, out_dir, name, db, extra) for name, (src, extra) in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


def _outputs(nb):
    return [o for c in _code_cells(nb) for o in c.get("outputs", [])]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_report_mode(executed, name):
    run = executed[name]
    assert run["rc"] == 0, run["log"][-3000:]
    nb = nbformat.read(run["out"], as_version=4)
    outs = _outputs(nb)
    assert not [o for o in outs if o.output_type == "error"]
    assert not [o for o in outs if o.output_type == "stream" and o.get("name") == "stderr"
                and "Traceback" in o.get("text", "")]
    svgs = [o["data"]["image/svg+xml"] for o in outs if "image/svg+xml" in o.get("data", {})]
    assert svgs and all("<svg" in s and "</svg>" in s for s in svgs)
    assert not [o for o in outs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})], \
        "report mode must not make widgets"
    text = json.dumps([o.get("data", {}) for o in outs])
    assert not CUSTOMER_ID.search(text), "a raw customer id reached the output"
    assert "@example." not in text
    assert "cdn.jsdelivr" not in text and "esm.sh" not in text  # renders with no network


def test_report_with_an_impossible_date_range_fails_with_the_message(executed):
    run = executed[BAD_RANGE]
    assert run["rc"] != 0
    nb = nbformat.read(run["out"], as_version=4)
    errors = [o for o in _outputs(nb) if o.output_type == "error"]
    assert errors and errors[0]["ename"] == "ControlError"
    assert "start date 2026-05-01 is after the end date 2026-01-31" in errors[0]["evalue"]


# -- controls: widgets, redraws, messages, privacy --------------------------------------------------

def test_safe_shows_a_workbench_message_and_logs_anything_else():
    seen, records = [], []
    handler = logging.Handler()
    handler.emit = records.append
    controls.log.addHandler(handler)
    try:
        controls.safe(lambda: (_ for _ in ()).throw(WorkbenchError("Pick a later end date.")), on_error=seen.append)()
        controls.safe(lambda: {}["secret-key /srv/data.duckdb"], on_error=seen.append)()
        assert controls.safe(lambda: 42, on_error=seen.append)() == 42
    finally:
        controls.log.removeHandler(handler)
    assert seen == ["Pick a later end date.", controls.GENERIC_MESSAGE]
    assert len(records) == 1 and records[0].exc_info[0] is KeyError  # the log keeps the traceback
    assert "secret" not in controls.GENERIC_MESSAGE


def test_panel_filters_from_parameters_and_the_url(demo_db, monkeypatch):
    db, _ = demo_db
    p = controls.panel(str(db), start_date="2026-01-01", end_date="2026-03-31", segment="Premium",
                       interactive=False, renderer="svg")
    f = p.filters
    assert (str(f.start_date), str(f.end_date), f.segment, f.channel) == ("2026-01-01", "2026-03-31", "Premium", None)
    with pytest.raises(controls.ControlError, match="start date 2026-04-01 is after the end date 2026-03-31"):
        controls.panel(str(db), start_date="2026-04-01", end_date="2026-03-31", interactive=False, renderer="svg")
    # the persona filter is judged by the personas the database carries (the scope reads them: personas None)
    f = controls.panel(str(db), persona="traditional", interactive=False, renderer="svg").filters
    assert f.persona == "traditional" and f.personas is None
    with pytest.raises(controls.ControlError, match="Unknown persona 'budget'.*Did you mean 'budget shopper'"):
        controls.panel(str(db), persona="budget", interactive=False, renderer="svg")
    # a Voilà URL sets the filters (never the database); unknown values fall back to all, with a message
    monkeypatch.setenv("QUERY_STRING", "segment=Business&channel=emial&db=/etc/passwd")
    live = controls.panel(str(db), renderer="svg")
    assert live.db == db and live.widgets["segment"].value == "Business" and live.widgets["channel"].value == "(all)"
    message = html.unescape(live.message.value)
    assert "Unknown channel 'emial'" in message and "Did you mean 'email'?" in message
    assert live.filters.segment == "Business" and live.filters.channel is None
    assert [value for _label, value in live.widgets["segment"].options] == ["(all)", "Business", "Premium", "Value"]
    assert "persona" not in live.widgets  # only notebooks that pass persona= filter by it
    monkeypatch.setenv("QUERY_STRING", "start_date=2026-13-01")
    bad_date = controls.panel(str(db), renderer="svg")
    assert "start_date must be a date like 2026-01-31, got &#x27;2026-13-01&#x27;" in bad_date.message.value
    assert bad_date.filters.start_date is None and bad_date.widgets["start_date"].value is None
    monkeypatch.setenv("QUERY_STRING", "persona=traditional")
    with_persona = controls.panel(str(db), persona="", renderer="svg")
    assert with_persona.widgets["persona"].options == (   # words shown, the raw names kept as values
        ("(all)", "(all)"), ("Traditional", "traditional"), ("Business buyer", "business buyer"),
        ("Young professional", "young professional"), ("Budget shopper", "budget shopper"), ("Other", "other"))
    assert with_persona.filters.persona == "traditional"


def test_an_impossible_range_in_the_widgets_is_a_message_not_a_chart(demo_db):
    import datetime as dt

    db, _ = demo_db
    p = controls.panel(str(db), renderer="svg")
    p.widgets["start_date"].value = dt.date(2026, 5, 1)
    p.widgets["end_date"].value = dt.date(2026, 1, 31)
    assert "is after the end date" in p.message.value and "Traceback" not in p.message.value
    p.widgets["end_date"].value = dt.date(2026, 6, 30)
    assert p.message.value == ""


def test_a_missing_database_is_a_message_on_the_dashboard(tmp_path):
    p = controls.panel(str(tmp_path / "gone.duckdb"), renderer="svg")
    assert p.con is None and "does not exist" in p.message.value and "cjw ingest" in p.message.value
    view = controls.View(p, lambda con, *, filters: 1 / 0, None, options={})
    view._ipython_display_()  # draws nothing and raises nothing: the panel already says why
    assert view.body.children == () and view.message.value == ""
    with pytest.raises(WorkbenchError, match="does not exist"):  # a report fails instead
        controls.panel(str(tmp_path / "gone.duckdb"), interactive=False, renderer="svg")


def _svg(view) -> str:
    return view.body.children[0].value


def test_a_widget_change_redraws_the_chart(demo_db):
    from cjworkbench import charts
    import cjworkbench as cjw

    db, _ = demo_db
    p = controls.panel(str(db), renderer="svg")
    dim = controls.choice("channel", ["channel", "device", "department"], description="Switch of")
    view = controls.View(p, cjw.switch_matrix_table, charts.switch_matrix_chart, options=dict(by=dim))
    view._ipython_display_()
    before = _svg(view)
    assert "Switches of channel" in before and set(view.body.children[0]._dom_classes) == {"cjw-chart", "cjw-wide"}
    dim.widget.value = "device"  # the view's own control
    after = _svg(view)
    assert "Switches of device" in after and after != before
    p.widgets["segment"].value = "Business"  # a shared filter redraws every view
    expected = cjw.switch_matrix_table(p.con, by="device", filters=cjw.Filters(segment="Business"))
    expected = charts.switch_matrix_chart(suppress_small(expected, k=10))
    from cjworkbench.charts.theme import uncaptioned   # on a page the caption moves under the chart, folded
    assert _svg(view) == controls.chart_svg(uncaptioned(expected)[0])
    assert "segment = Business" in view.caption.value and "segment = Business" not in after


def test_jupyter_renderer_redraws_one_chart_as_a_new_widget(demo_db):
    """A redraw replaces the chart widget and closes the old one (a spec swapped into a drawn chart
    was sometimes never drawn by a busy page); the new chart holds the new rows."""
    from cjworkbench import charts
    import cjworkbench as cjw

    db, _ = demo_db
    p = controls.panel(str(db), renderer="jupyter")
    view = controls.View(p, cjw.variants_table, charts.variants_chart, options=dict(top=controls.number(5, low=3, high=9)))
    view._ipython_display_()
    jc = view.body.children[0]
    first = json.dumps(jc.spec)
    view.widgets[("options", "top")].value = 8
    new = view.body.children[0]
    assert new is not jc and jc.comm is None and json.dumps(new.spec) != first   # the old one closed
    rows = [d for d in new.spec["datasets"].values() if d and "variant" in d[0]]
    expected = suppress_small(cjw.variants_table(p.con, top=8), k=10)
    assert [r["variant_raw"] for r in rows[0]] == expected.loc[~expected["suppressed"], "variant"].tolist()


def test_view_errors_become_messages(demo_db):
    db, _ = demo_db
    p = controls.panel(str(db), renderer="svg")

    def bad_input(con, *, filters):
        raise WorkbenchError("Unknown activity 'chekout'. Did you mean 'checkout_start'?")

    def bug(con, *, filters):
        raise RuntimeError("password=hunter2 in /srv/secret")

    for table, expected in ((bad_input, "Did you mean 'checkout_start'?"), (bug, controls.GENERIC_MESSAGE)):
        view = controls.View(p, table, None, options={})
        view._ipython_display_()
        assert expected in html.unescape(view.message.value) and view.body.layout.display == "none"
        assert "hunter2" not in view.message.value and "Traceback" not in view.message.value


def test_small_groups_are_suppressed_before_display(demo_db):
    import cjworkbench as cjw

    db, _ = demo_db
    p = controls.panel(str(db), interactive=False, renderer="svg")
    raw = cjw.switch_matrix_table(p.con, unit="session")
    view = controls.View(p, cjw.switch_matrix_table, None, options={"unit": "session"})
    shown = view.result()
    small = raw["n_customers"] < 10
    assert 0 < small.sum() < len(raw)
    assert shown["suppressed"].tolist() == small.tolist()
    assert shown.loc[small.to_numpy(), "n_switches"].isna().all()
    assert (shown.loc[~small.to_numpy(), "n_switches"] == raw.loc[~small, "n_switches"]).all()
    page = display.table_html(shown)
    assert f"{int(small.sum())} groups with fewer than 10 customers not shown" in page


def test_report_mode_displays_svg_and_html(demo_db):
    from IPython.core.formatters import format_display_data
    from IPython.display import SVG

    from cjworkbench import charts
    import cjworkbench as cjw

    db, _ = demo_db
    p = controls.panel(str(db), interactive=False, renderer="svg")
    chart = controls.View(p, cjw.hotspots_table, charts.hotspots_chart, options=dict(top=5), count="n_journeys").result()
    data, _ = format_display_data(SVG(controls.chart_svg(chart)))
    assert data["image/svg+xml"].startswith("<svg") and "Where time is lost" in data["image/svg+xml"]
    assert isinstance(controls.View(p, cjw.hotspots_table, None, options={}, count="n_journeys").result(), pd.DataFrame)


# -- the dashboards folder -------------------------------------------------------------------------

def test_build_dashboards_writes_every_notebook_and_a_landing_page(tmp_path):
    listed = dashboards.build_dashboards(tmp_path)
    assert [d["name"] for d in listed][0] == "overview" and sorted(d["name"] for d in listed) == sorted(NAMES)
    index = nbformat.read(tmp_path / "index.ipynb", as_version=4)
    text = index.cells[0].source
    for d, path in zip(sorted(listed, key=lambda d: d["name"]), sorted(NOTEBOOKS)):
        nb = nbformat.read(tmp_path / d["file"], as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "python3" and "jupytext" not in nb.metadata
        lines = _read(path).cells[0].source.splitlines()
        assert d["title"] == lines[0].lstrip("# ") and d["description"] == " ".join(lines[1:]) and d["description"]
        assert f"[{d['title']}]({d['file']}): {d['description']}" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{n}.ipynb" for n in NAMES] + ["index.ipynb"])


def test_voila_follows_recipe_b():
    cmd = dashboards.voila_command("/tmp/x", port=8899)
    assert "--Voila.ip=127.0.0.1" in cmd and "--port=8899" in cmd and "--no-browser" in cmd
    assert "--MappingKernelManager.cull_idle_timeout=60" in cmd and "--MappingKernelManager.cull_interval=10" in cmd
    assert "--CappedKernelManager.max_kernels=16" in cmd and "--MappingKernelManager.cull_connected=False" in cmd
    assert "--VoilaConfiguration.extension_denylist=jupyterlab-jupytext" in cmd
    assert "--VoilaConfiguration.show_tracebacks=False" in cmd and "--Voila.port_retries=0" in cmd


def test_serve_refuses_a_missing_database(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cjworkbench.cli", "serve", "--db", str(tmp_path / "no.duckdb"),
                           "--no-browser"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
