"""Every public analysis gives the DuckDB answer on PySpark (local mode), read from `cjw export --parquet`.

Two databases: a 500-customer demo (every table: events, feedback, customers with attributes, designs)
for one case per public `*_table` (PARITY; a new public analysis without a case fails
`test_every_public_analysis_has_a_spark_case`), and the real helpdesk log for the journey analyses.
Spark reads the Parquet through the `spark:` database value the faces use (`cjworkbench/backends.py`),
as a cluster would. One SparkSession per module, tuned for many small queries (one shuffle
partition, no adaptive execution, no whole-stage code generation: planning, not data, is the cost
here). Seeded bootstrap intervals resample rows in the order the engine returns them, so the cases
pass `n_resamples=0` where an analysis allows it, and compare point estimates and counts otherwise.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil

import pandas as pd
import pytest

import cjworkbench as cj
from cjworkbench.analysis.journeys.paths import step_matrix_table, variants_table
from cjworkbench.analysis.journeys.transitions import transitions_table
from cjworkbench.errors import DatabaseError
from cjworkbench.export import export_parquet

from .test_real_data import _ingest

pyspark = pytest.importorskip("pyspark")
ibis = pytest.importorskip("ibis")

if not shutil.which("java"):
    pytest.skip("PySpark needs a Java runtime (java not on PATH)", allow_module_level=True)

SPARK_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
              "spark.sql.shuffle.partitions": "1", "spark.default.parallelism": "1",
              "spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false",
              "spark.driver.memory": "1g"}


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("cjworkbench-tests")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def demo(spark, tmp_path_factory):
    """(DuckDB backend, Spark backend, demo folder) over one 500-customer demo and its Parquet export."""
    from cjworkbench.demo import generate
    from cjworkbench.ingest import run_ingest

    folder = tmp_path_factory.mktemp("spark-demo")
    generate(folder, customers=500, seed=11)
    run_ingest(folder / "cjworkbench.yml", folder / "db.duckdb")
    export_parquet(folder / "db.duckdb", folder / "parquet")
    return (cj.connect(folder / "db.duckdb"), cj.connect(f"spark:{folder / 'parquet'}?cache=true"), folder)


@pytest.fixture(scope="module")
def engines(spark, tmp_path_factory):
    from .conftest import REAL

    if not REAL.is_dir():
        pytest.skip(f"real exports not found at {REAL}")
    tmp = tmp_path_factory.mktemp("spark")
    _summary, raw = _ingest(tmp, "helpdesk", duplicates="keep")
    raw.close()
    export_parquet(tmp / "helpdesk.duckdb", tmp / "parquet")
    return cj.connect(tmp / "helpdesk.duckdb"), cj.connect(f"spark:{tmp / 'parquet'}?cache=true")


# ---------------------------------------------------------------- comparing two answers
def _family(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "bool"
    if pd.api.types.is_numeric_dtype(s):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    return "other"


def _normal(df: pd.DataFrame) -> pd.DataFrame:
    """Tz-aware UTC (DuckDB) and naive UTC (Spark) timestamps as naive UTC in one unit (the frame
    comparison reads the stored integers); rows in one order."""
    df = df.copy()
    for col in df.columns:
        if isinstance(df[col].dtype, pd.DatetimeTZDtype):
            df[col] = df[col].dt.tz_convert("UTC").dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            df[col] = df[col].astype("datetime64[ns]")
    keys = [c for c in df.columns if _family(df[c]) != "number" or pd.api.types.is_integer_dtype(df[c])]
    order = df[keys].astype(str) if keys else df.round(9).astype(str)
    return df.loc[order.sort_values(list(order.columns)).index].reset_index(drop=True)


def _same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str] | None = None) -> None:
    """Same columns in the same order, the same kind of values per column, the same rows (any order; floats
    to 1e-7 relative), the same definition."""
    assert list(a.columns) == list(b.columns)
    assert {c: _family(a[c]) for c in a.columns} == {c: _family(b[c]) for c in b.columns}
    if keys:
        a, b = (x.sort_values(keys, ignore_index=True) for x in (a, b))
    else:
        a, b = _normal(a), _normal(b)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-7, atol=1e-9)
    assert a.attrs.get("definition") == b.attrs.get("definition")


# ---------------------------------------------------------------- one case per public analysis
F = {"segment": ["Premium", "Value"], "start_date": "2025-03-01", "channel": ["web", "app", "email"]}
FUN = ["view_cart", "checkout_start", "checkout_confirmed"]
NBA = {"name": "idle after cart", "trigger": {"after": "view_cart", "idle_hours": 24},
       "outcome": {"activity": "checkout_confirmed", "within_days": 7}}
Q3 = dict(period="quarter", as_of="2026-09-30")


PARITY = {
    # journeys
    "variants_table": lambda c, d: cj.variants_table(c, top=15, filters=F, loops="collapse"),
    "step_matrix_table": lambda c, d: cj.step_matrix_table(c, max_steps=4, filters=F),
    "paths_around_table": lambda c, d: cj.paths_around_table(c, anchor="checkout_start", direction="before",
                                                             top=None, filters=F),
    "transitions_table": lambda c, d: cj.transitions_table(c, unit="customer"),
    "hotspots_table": lambda c, d: cj.hotspots_table(c, top=None),
    "funnel_table": lambda c, d: cj.funnel_table(c, steps=FUN, window="7d", by="segment"),
    "funnel_times_table": lambda c, d: cj.funnel_times_table(c, steps=FUN, filters=F),
    "funnel_dropoff_next_table": lambda c, d: cj.funnel_dropoff_next_table(c, steps=FUN, at_step=2, top=None),
    "switch_matrix_table": lambda c, d: cj.switch_matrix_table(c, by="department"),
    "switch_gaps_table": lambda c, d: cj.switch_gaps_table(c, by="channel", unit="customer",
                                                           outcome_activity="order_placed", n_resamples=20),
    "recontact_table": lambda c, d: cj.recontact_table(c),
    # identity across silos: reads the exported `persons` table (identity="person" on Spark too)
    "linkage_effect_table": lambda c, d: cj.linkage_effect_table(c, filters=F),
    "retention_table": lambda c, d: cj.retention_table(c, period="month", mode="on_or_after", filters=F),
    "lifecycle_table": lambda c, d: cj.lifecycle_table(c, period="quarter"),
    "sessions_table": lambda c, d: cj.sessions_table(c),
    # designed vs actual, KPI maps, segments
    "conformance_table": lambda c, d: cj.conformance_table(c, design=d / "designed" / "onboarding.yml"),
    "deviations_table": lambda c, d: cj.deviations_table(c, design=d / "designed" / "onboarding.yml",
                                                         n_resamples=0),
    "kpi_map_table": lambda c, d: cj.kpi_map_table(c, kpi_map=d / "designed" / "kpi_map.yml"),
    "kpi_relation_table": lambda c, d: cj.kpi_relation_table(c, kpi_map=d / "designed" / "kpi_map.yml"),
    "personas_table": lambda c, d: cj.personas_table(c, personas=d / "designed" / "personas.yml"),
    "clusters_table": lambda c, d: cj.clusters_table(c, k=3),
    "persona_clusters_table": lambda c, d: cj.persona_clusters_table(c, personas=d / "designed" / "personas.yml",
                                                                     k=3),
    "rfm_table": lambda c, d: cj.rfm_table(c),
    "segments_table": lambda c, d: cj.segments_table(c, by="segment"),
    # voice of the customer
    "scores_table": lambda c, d: cj.scores_table(c, instrument="nps", by="segment", min_n=5, k_min=1),
    "scores_compare_table": lambda c, d: cj.scores_compare_table(c, instrument="nps", by="touchpoint", min_n=5,
                                                                 k_min=1),
    "sentiment_table": lambda c, d: cj.sentiment_table(c, by="instrument", min_n=5),
    "themes_table": lambda c, d: cj.themes_table(c, taxonomy=d / "designed" / "themes.yml"),
    "discover_themes_table": lambda c, d: cj.discover_themes_table(c, n_themes=3),
    "theme_impact_table": lambda c, d: cj.theme_impact_table(c, taxonomy=d / "designed" / "themes.yml"),
    "feedback_on_journey_table": lambda c, d: cj.feedback_on_journey_table(c, sentiment=False, min_n=5),
    "path_contrast_table": lambda c, d: cj.path_contrast_table(c, min_windows=2),
    "drivers_table": lambda c, d: cj.drivers_table(c, outcome="nps", n_resamples=10),
    # KPI library, what changed (the heaviest Spark plans: a few KPIs and two trend periods)
    "kpi_table": lambda c, d: cj.kpi_table(c, period="quarter"),
    "scorecard_table": lambda c, d: cj.scorecard_table(c, kpis=["conversion_rate", "nps", "handle_time"],
                                                       trend_periods=2, **Q3),
    "kpi_tree_table": lambda c, d: cj.kpi_tree_table(c, trend_periods=2, n_resamples=10, **Q3),
    "changes_table": lambda c, d: cj.changes_table(c, **Q3),
    # attribution, next-best action, time to event
    "attribution_table": lambda c, d: cj.attribution_table(c, conversion="checkout_confirmed", model="markov",
                                                           n_resamples=0),
    "actions_table": lambda c, d: cj.actions_table(c, rules=[NBA], n_resamples=0),
    "survival_table": lambda c, d: cj.survival_table(c, start="view_cart", event="checkout_confirmed", by="segment"),
    "hazard_table": lambda c, d: cj.hazard_table(c, start="view_cart", event="checkout_confirmed", by="segment"),
}
# columns computed by a seeded bootstrap over rows in engine order: compared for being present only
RESAMPLED = {"drivers_table": ("low", "high"), "kpi_tree_table": ("low", "high"),
             "switch_gaps_table": ("median_diff_low_seconds", "median_diff_high_seconds")}


def test_every_public_analysis_has_a_spark_case():
    """A new public `*_table` (in cjworkbench.__all__) needs a PARITY case. (Helpers such as
    `analysis.design.instances.journey_table` are covered through the public analyses that call them.)"""
    public = {n for n in cj.__all__ if n.endswith("_table") and inspect.isfunction(getattr(cj, n))}
    assert len(public) >= 40
    assert public == set(PARITY), (f"no Spark case: {sorted(public - set(PARITY))}; "
                                   f"not public: {sorted(set(PARITY) - public)}")


@pytest.mark.parametrize("name", sorted(PARITY))
def test_analysis_identical_on_spark(demo, name):
    duck, spark, folder = demo
    a, b = PARITY[name](duck, folder), PARITY[name](spark, folder)
    assert len(a) > 0, f"{name}: the case selects nothing on the demo, so it proves nothing"
    for col in RESAMPLED.get(name, ()):
        if col in a.columns:
            assert b[col].notna().sum() == a[col].notna().sum()
            a, b = a.drop(columns=col), b.drop(columns=col)
    _same(a, b)


# ---------------------------------------------------------------- the real helpdesk log
def _same_sorted(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    a = a.sort_values(keys, ignore_index=True)
    b = b[a.columns].sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9)


def test_variants_identical_on_spark(engines):
    duck, spark = engines
    _same_sorted(variants_table(duck, top=None), variants_table(spark, top=None), ["variant"])
    f = {"start_date": "2012-01-01", "end_date": "2012-06-30"}
    _same_sorted(variants_table(duck, top=10, loops="collapse", filters=f),
                 variants_table(spark, top=10, loops="collapse", filters=f), ["rank"])


def test_transitions_identical_on_spark(engines):
    duck, spark = engines
    _same_sorted(transitions_table(duck), transitions_table(spark), ["from_activity", "to_activity"])


def test_step_matrix_identical_on_spark(engines):
    duck, spark = engines
    _same_sorted(step_matrix_table(duck, max_steps=5), step_matrix_table(spark, max_steps=5), ["step", "activity"])


FUNNEL = ["Assign seriousness", "Take in charge ticket", "Wait", "Resolve ticket", "Closed"]


@pytest.mark.parametrize("order, unit", [("ordered", "journey"), ("strict", "attempt"), ("any", "customer")])
def test_funnel_identical_on_spark(engines, order, unit):
    from cjworkbench.analysis.journeys.funnels import funnel_table

    duck, spark = engines
    kw = dict(steps=FUNNEL, order=order, unit=unit, window="30d", optional=["Wait"], exclude=["DUPLICATE"],
              start_date="2012-01-01")
    _same_sorted(funnel_table(duck, **kw), funnel_table(spark, **kw), ["step"])


def test_funnel_times_and_dropoff_identical_on_spark(engines):
    from cjworkbench.analysis.journeys.funnels import funnel_dropoff_next_table, funnel_times_table

    duck, spark = engines
    kw = dict(steps=FUNNEL, optional=[3])
    _same_sorted(funnel_times_table(duck, **kw), funnel_times_table(spark, **kw), ["lower_seconds"])
    _same_sorted(funnel_dropoff_next_table(duck, at_step=4, top=None, **kw),
                 funnel_dropoff_next_table(spark, at_step=4, top=None, **kw), ["next_activity"])


@pytest.mark.parametrize("period", ["week", "month"])
def test_retention_on_business_dates_identical_on_spark(engines, period):
    """Periods cut on the stored business date (a plain DATE column) give the same cohorts on Spark."""
    from cjworkbench.analysis.journeys.retention import retention_table

    duck, spark = engines
    d, s = retention_table(duck, period=period), retention_table(spark, period=period)
    assert len(d) > 10 and d["n_customers"].sum() > 0
    _same_sorted(d, s, ["cohort_date", "period_offset"])


# ---------------------------------------------------------------- a face pointed at Spark
def test_report_notebook_runs_on_spark_and_draws_the_duckdb_charts(demo, tmp_path):
    """`cjw report --db spark:<export>` end to end: papermill runs a notebook whose kernel opens Spark
    from the `spark:` value; its charts (SVG pictures) are the ones the same notebook draws from the
    DuckDB file."""
    from cjworkbench.reports import NOTEBOOKS, run_report

    _duck, _spark, folder = demo
    opts = "&".join(f"{k}={v}" for k, v in SPARK_CONF.items())
    db = f"spark:{folder / 'parquet'}?master=local[1]&{opts}"
    pages, made = {}, {}
    for name, target in (("spark", db), ("duckdb", folder / "db.duckdb")):
        made[name] = run_report(target, period="quarter", as_of="2026-09-30", out=tmp_path / name,
                                notebooks=[NOTEBOOKS / "designed_vs_actual.py"], timeout=120)
        assert [e.get("status", "ok") for e in made[name]["notebooks"]] == ["ok"], made[name]["notebooks"]
        page = tmp_path / name / made[name]["label"] / "designed_vs_actual.html"
        pages[name] = page.read_text(encoding="utf-8")
    svgs = {k: re.findall(r'<img[^>]*src="(data:image/svg\+xml;base64,[^"]+)"', v) for k, v in pages.items()}
    assert len(svgs["duckdb"]) >= 2 and svgs["spark"] == svgs["duckdb"]
    # the manifest names the export, never the options (settings may carry credentials)
    assert made["spark"]["database"] == f"spark:{folder / 'parquet'}"
    assert "spark.ui" not in json.dumps(made["spark"])


def test_a_spark_database_of_lake_tables_is_a_backend_too(demo, spark):
    """`spark:<database>`: tables of a Spark catalog (here external Parquet tables over the export, as a
    lake would hold them) answer like the DuckDB file."""
    duck, _spark, folder = demo
    spark.sql("CREATE DATABASE IF NOT EXISTS cjw_lake")
    for table in ("customers", "events", "feedback", "designs", "journey_steps", "journeys"):
        frame = spark.read.parquet(str(folder / "parquet" / table)).drop("event_month", "feedback_month")
        frame.write.mode("overwrite").saveAsTable(f"cjw_lake.{table}", path=str(folder / "lake" / table))
    lake = cj.connect("spark:cjw_lake")
    _same(cj.variants_table(duck, top=10), cj.variants_table(lake, top=10))
    with pytest.raises(DatabaseError, match="Spark has no database 'no_such_db'"):
        cj.connect("spark:no_such_db")


def test_a_bad_spark_value_is_one_clear_error(tmp_path):
    from cjworkbench.backends import database, parse

    with pytest.raises(DatabaseError, match="names no tables"):
        cj.connect("spark:")
    with pytest.raises(DatabaseError, match="Unknown Spark option 'mastr'"):
        parse("spark:/x?mastr=local")
    with pytest.raises(DatabaseError, match=r"holds no Parquet export of customers, events, feedback"):
        cj.connect(f"spark:{tmp_path}")
    assert parse("spark:/data/p?master=local[2]&spark.sql.shuffle.partitions=4") == (
        "/data/p", {"master": "local[2]"}, {"spark.sql.shuffle.partitions": "4"})
    (tmp_path / "out").mkdir()
    with pytest.MonkeyPatch.context() as mp:   # a relative folder is made absolute for the notebook kernels
        mp.chdir(tmp_path)
        assert database("spark:out?cache=true") == f"spark:{tmp_path / 'out'}?cache=true"
        assert database("spark:out?cache=true").name == f"spark:{tmp_path / 'out'}"
        assert database("spark:lake.cjw") == "spark:lake.cjw"
