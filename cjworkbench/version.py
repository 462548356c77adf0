"""The package version, read by ingest (ingest_runs), reports and the public API."""

__version__ = "0.1.0"
