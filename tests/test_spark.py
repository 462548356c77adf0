"""The same analysis code on PySpark (local mode) gives the DuckDB answers on the helpdesk log.

Spark reads the Parquet that `cjw export --parquet` writes, as a cluster would. One Spark
session per test run (start-up is 5-13 s on 2 cores).
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

import cjworkbench
from cjworkbench.analysis.journeys.paths import step_matrix_table, variants_table
from cjworkbench.analysis.journeys.transitions import transitions_table
from cjworkbench.export import export_parquet

from .test_real_data import _ingest

pyspark = pytest.importorskip("pyspark")
ibis = pytest.importorskip("ibis")

if not shutil.which("java"):
    pytest.skip("PySpark needs a Java runtime (java not on PATH)", allow_module_level=True)


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    from pyspark.sql import SparkSession

    from .conftest import REAL

    if not REAL.is_dir():
        pytest.skip(f"real exports not found at {REAL}")
    tmp = tmp_path_factory.mktemp("spark")
    _summary, raw = _ingest(tmp, "helpdesk", duplicates="keep")
    raw.close()
    export_parquet(tmp / "helpdesk.duckdb", tmp / "parquet")
    spark = (SparkSession.builder.master("local[2]").appName("cjworkbench-tests")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
             .config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    for table in ("customers", "events", "feedback"):
        spark.read.parquet(str(tmp / "parquet" / table)).createOrReplaceTempView(table)
    duck = cjworkbench.connect(tmp / "helpdesk.duckdb")
    yield duck, cjworkbench.connect(ibis.pyspark.connect(spark))
    spark.stop()


def _same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    a = a.sort_values(keys, ignore_index=True)
    b = b[a.columns].sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9)


def test_variants_identical_on_spark(engines):
    duck, spark = engines
    _same(variants_table(duck, top=None), variants_table(spark, top=None), ["variant"])
    f = {"start_date": "2012-01-01", "end_date": "2012-06-30"}
    _same(variants_table(duck, top=10, loops="collapse", filters=f),
          variants_table(spark, top=10, loops="collapse", filters=f), ["rank"])


def test_transitions_identical_on_spark(engines):
    duck, spark = engines
    _same(transitions_table(duck), transitions_table(spark), ["from_activity", "to_activity"])


def test_step_matrix_identical_on_spark(engines):
    duck, spark = engines
    _same(step_matrix_table(duck, max_steps=5), step_matrix_table(spark, max_steps=5), ["step", "activity"])


FUNNEL = ["Assign seriousness", "Take in charge ticket", "Wait", "Resolve ticket", "Closed"]


@pytest.mark.parametrize("order, unit", [("ordered", "journey"), ("strict", "attempt"), ("any", "customer")])
def test_funnel_identical_on_spark(engines, order, unit):
    from cjworkbench.analysis.journeys.funnels import funnel_table

    duck, spark = engines
    kw = dict(steps=FUNNEL, order=order, unit=unit, window="30d", optional=["Wait"], exclude=["DUPLICATE"],
              start_date="2012-01-01")
    _same(funnel_table(duck, **kw), funnel_table(spark, **kw), ["step"])


def test_funnel_times_and_dropoff_identical_on_spark(engines):
    from cjworkbench.analysis.journeys.funnels import funnel_dropoff_next_table, funnel_times_table

    duck, spark = engines
    kw = dict(steps=FUNNEL, optional=[3])
    _same(funnel_times_table(duck, **kw), funnel_times_table(spark, **kw), ["lower_seconds"])
    _same(funnel_dropoff_next_table(duck, at_step=4, top=None, **kw),
          funnel_dropoff_next_table(spark, at_step=4, top=None, **kw), ["next_activity"])


@pytest.mark.parametrize("period", ["week", "month"])
def test_retention_on_business_dates_identical_on_spark(engines, period):
    """Periods cut on the stored business date (a plain DATE column) give the same cohorts on Spark."""
    from cjworkbench.analysis.journeys.retention import retention_table

    duck, spark = engines
    d, s = retention_table(duck, period=period), retention_table(spark, period=period)
    assert len(d) > 10 and d["n_customers"].sum() > 0
    _same(d, s, ["cohort_date", "period_offset"])
