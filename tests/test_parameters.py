"""The parameter registry (cjworkbench/parameters/) against everything that accepts an option.

Drift checks: every notebook's parameters cell equals the registry (name, default, help, in both
directions); notebooks make their widgets from the registry; every `cjw` flag and config key is
declared with the same default and allowed values, and nothing declared is gone; allowed values
equal the code's own lists; the README's "Parameters reference" equals the generated text.
URL parameters: each is validated, a bad value is one short message and the page falls back to
the default (headless: the panel reads QUERY_STRING as a Voilà kernel does).
"""

from __future__ import annotations

import argparse
import ast
import html
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from cjworkbench import parameters
from cjworkbench.parameters import (CLI_FLAGS, CONFIG_KEYS, NOTEBOOK_PARAMETERS, URL_PARAMETERS, ParameterError,
                                    from_url, notebook_parameter, upgrade)
from cjworkbench.parameters.reference import markdown, section

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
NAMES = [p.stem for p in NOTEBOOKS]


def _cell(path: Path) -> dict[str, tuple[object, str]]:
    """name -> (default, help) of a notebook's parameters cell."""
    nb = jupytext.read(path)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    out = {}
    for line in cell.source.splitlines():
        if line.strip():
            code, _, help_ = line.partition("  # ")
            name, _, value = code.partition(" = ")
            out[name.strip()] = (ast.literal_eval(value), help_.strip())
    return out


def _declared_for(notebook: str) -> set[str]:
    """The names whose declaration for `notebook` says the notebook holds them."""
    out = set()
    for name in {p.name for p in NOTEBOOK_PARAMETERS}:
        try:
            p = notebook_parameter(name, notebook)
        except ParameterError:  # declared for other notebooks only
            continue
        if p.notebooks is None or notebook in p.notebooks:
            out.add(name)
    return out


# -- notebooks --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_every_notebook_parameter_is_declared_with_its_default_and_help(path):
    cell = _cell(path)
    for name, (default, help_) in cell.items():
        p = notebook_parameter(name, path.stem)
        assert p.notebooks is None or path.stem in p.notebooks, f"{name} is not declared for {path.stem}"
        assert (default, help_) == (p.default, p.help), f"{path.stem}: {name} differs from the registry"
    assert set(cell) == _declared_for(path.stem), "declared for this notebook but not in its parameters cell"


def test_every_declared_notebook_is_a_notebook_and_defaults_are_allowed():
    for p in NOTEBOOK_PARAMETERS:
        assert p.notebooks is None or set(p.notebooks) <= set(NAMES), p
        assert p.check(p.default) == p.default
        assert "=" not in p.help and "  # " not in p.help  # papermill reads `name = value  # help`
        for old in p.aliases:
            assert old not in {q.name for q in NOTEBOOK_PARAMETERS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_widgets_are_made_from_the_registry(path):
    """No widget options, ranges or labels written in a notebook: `controls.option(name, name, ...)`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name) and node.func.value.id == "controls":
            assert node.func.attr not in ("choice", "number", "steps"), ast.unparse(node)
            if node.func.attr == "option":
                name, value = node.args[0].value, node.args[1]
                assert isinstance(value, ast.Name) and value.id == name, ast.unparse(node)
                kw = {k.arg: k.value for k in node.keywords}
                notebook = kw["notebook"].value if "notebook" in kw else None
                assert notebook in (None, path.stem)
                p = notebook_parameter(name, notebook or path.stem)
                assert p is notebook_parameter(name, notebook), f"{name}: pass notebook={path.stem!r}"
                assert p.label, f"{name} has no widget label in the registry"


def test_option_builds_the_control_of_the_entry():
    from cjworkbench import controls

    c = controls.option("at_step", 3)
    assert (c.kind, c.value, c.low, c.high, c.description) == ("number", 3, 2, 8, "Dropped before step")
    c = controls.option("by", "", notebook="designed_vs_actual")
    assert c.kind == "dropdown" and c.value is None and c.options[0] == ("(no groups)", None)
    c = controls.option("persona", "", options=["a", "b"], notebook="personas_and_segments")
    assert [v for _, v in c.options] == ["a", "b"] and c.value == "a" and c.description == "Persona"
    assert controls.option("steps", "a, b").value == ("a", "b")
    with pytest.raises(ParameterError, match="No parameter 'bogus'"):
        controls.option("bogus", 1)


def test_old_names_are_renamed_for_one_release():
    with pytest.warns(DeprecationWarning) as seen:
        assert upgrade({"funnel_steps": ["a", "b"], "dropoff_step": 2}) == {"steps": ["a", "b"], "at_step": 2}
    assert sorted(str(w.message).split("'")[1] for w in seen) == ["dropoff_step", "funnel_steps"]
    with pytest.warns(DeprecationWarning):
        assert upgrade({"as_of": "2026-06-30", "end_date": "2026-06-30"}) == {"end_date": "2026-06-30"}
    assert upgrade({"db": "x"}) == {"db": "x"}


# -- CLI flags and config keys ----------------------------------------------------------------------

def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    out = {}
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        out[max(a.option_strings, key=len) if a.option_strings else a.dest] = a
    return out


def test_every_cli_flag_is_declared():
    from cjworkbench.cli import _parser

    parser = _parser()
    commands = {"": parser}
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands |= dict(sub.choices)
    assert set(commands) == set(CLI_FLAGS), "commands declared in cjworkbench/parameters/commands.py"
    for command, cmd_parser in commands.items():
        actual, declared = _flags(cmd_parser), {p.name: p for p in CLI_FLAGS[command]}
        assert set(actual) == set(declared), f"cjw {command}: flags differ from the registry"
        for name, a in actual.items():
            p = declared[name]
            assert a.default == p.default, f"cjw {command} {name}: default {a.default!r} vs {p.default!r}"
            assert tuple(a.choices or ()) == p.choices, f"cjw {command} {name}: choices"
            assert bool(a.required) == p.required, f"cjw {command} {name}: required"
            assert p.help


def test_every_config_key_is_declared():
    from cjworkbench import config, contract

    source = (ROOT / "cjworkbench" / "config.py").read_text(encoding="utf-8")
    top = set(re.findall(r"\bdoc(?:\.get\(|\[)\"(\w+)\"", source))
    assert top == {p.name for p in CONFIG_KEYS[""]}, "top-level config keys"
    assert set(config._SOURCE_KEYS) == {p.name for p in CONFIG_KEYS["sources[]"]}, "per-source config keys"
    assert set(CONFIG_KEYS) == {"", "sources[]", "limits", "designs"}
    from cjworkbench.designs.config import DESIGN_KINDS
    assert tuple(p.name for p in CONFIG_KEYS["designs"]) == DESIGN_KINDS, "designs: kinds"
    assert {p.name: p.default for p in CONFIG_KEYS["limits"]} == config.LIMITS, "limits: keys and defaults"
    keys = {p.name: p for p in CONFIG_KEYS["sources[]"]}
    assert keys["format"].choices == config.FORMATS and keys["encoding"].choices == config.ENCODINGS
    assert keys["kind"].choices == contract.KINDS and keys["instrument"].choices == contract.INSTRUMENTS
    assert keys["direction"].choices == contract.DIRECTIONS
    assert keys["name"].pattern == config._NAME.pattern.strip("^$")


def test_allowed_values_equal_the_codes_own():
    from cjworkbench import display, periods
    from cjworkbench.analysis.journeys import retention
    from cjworkbench.scope import UNITS

    assert notebook_parameter("renderer").choices == display.RENDERERS
    assert notebook_parameter("period").choices == periods.PERIODS == retention.PERIODS
    assert set(notebook_parameter("unit", "funnels_and_gaps").choices) == {"", *UNITS}   # '': from the funnel's window


# -- the README ------------------------------------------------------------------------------------

def test_readme_reference_is_the_generated_text():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert section(readme) == markdown(), ("README's Parameters reference is out of date: run "
                                           "`python -m cjworkbench.parameters --write README.md`")


# -- URL parameters --------------------------------------------------------------------------------

def test_every_url_parameter_is_declared_and_validated():
    from cjworkbench import controls

    assert controls.URL_PARAMETERS == URL_PARAMETERS == ("start_date", "end_date", "segment", "channel", "persona",
                                                         "renderer")
    assert "db" not in URL_PARAMETERS and "k_min" not in URL_PARAMETERS  # never from a URL
    huge = "x" * 10_000
    for name in URL_PARAMETERS:
        values, problems = from_url(f"{name}={huge}&db=/etc/passwd&k_min=0")
        assert values == {} and list(problems) == [name]
        assert len(problems[name]) < 200
    values, problems = from_url("renderer=evil&start_date=2026-13-01&channel=web&segment=")
    assert values == {"channel": "web", "segment": ""}
    assert problems == {"renderer": "Unknown renderer 'evil'. Expected one of: jupyter, svg.",
                        "start_date": "start_date must be a date like 2026-01-31, got '2026-13-01'."}
    long_date = "9" * 500
    message = from_url(f"end_date={long_date[:900]}")[1]["end_date"]
    assert len(message) < parameters.ECHO_CHARS + 80 and "…" in message


def _messages(panel) -> list[str]:
    return re.findall(r'<div class="cjw-error"[^>]*>(.*?)</div>', panel.message.value, flags=re.S)


def test_a_bad_renderer_in_the_url_is_one_message_and_the_default(demo_db, monkeypatch):
    from cjworkbench import controls

    monkeypatch.setenv("QUERY_STRING", "renderer=evil")
    p = controls.panel(str(demo_db[0]), renderer="svg")
    assert p.error is None and p.renderer == "svg" and p.con is not None and "segment" in p.widgets
    assert [html.unescape(m) for m in _messages(p)] == [
        "Unknown renderer 'evil'. Expected one of: jupyter, svg. Showing 'svg' instead."]


def test_an_impossible_range_in_the_url_is_said_once_and_everything_renders(demo_db, monkeypatch):
    import cjworkbench as cjw
    from cjworkbench import charts, controls

    monkeypatch.setenv("QUERY_STRING", "start_date=2026-05-01&end_date=2026-01-31")
    p = controls.panel(str(demo_db[0]), renderer="svg")
    text = html.unescape(p.message.value)
    assert text.count("The start date 2026-05-01 is after the end date 2026-01-31") == 1
    assert p.error is None and p.filters.start_date is None and p.filters.end_date is None
    views = [controls.View(p, cjw.variants_table, charts.variants_chart, options={}) for _ in range(5)]
    for view in views:
        view._ipython_display_()
        assert view.message.value == "" and view.body.children  # drawn, no repeated message


def test_a_huge_url_value_is_cut_short_and_the_rest_renders(demo_db, monkeypatch):
    from cjworkbench import controls

    monkeypatch.setenv("QUERY_STRING", "channel=" + "e" * 10_000 + "&segment=Business&renderer=" + "r" * 200)
    p = controls.panel(str(demo_db[0]), renderer="svg")
    assert len(p.message.value) < 1000 and "e" * 100 not in p.message.value and "r" * 100 not in p.message.value
    assert len(_messages(p)) == 1 and p.filters.segment == "Business" and p.filters.channel is None
    assert p.renderer == "svg" and p.error is None


def test_a_bad_renderer_in_a_report_fails_with_the_message(demo_db):
    from cjworkbench import controls

    with pytest.raises(ParameterError, match="Unknown renderer 'evil'"):
        controls.panel(str(demo_db[0]), renderer="evil", interactive=False)


# -- the controls package ----------------------------------------------------------------------------

def test_importing_controls_sets_up_no_logging_and_only_controls_imports_ipywidgets():
    code = ("import logging, cjworkbench.controls; "
            "print(len(logging.getLogger('cjworkbench.dashboards').handlers))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "0", out.stderr[-2000:]
    for path in (ROOT / "cjworkbench").rglob("*.py"):
        if "controls" not in path.relative_to(ROOT / "cjworkbench").parts:
            assert not re.search(r"^\s*(import ipywidgets|from ipywidgets)", path.read_text(), re.M), path
