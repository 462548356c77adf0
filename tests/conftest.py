"""Shared fixtures: a fixed pseudonymisation key, config writers, the real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("CJW_PSEUDONYM_KEY", "test-key-not-secret")

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture
def real_data() -> Path:
    if not REAL.is_dir():
        pytest.skip(f"real exports not found at {REAL} (they live beside the repo, never in it)")
    return REAL


def write_config(folder: Path, sources: list[dict], **top) -> Path:
    """Write an ingest config beside the exports and return its path. Hand-made exports hold a reject of
    every kind in a few lines, so the reject ceiling (`limits.max_reject_share`, default 0.2) is lifted
    unless a test sets it (tests/test_ingest_features.py tests the ceiling)."""
    path = folder / "cjworkbench.yml"
    if isinstance(top.get("limits") or {}, dict):
        top["limits"] = {"max_reject_share": 1, **(top.get("limits") or {})}
    path.write_text(yaml.safe_dump({**top, "sources": sources}, sort_keys=False))
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    """A small demo (5,000 customers) generated and ingested once per test run: (db path, truth)."""
    import json

    from cjworkbench.demo import generate
    from cjworkbench.ingest import run_ingest

    folder = tmp_path_factory.mktemp("demo")
    generate(folder, customers=5_000, seed=11)
    run_ingest(folder / "cjworkbench.yml", folder / "db.duckdb")
    return folder / "db.duckdb", json.loads((folder / "truth.json").read_text())
