"""Exports -> canonical DuckDB tables (see `pipeline.run_ingest`)."""

from .pipeline import run_ingest
from .summary import IngestSummary, SourceResult

__all__ = ["run_ingest", "IngestSummary", "SourceResult"]
