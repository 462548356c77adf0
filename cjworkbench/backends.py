"""Spark as the query engine: the `spark:` database value that notebooks, dashboards and reports accept.

A database value `spark:WHERE[?OPTIONS]` (the `db` parameter, `--db`, `$CJW_DB`) names a Spark backend
instead of a DuckDB file:
- `spark:/data/cjw-parquet`: a folder written by `cjw export --parquet`; each table's folder becomes a
  temporary view of its own Spark session (the `event_month` / `feedback_month` partition columns are
  left out, so the tables read exactly like the DuckDB ones);
- `spark:lake.cjw` (no `/`, not a folder): the tables of an existing Spark database (`catalog.database`
  or `database`), e.g. Delta, Iceberg or Hive tables that follow the data contract.
OPTIONS (URL query form): `master=` (default: Spark's own, `local[*]` when none), `cache=true` (keep the
Parquet reads in Spark's memory), and any `spark.*` setting. Values only ever reach the SparkSession
builder, Spark's Parquet reader or the catalog API, never SQL text. Why: ADR 0001; README "Beyond one
machine".
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl

from .contract import CANONICAL_TABLES
from .errors import DatabaseError

PREFIX = "spark:"
_PARTITIONS = ("event_month", "feedback_month")   # added by `cjw export`, not contract columns
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_OPTIONS = ("master", "cache")


def is_spark(target) -> bool:
    """True for a `spark:` database value (text or a path made of it)."""
    return isinstance(target, (str, os.PathLike)) and os.fspath(target).startswith(PREFIX)


class SparkDatabase(str):
    """A `spark:` value where the faces expect a database path: `name` (shown on pages and in report
    manifests) leaves out the options, which may carry settings that are nobody's business."""

    @property
    def name(self) -> str:
        return self.partition("?")[0]


def database(target) -> SparkDatabase | Path:
    """`target` as the faces keep it, absolute (notebook kernels run in the notebooks' folder): a
    SparkDatabase for a `spark:` value (its Parquet folder made absolute), else a path."""
    if not is_spark(target):
        return Path(target).absolute()
    where, sep, query = os.fspath(target)[len(PREFIX):].partition("?")
    if _is_folder(where):
        where = str(Path(where.strip()).absolute())
    return SparkDatabase(PREFIX + where + sep + query)


def _is_folder(where: str) -> bool:
    """A Parquet folder (a path) rather than a Spark database name."""
    return "/" in where or Path(where.strip()).is_dir()


def parse(target: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """`spark:WHERE?k=v&...` -> (WHERE, {master, cache}, {spark.* conf}); a bad value is a DatabaseError."""
    where, _, query = target[len(PREFIX):].partition("?")
    where = where.strip()
    if not where:
        raise DatabaseError(f"'{target}' names no tables: write spark:<folder of `cjw export --parquet`> or "
                            f"spark:<database> (e.g. spark:/data/cjw-parquet or spark:lake.cjw).")
    options, conf = {}, {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in _OPTIONS:
            options[key] = value
        elif key.startswith("spark."):
            conf[key] = value
        else:
            raise DatabaseError(f"Unknown Spark option '{key}' in the database value: use master=, cache=true "
                                f"or a spark.* setting (e.g. spark:/data/cjw-parquet?master=local[4]).")
    if options.get("cache", "false").lower() not in ("true", "false"):
        raise DatabaseError(f"cache= takes true or false, got '{options['cache']}'.")
    return where, options, conf


def session(master: str | None = None, conf: dict[str, str] | None = None):
    """The process's SparkSession (created on first use with `master` and `conf`)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise DatabaseError("A spark: database needs PySpark (pip install 'pyspark>=3.5,<4.1') and a Java "
                            "runtime (`make system` installs one).") from None
    builder = SparkSession.builder.appName("cjworkbench")
    if master:
        builder = builder.master(master)
    # Spark's default warehouse is ./spark-warehouse in the working folder (a notebook folder under
    # Voilà or papermill): without a spark.sql.warehouse.dir of the user's, it goes to a temp folder.
    warehouse = str(Path(tempfile.gettempdir()) / "cjw-spark-warehouse")
    defaults = {"spark.sql.session.timeZone": "UTC", "spark.sql.warehouse.dir": warehouse}
    for key, value in {**defaults, **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def parquet_tables(folder: str | Path) -> list[str]:
    """The tables of a `cjw export --parquet` folder; a folder without the canonical ones is a DatabaseError."""
    folder = Path(folder)
    tables = sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.rglob("*.parquet"))) \
        if folder.is_dir() else []
    missing = [t for t in CANONICAL_TABLES if t not in tables]
    if missing:
        raise DatabaseError(f"'{folder}' holds no Parquet export of {', '.join(missing)} "
                            f"(found: {', '.join(tables) or 'nothing'}). Write it with "
                            f"`cjw export --db DATABASE --parquet {folder}`.")
    return tables


def register_parquet(spark, folder: str | Path, *, cache: bool = False) -> list[str]:
    """Each table folder of `cjw export --parquet` as a temporary view of `spark` (give each folder a
    session of its own, `spark.newSession()`, so two folders do not share view names). Returns the tables."""
    folder = Path(folder)
    tables = parquet_tables(folder)
    for name in tables:
        frame = spark.read.parquet(str(folder / name))
        frame = frame.drop(*[c for c in _PARTITIONS if c in frame.columns])
        if cache:
            frame = frame.cache()
        frame.createOrReplaceTempView(name)
    return tables


def _backend(spark):
    """An Ibis PySpark backend on `spark` whose `disconnect()` leaves the process's SparkContext running:
    Ibis's stops it, and with it every other session of the process (a report's other queries, a test's)."""
    from ibis.backends.pyspark import Backend

    Backend.register_options()   # what `ibis.pyspark.connect` does first (the compiler reads them)

    class SharedContextBackend(Backend):
        def disconnect(self) -> None:
            for view in self._session.catalog.listTables():
                if view.isTemporary:
                    self._session.catalog.dropTempView(view.name)

    return SharedContextBackend().connect(spark)


def spark_backend(target: str):
    """An Ibis PySpark backend for a `spark:` database value (see the module doc)."""
    where, options, conf = parse(target)
    if _is_folder(where):
        parquet_tables(where)   # before Spark starts: a wrong folder fails in a second, not after a JVM
        spark = session(options.get("master"), conf).newSession()
        register_parquet(spark, where, cache=options.get("cache", "false").lower() == "true")
        return _backend(spark)
    if not _NAME.fullmatch(where):
        raise DatabaseError(f"'{where}' is neither a Parquet folder nor a Spark database name "
                            f"(database or catalog.database).")
    catalog, _, name = where.rpartition(".")
    spark = session(options.get("master"), conf).newSession()
    try:
        if catalog:
            spark.catalog.setCurrentCatalog(catalog)
        spark.catalog.setCurrentDatabase(name)
    except Exception as exc:  # noqa: BLE001  AnalysisException: no such catalog / database
        known = [d.name for d in spark.catalog.listDatabases()]
        raise DatabaseError(f"Spark has no database '{where}' ({str(exc).splitlines()[0][:200]}); "
                            f"its databases: {', '.join(known) or 'none'}.") from None
    return _backend(spark)
