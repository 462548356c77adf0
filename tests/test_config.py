"""Config validation: every mistake is named with its source and a fix."""

import pytest

from cjworkbench.config import load_config
from cjworkbench.errors import ConfigError, InputFileError, WorkbenchError

from .conftest import write_config


def _events(**over):
    src = {"name": "web", "kind": "events", "path": "e.csv",
           "columns": {"customer_id": "c", "event_ts": "t", "activity": "a"}}
    src.update(over)
    return src


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "e.csv").write_text("c,t,a\n1,2024-01-01,x\n")
    return tmp_path


def test_valid_config_resolves_paths_and_defaults(folder):
    cfg = load_config(write_config(folder, [_events()], timezone="Europe/Amsterdam"))
    src = cfg.sources[0]
    assert src.files == (folder / "e.csv",)
    assert src.format == "csv" and src.timezone == "Europe/Amsterdam" and not src.keep_duplicates
    assert src.columns["customer_id"] == ("c",)
    assert len(cfg.sha256) == 64


@pytest.mark.parametrize("over, message", [
    ({"kind": "event"}, "Unknown kind 'event'. Expected one of: customers, events, feedback. Did you mean 'events'?"),
    ({"colums": {}}, "unknown key 'colums'. Did you mean 'columns'?"),
    ({"timezone": "Europe/Amsterdm"}, "Did you mean 'Europe/Amsterdam'?"),
    ({"columns": {"customer_id": "c", "activity": "a"}}, "must map event_ts"),
    ({"columns": {"customer_id": "c", "event_ts": "t", "activity": "a", "chanel": "x"}}, "Did you mean 'channel'?"),
    ({"duplicates": "remove"}, "Unknown duplicates policy 'remove'"),
    ({"format": "xls"}, "Unknown format 'xls'"),
    ({"encoding": "ebcdic"}, "Unknown encoding 'ebcdic'"),
    ({"name": "Web Log"}, "'name' must be lowercase"),
    ({"instrument": "nps"}, "applies to feedback sources only"),
])
def test_bad_source_is_explained(folder, over, message):
    with pytest.raises(ConfigError) as err:
        load_config(write_config(folder, [_events(**over)]))
    assert message in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, WorkbenchError)


def test_missing_file_names_the_base_folder(folder):
    with pytest.raises(InputFileError, match=r"file '.*nope\.csv' does not exist \(path 'nope.csv' is relative to"):
        load_config(write_config(folder, [_events(path="nope.csv")]))


def test_feedback_needs_scale_and_score(folder):
    fb = {"name": "csat", "kind": "feedback", "path": "e.csv", "instrument": "csat",
          "columns": {"customer_id": "c", "feedback_ts": "t", "score": "a"}}
    with pytest.raises(ConfigError, match="needs 'scale: \\[low, high\\]'"):
        load_config(write_config(folder, [fb]))
    with pytest.raises(ConfigError, match="'scale' must be \\[low, high\\]"):
        load_config(write_config(folder, [{**fb, "scale": [5, 1]}]))
    nps = load_config(write_config(folder, [{**fb, "instrument": "nps", "direction": "higher_is_better"}]))
    assert nps.sources[0].scale == (0.0, 10.0)


def test_duplicate_names_and_invalid_yaml(folder):
    with pytest.raises(ConfigError, match="repeated: web"):
        load_config(write_config(folder, [_events(), _events()]))
    bad = folder / "bad.yml"
    bad.write_text("sources: [\n  - name: x")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    empty = folder / "empty.yml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="non-empty 'sources' list"):
        load_config(empty)


@pytest.mark.parametrize("loader, error", [
    ("cjworkbench.designs.journey:load_design", "DesignError"),
    ("cjworkbench.designs.personas:load_personas", "PersonaError"),
    ("cjworkbench.analysis.design.kpis:load_kpi_map", "KpiMapError"),
    ("cjworkbench.analysis.voc.themes:load_taxonomy", "ThemeError"),
])
def test_every_yaml_input_names_a_missing_or_broken_file(tmp_path, loader, error):
    import importlib

    module, name = loader.split(":")
    mod = importlib.import_module(module)
    load, err = getattr(mod, name), getattr(mod, error)
    with pytest.raises(err, match="not found: '.*nope.yml'"):
        load(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("a: [1,\n")
    with pytest.raises(err, match="bad.yml is not valid YAML"):
        load(bad)
