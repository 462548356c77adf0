"""The pinned locks and the conda environment: `requirements.lock` (the runtime, what `make demo`
installs) and `environment.yml` list the same packages at the same versions; `requirements-test.lock`
holds the test-only rest; every package is pinned exactly and sits in one lock only."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _lock(name: str = "requirements.lock") -> set[str]:
    lines = (ROOT / name).read_text().splitlines()
    return {l.strip().lower() for l in lines if l.strip() and not l.startswith("#")}


def _names(lock: set[str]) -> set[str]:
    return {line.split("==")[0].replace("_", "-") for line in lock}


def test_environment_yml_matches_the_runtime_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    assert {p.lower() for p in pip if p != "-e ."} == _lock()
    assert "python=3.11" in env["dependencies"]


def test_locks_pin_every_package_exactly_and_once():
    runtime, test = _lock(), _lock("requirements-test.lock")
    assert runtime and test and all("==" in line for line in runtime | test)
    assert not _names(runtime) & _names(test), _names(runtime) & _names(test)
    for needed in ("duckdb", "ibis-framework", "pandas", "pyyaml", "altair", "voila", "papermill",
                   "ipywidgets", "jupyterlab"):
        assert needed in _names(runtime), needed
    for reference in ("pm4py", "pyspark", "polars", "pytest", "playwright"):   # AGPL, heavy, or test tools
        assert reference in _names(test) and reference not in _names(runtime), reference


def test_the_makefile_installs_the_runtime_for_the_demo_and_adds_the_test_lock_for_tests():
    make = (ROOT / "Makefile").read_text()
    stamp = make.split("$(STAMP): ", 1)[1].split("\n\n", 1)[0]
    assert "-r requirements.lock" in stamp and "requirements-test.lock" not in stamp
    assert "\ndemo: setup\n" in make and "\ntest: setup-test" in make
    assert "$(TEST_STAMP): $(STAMP) requirements-test.lock" in make and "-r requirements-test.lock" in make
