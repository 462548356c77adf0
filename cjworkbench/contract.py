"""The data contract: the canonical tables every analysis reads.

One DuckDB file holds them. Timestamps are naive TIMESTAMPs in UTC (no session time zone can
shift them); free-form columns that a source did not map are kept in ``attributes``
(MAP(VARCHAR, VARCHAR)) so nothing an export carried is lost.
"""

from __future__ import annotations

KINDS = ("customers", "events", "feedback")
INSTRUMENTS = ("nps", "csat", "ces", "review", "complaint", "social")
DIRECTIONS = ("higher_is_better", "lower_is_better")

# canonical field -> DuckDB type, per kind, in table order (bookkeeping columns excluded)
FIELDS: dict[str, dict[str, str]] = {
    "customers": {
        "customer_id": "VARCHAR",
        "segment": "VARCHAR",
        "first_seen_ts": "TIMESTAMP",
    },
    "events": {
        "customer_id": "VARCHAR",
        "journey_id": "VARCHAR",
        "event_ts": "TIMESTAMP",
        "activity": "VARCHAR",
        "touchpoint": "VARCHAR",
        "channel": "VARCHAR",
        "department": "VARCHAR",
        "device": "VARCHAR",
        "stage": "VARCHAR",
        "amount": "DOUBLE",
    },
    "feedback": {
        "feedback_id": "VARCHAR",
        "customer_id": "VARCHAR",
        "journey_id": "VARCHAR",
        "feedback_ts": "TIMESTAMP",
        "instrument": "VARCHAR",
        "score": "DOUBLE",
        "scale_min": "DOUBLE",
        "scale_max": "DOUBLE",
        "direction": "VARCHAR",
        "touchpoint": "VARCHAR",
        "channel": "VARCHAR",
        "text": "VARCHAR",
    },
}

# fields a row cannot be loaded without
REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "events": ("customer_id", "event_ts", "activity"),
    "feedback": ("customer_id", "feedback_ts"),
}

TIMESTAMP_FIELDS = {"first_seen_ts", "event_ts", "feedback_ts"}
NUMERIC_FIELDS = {"amount", "score"}

DDL = {
    "customers": """CREATE TABLE customers (
        customer_id VARCHAR NOT NULL, segment VARCHAR, first_seen_ts TIMESTAMP,
        source VARCHAR NOT NULL, attributes MAP(VARCHAR, VARCHAR))""",
    "events": """CREATE TABLE events (
        customer_id VARCHAR NOT NULL, journey_id VARCHAR, event_ts TIMESTAMP NOT NULL,
        activity VARCHAR NOT NULL, touchpoint VARCHAR, channel VARCHAR, department VARCHAR,
        device VARCHAR, stage VARCHAR, amount DOUBLE, source VARCHAR NOT NULL,
        seq BIGINT NOT NULL, attributes MAP(VARCHAR, VARCHAR))""",
    "feedback": """CREATE TABLE feedback (
        feedback_id VARCHAR, customer_id VARCHAR NOT NULL, journey_id VARCHAR,
        feedback_ts TIMESTAMP NOT NULL, instrument VARCHAR NOT NULL, score DOUBLE,
        scale_min DOUBLE, scale_max DOUBLE, direction VARCHAR, touchpoint VARCHAR,
        channel VARCHAR, text VARCHAR, source VARCHAR NOT NULL, seq BIGINT NOT NULL,
        attributes MAP(VARCHAR, VARCHAR))""",
    "ingest_runs": """CREATE TABLE ingest_runs (
        run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        files VARCHAR[], config_sha256 VARCHAR, started_ts TIMESTAMP, finished_ts TIMESTAMP,
        rows_read BIGINT, rows_loaded BIGINT, rows_rejected BIGINT, rows_duplicate BIGINT,
        status VARCHAR, cjworkbench_version VARCHAR, key_fingerprint VARCHAR)""",
    "rejects": """CREATE TABLE rejects (
        source VARCHAR NOT NULL, file VARCHAR, line BIGINT, "column" VARCHAR,
        reason VARCHAR NOT NULL, value VARCHAR, detail VARCHAR)""",
}

CANONICAL_TABLES = ("customers", "events", "feedback")
BOOKKEEPING_TABLES = ("ingest_runs", "rejects")
