"""The pinned pip lock and the conda environment must list the same packages at the same versions."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _lock() -> set[str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return {l.strip().lower() for l in lines if l.strip() and not l.startswith("#")}


def test_environment_yml_matches_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    assert {p.lower() for p in pip if p != "-e ."} == _lock()
    assert "python=3.11" in env["dependencies"]


def test_lock_pins_every_package_exactly():
    lock = _lock()
    assert lock and all("==" in line for line in lock)
    names = {line.split("==")[0] for line in lock}
    for needed in ("duckdb", "ibis-framework", "pandas", "pyyaml", "altair", "voila", "papermill",
                   "ipywidgets", "jupyterlab"):
        assert needed in names, needed
