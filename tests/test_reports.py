"""`cjw report`: papermill runs of the report notebooks into offline HTML, the index, failures that
keep the executed notebook and leave earlier reports byte-identical, timeouts, and the chart."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

import cjworkbench
from cjworkbench import cli
from cjworkbench.analysis.changes.changes import changes_table
from cjworkbench.charts.theme import ChartError
from cjworkbench.charts import changes_chart
from cjworkbench.reports import LOCK, REMOTE, report_notebooks
from cjworkbench.reports import parameters as report_parameters

from .conftest import ROOT
from .test_changes import CHECKOUT, _write_db

HEADER = "# %% [markdown]\n# # {title}\n\n# %% tags=[\"parameters\"]\ndb = \"\"\nstart_date = \"\"\nend_date = \"\"\n" \
         "interactive = True\nrenderer = \"jupyter\"\n\n# %%\n"
TINY = HEADER.format(title="Tiny report: did the parameters arrive?") + (
    "from IPython.display import SVG, display\n"
    "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" height=\"20\"><rect class=\"tiny-mark\" "
    "width=\"40\" height=\"20\"/></svg>'))\n"
    "print(f\"window {start_date} .. {end_date}, interactive={interactive}, renderer={renderer}\")\n")
BROKEN = HEADER.format(title="Broken") + "x = 1\n\n# %%\nraise ValueError('planted failure for the test')\n"
SLOW = HEADER.format(title="Slow") + "import time\ntime.sleep(120)\n"
NO_PARAMETERS = "# %% [markdown]\n# # Not a report\n\n# %%\nprint('no parameters cell')\n"


def _notebooks(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)
    return folder


def _report(db, out, *notebooks, as_of="2026-06-30", extra=()) -> int:
    return cli.main(["report", "--db", str(db), "--period", "month", "--as-of", as_of, "--out", str(out),
                     "--notebooks", *map(str, notebooks), *extra])


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _svgs(page: str) -> list[str]:
    """The SVG documents inlined as data: URIs (how nbconvert keeps image/svg+xml outputs)."""
    found = re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", page)
    return [base64.b64decode(b).decode("utf-8") for b in found]


@pytest.fixture(scope="module")
def demo_report(demo_db, tmp_path_factory, request):
    """One `cjw report` run on the demo: the real what_changed notebook plus the tiny one."""
    db, _ = demo_db
    out = tmp_path_factory.mktemp("reports")
    tiny = _notebooks(tmp_path_factory.mktemp("nb"), tiny=TINY) / "tiny.py"
    code = _report(db, out, ROOT / "notebooks" / "what_changed.py", tiny)
    return code, out


def test_report_writes_offline_html_and_index(demo_report, capsys):
    code, out = demo_report
    assert code == 0
    folder = out / "2026-06"
    assert sorted(p.name for p in folder.iterdir()) == ["report.json", "tiny.html", "what_changed.html"]
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [LOCK]   # no build folder left behind
    changed = (folder / "what_changed.html").read_text()
    svgs = [s for s in _svgs(changed) if "role-mark" in s]   # vl-convert's marks: a drawn Vega chart
    assert len(svgs) == 1 and "Checkout payment" in svgs[0] and "What changed in 2026-06" in svgs[0]   # display names
    assert "every compared figure, most certain first" in changed and "changes_table(" not in changed   # markdown kept, no code
    tiny = (folder / "tiny.html").read_text()
    assert "window 2026-06-01 .. 2026-06-30, interactive=False, renderer=svg" in tiny
    assert any("tiny-mark" in s for s in _svgs(tiny))
    for page in (changed, tiny):
        assert not REMOTE.findall(page) and not re.search(r"<script[^>]+src=[\"']?https?:", page)
    index = (out / "index.html").read_text()
    assert 'href="2026-06/what_changed.html"' in index and 'href="2026-06/tiny.html"' in index
    assert "What changed: which journey figures moved" in index


def test_report_renders_in_chromium_with_the_network_off(demo_report):
    chromium = shutil.which("chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not chromium:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    _, out = demo_report
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=flags)
        page = browser.new_context(offline=True).new_page()
        failed = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto((out / "2026-06" / "what_changed.html").as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("() => Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        browser.close()
    assert failed == []
    assert images and all(done and width > 100 for done, width in images)


def test_one_failing_notebook_is_marked_and_the_others_published(demo_db, tmp_path, capsys):
    db, _ = demo_db
    good = _notebooks(tmp_path / "good", tiny=TINY, notes=NO_PARAMETERS)
    out = tmp_path / "out"
    assert _report(db, out, good) == 0
    assert sorted(p.name for p in (out / "2026-06").iterdir()) == ["report.json", "tiny.html"]   # notes: no parameters

    bad = _notebooks(tmp_path / "bad", tiny=TINY, broken=BROKEN)
    capsys.readouterr()
    assert _report(db, out, bad, as_of="2026-06-20") == 1          # some pages failed: not 0, not "nothing made"
    err = capsys.readouterr().err
    assert "Notebook 'broken.py' failed in cell" in err and "ValueError: planted failure for the test" in err
    assert "1 of 2 page(s) failed" in err
    kept = out / "_failed" / "2026-06" / "broken.ipynb"
    assert kept.is_file() and str(kept) in err and "planted failure" in kept.read_text()
    assert "window 2026-06-01 .. 2026-06-20" in (out / "2026-06" / "tiny.html").read_text()   # the good page is published
    broken = (out / "2026-06" / "broken.html").read_text()
    assert "This page could not be made" in broken and "planted failure" in broken and "Traceback" not in broken
    made = json.loads((out / "2026-06" / "report.json").read_text())
    assert made["failed"] == ["broken"]
    index = (out / "index.html").read_text()
    assert 'class="cjw-failed"' in index and "planted failure for the test" in index
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [LOCK]

    fixed = _notebooks(tmp_path / "fixed", tiny=TINY, broken=TINY.replace("did the parameters arrive", "fixed"))
    assert _report(db, out, fixed, as_of="2026-06-15") == 0   # a new run of the period replaces it whole
    assert "window 2026-06-01 .. 2026-06-15" in (out / "2026-06" / "broken.html").read_text()
    assert not (out / "_failed" / "2026-06").exists()          # the old failure is superseded
    assert 'class="cjw-failed"' not in (out / "index.html").read_text()

    assert _report(db, out, bad, as_of="2026-06-16") == 1      # it fails again: the last good page stays, said so
    page = (out / "2026-06" / "broken.html").read_text()
    assert "window 2026-06-01 .. 2026-06-15" in page
    entry = json.loads((out / "2026-06" / "report.json").read_text())["notebooks"][0]
    assert entry["name"] == "broken" and entry["status"] == "failed" and entry["stale_from"]
    assert "showing the page made" in (out / "index.html").read_text()
    assert _report(db, out, good, as_of="2026-05-31") == 0
    index = (out / "index.html").read_text()
    assert index.index('href="2026-06/tiny.html"') < index.index('href="2026-05/tiny.html"')   # newest first


def test_every_notebook_failing_changes_nothing(demo_db, tmp_path, capsys):
    db, _ = demo_db
    out = tmp_path / "out"
    assert _report(db, out, _notebooks(tmp_path / "good", tiny=TINY)) == 0
    before, index = _snapshot(out / "2026-06"), (out / "index.html").read_bytes()
    assert _report(db, out, _notebooks(tmp_path / "bad", broken=BROKEN)) == 2
    assert "Every notebook failed" in capsys.readouterr().err
    assert _snapshot(out / "2026-06") == before and (out / "index.html").read_bytes() == index


def test_report_parameters_from_the_config_and_the_command_line(demo_db, tmp_path, capsys):
    """Each notebook gets only the parameters its cell declares (no papermill warning); the command
    line wins over the config; an unknown or reserved name, or a bad value, stops before any run."""
    db, _ = demo_db
    own = HEADER.format(title="Own").replace('renderer = "jupyter"\n', 'renderer = "jupyter"\nk_min = 10\n') + (
        "print(f'k_min={k_min!r}')\n")
    folder = _notebooks(tmp_path / "nb", tiny=TINY, own=own)
    config = tmp_path / "cjworkbench.yml"
    config.write_text("sources: []\nreport:\n  parameters:\n    k_min: 25\n")
    out = tmp_path / "out"
    assert _report(db, out, folder, extra=["--config", str(config)]) == 0
    assert "k_min=25" in (out / "2026-06" / "own.html").read_text()
    assert "Passed unknown parameter" not in capsys.readouterr().err
    assert _report(db, out, folder, extra=["--config", str(config), "-p", "k_min=40"]) == 0
    assert "k_min=40" in (out / "2026-06" / "own.html").read_text()
    for extra, said in ((["-p", "k_mn=5"], "Unknown report parameter 'k_mn'"), (["-p", "k_mn=5"], "Did you mean 'k_min'?"),
                        (["-p", "db=x.duckdb"], "'db' is set by cjw report itself"),
                        (["-p", "k_min=many"], "k_min must be"), (["-p", "nonsense"], "--param takes name=value")):
        assert _report(db, out, folder, extra=extra) == 2
        assert said in capsys.readouterr().err
    assert report_parameters.per_notebook({"k_min": "30"}, [folder / "own.py", folder / "tiny.py"]) == \
        {"own": {"k_min": 30}, "tiny": {}}


PROBE = ("import os\nseen = sorted(n for n in ('secret', 'x') if n in globals())\n"
         "print(f'probe pid={{os.getpid()}} seen={{seen}}')\n{extra}")


def test_the_notebooks_of_a_run_share_one_kernel_cleared_between_them(demo_db, tmp_path, capsys):
    """Notebooks a and b run in one kernel (same process), b sees none of a's variables; after the
    broken notebook c (which set x) the next one, d, runs in a new kernel without x."""
    db, _ = demo_db
    folder = _notebooks(tmp_path / "nb", a=HEADER.format(title="A") + PROBE.format(extra="secret = 41\n"),
                        b=HEADER.format(title="B") + PROBE.format(extra=""), c=BROKEN,
                        d=HEADER.format(title="D") + PROBE.format(extra=""))
    out = tmp_path / "out"
    assert _report(db, out, folder) == 1   # c failed, the others made their pages
    probes = {}
    for name in "abd":
        html = (out / "2026-06" / f"{name}.html").read_text()
        pid, seen = re.search(r"probe pid=(\d+) seen=(\[[^\]]*\])", html).groups()
        probes[name] = (int(pid), seen)
    assert probes["a"][0] == probes["b"][0], "a and b should share one kernel"
    assert probes["d"][0] != probes["a"][0], "the notebook after a failure gets a new kernel"
    assert [s for _, s in probes.values()] == ["[]", "[]", "[]"], probes   # no variable crosses notebooks


def test_no_kernel_client_is_left_listening_after_its_notebook(tmp_path):
    """nbclient leaves open the channels of a client it makes for a given kernel manager; ZeroMQ
    then keeps reconnecting to the dead kernel's ports, and a server that later gets such a port
    (Spark's result socket, CI of 2026-12-05) reads a ZeroMQ greeting. Each notebook's client is
    closed once the next notebook starts, and all of them when the run ends."""
    import nbformat
    import papermill

    from cjworkbench.reports.kernel import shared_kernel

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, tmp_path / "a.ipynb")
    made, open_before_next = [], []
    with shared_kernel() as kernel:
        for i in range(2):
            km = kernel.ready(tmp_path)
            open_before_next.append([kc.channels_running for kc in made])
            make = km.client

            def client(make=make, **kwargs):
                kc = make(**kwargs)
                made.append(kc)
                return kc
            km.client = client
            papermill.execute_notebook(str(tmp_path / "a.ipynb"), str(tmp_path / f"o{i}.ipynb"), km=km,
                                       kernel_name="python3", progress_bar=False)
            km.client = make
    assert len(made) == 2 and open_before_next == [[], [False]]
    assert [kc.channels_running for kc in made] == [False, False]


def test_a_cell_that_hangs_times_out(demo_db, tmp_path, capsys):
    db, _ = demo_db
    slow = _notebooks(tmp_path / "slow", slow=SLOW)
    assert _report(db, tmp_path / "out", slow, extra=["--timeout", "3"]) == 2
    err = capsys.readouterr().err
    assert "Notebook 'slow.py' failed in cell" in err and "timed out" in err.lower()
    assert (tmp_path / "out" / "_failed" / "2026-06" / "slow.ipynb").is_file()
    assert not (tmp_path / "out" / "2026-06").exists()


def test_bad_arguments_say_what_to_fix(demo_db, tmp_path, capsys):
    db, _ = demo_db
    good = _notebooks(tmp_path / "nb", tiny=TINY)
    out = tmp_path / "out"
    assert _report(db, out, good, as_of="2026-13-45") == 2
    assert "as_of must be a date like 2026-01-31, got '2026-13-45'" in capsys.readouterr().err
    assert _report(tmp_path / "missing.duckdb", out, good) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = _notebooks(tmp_path / "empty", notes=NO_PARAMETERS)
    assert _report(db, out, empty) == 2
    assert "No report notebooks" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert [p.name for p in report_notebooks([good, empty])] == ["tiny.py"]


def test_changes_chart_spec(tmp_path):
    con = _write_db(tmp_path / "db.duckdb")
    table = changes_table(con, as_of="2026-06-30", min_n=1, drivers=(), funnels={"checkout": CHECKOUT})
    spec = changes_chart(table, top=6).to_dict()
    panels = spec["vconcat"][0]["vconcat"]
    assert spec["title"]["orient"] == "bottom"   # the definition as a caption
    assert spec["vconcat"][0]["title"]["text"] == "What changed in 2026-06: the 6 top-ranked figures"
    layers = [layer for panel in panels for layer in panel["layer"]]
    marks = {(layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]) for layer in layers}
    assert {"rule", "point"} <= marks
    dots = [layer for layer in layers if layer["encoding"].get("x", {}).get("field") == "change"]
    assert dots and all(d["encoding"]["x"]["type"] == "quantitative" for d in dots)
    assert sum(len(v) for k, v in spec["datasets"].items()) >= 6
    with pytest.raises(ChartError, match="changes_table"):
        changes_chart(cjworkbench.funnel_table(con, steps=list(CHECKOUT)))
