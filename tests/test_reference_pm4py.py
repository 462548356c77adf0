"""Variants and the transition graph equal pm4py's on real logs (pm4py: test-only, AGPL, never imported by the package)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import cjworkbench
from cjworkbench.analysis.journeys.paths import ARROW, END, START, variants_table
from cjworkbench.analysis.journeys.transitions import transitions_table

from .test_real_data import _ingest

pm4py = pytest.importorskip("pm4py")

LOGS = {"helpdesk": "process_mining/helpdesk.csv.gz", "receipt": "process_mining/receipt_wabo.csv.gz"}


@pytest.fixture(scope="module", params=list(LOGS))
def log(request, tmp_path_factory):
    from .conftest import REAL

    if not REAL.is_dir():
        pytest.skip(f"real exports not found at {REAL}")
    name = request.param
    tmp = tmp_path_factory.mktemp(name)
    _summary, raw = _ingest(tmp, name, duplicates="keep")     # pm4py sees every line of the file
    raw.close()
    df = pd.read_csv(REAL / LOGS[name])
    df = pm4py.format_dataframe(df, case_id="case:concept:name", activity_key="concept:name",
                                timestamp_key="time:timestamp")
    return cjworkbench.connect(tmp / f"{name}.duckdb"), df


def test_variants_equal_pm4py(log):
    con, df = log
    ours = variants_table(con, top=None)
    theirs = {ARROW.join(k): v for k, v in pm4py.get_variants(df).items()}
    assert dict(zip(ours["variant"], ours["n_journeys"])) == theirs
    assert math.isclose(ours["share"].sum(), 1.0)


def test_transitions_equal_pm4py(log):
    con, df = log
    ours = transitions_table(con)
    inner = ours[(ours.from_activity != START) & (ours.to_activity != END)]
    dfg, starts, ends = pm4py.discover_dfg(df)
    assert dict(zip(zip(inner.from_activity, inner.to_activity), inner.n_transitions)) == dict(dfg)
    first = ours[ours.from_activity == START]
    last = ours[ours.to_activity == END]
    assert dict(zip(first.to_activity, first.n_transitions)) == dict(starts)
    assert dict(zip(last.from_activity, last.n_transitions)) == dict(ends)
    perf, _s, _e = pm4py.discover_performance_dfg(df)
    for (a, b), stats in perf.items():
        row = inner[(inner.from_activity == a) & (inner.to_activity == b)].iloc[0]
        assert row.mean_seconds == pytest.approx(stats["mean"], rel=1e-9, abs=1e-6)
        assert row.median_seconds == pytest.approx(stats["median"], rel=1e-9, abs=1e-6)
        assert row.total_seconds == pytest.approx(stats["sum"], rel=1e-9, abs=1e-6)
