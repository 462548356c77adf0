"""The data contract: the canonical tables every analysis reads.

One DuckDB file holds them. Timestamps are naive TIMESTAMPs in UTC (no session time zone can
shift them), each with its business date beside it (`BUSINESS_DATES`); free-form columns that a source did not map are kept in ``attributes``
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
# DERIVED, not mappable: each timestamp's business date (the date in the config's `timezone:`, the
# business time zone; a date-only source value keeps its own date), filled at ingest by
# `ingest.local_time`. Periods and date filters read these DATE columns, durations the timestamps.
BUSINESS_DATES = {"first_seen_ts": "first_seen_date", "event_ts": "event_date", "feedback_ts": "feedback_date"}
NUMERIC_FIELDS = {"amount", "score"}

DDL = {
    "customers": """CREATE TABLE customers (
        customer_id VARCHAR NOT NULL, segment VARCHAR, first_seen_ts TIMESTAMP, first_seen_date DATE,
        source VARCHAR NOT NULL, attributes MAP(VARCHAR, VARCHAR), file_id BIGINT)""",
    "events": """CREATE TABLE events (
        customer_id VARCHAR NOT NULL, journey_id VARCHAR, event_ts TIMESTAMP NOT NULL, event_date DATE,
        activity VARCHAR NOT NULL, touchpoint VARCHAR, channel VARCHAR, department VARCHAR,
        device VARCHAR, stage VARCHAR, amount DOUBLE, source VARCHAR NOT NULL,
        seq BIGINT NOT NULL, attributes MAP(VARCHAR, VARCHAR), file_id BIGINT)""",
    "feedback": """CREATE TABLE feedback (
        feedback_id VARCHAR, customer_id VARCHAR NOT NULL, journey_id VARCHAR,
        feedback_ts TIMESTAMP NOT NULL, feedback_date DATE, instrument VARCHAR NOT NULL, score DOUBLE,
        scale_min DOUBLE, scale_max DOUBLE, direction VARCHAR, touchpoint VARCHAR,
        channel VARCHAR, text VARCHAR, source VARCHAR NOT NULL, seq BIGINT NOT NULL,
        attributes MAP(VARCHAR, VARCHAR), file_id BIGINT)""",
    "ingest_runs": """CREATE TABLE ingest_runs (
        run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        files VARCHAR[], config_sha256 VARCHAR, started_ts TIMESTAMP, finished_ts TIMESTAMP,
        rows_read BIGINT, rows_loaded BIGINT, rows_rejected BIGINT, rows_duplicate BIGINT,
        status VARCHAR, cjworkbench_version VARCHAR, key_fingerprint VARCHAR, rows_filtered BIGINT,
        mode VARCHAR, settings VARCHAR)""",
    # one row per export file the database holds rows of (`file_id` = the canonical rows' file_id): what a
    # refresh compares (path relative to the config, blake2b of the bytes) to load only new or changed files
    "ingest_files": """CREATE TABLE ingest_files (
        file_id BIGINT NOT NULL, source VARCHAR NOT NULL, kind VARCHAR NOT NULL, path VARCHAR NOT NULL,
        blake2b VARCHAR NOT NULL, size_bytes BIGINT NOT NULL, mtime_ns BIGINT, rows_read BIGINT,
        rows_loaded BIGINT, rows_rejected BIGINT, rows_duplicate BIGINT, rows_filtered BIGINT,
        run_id VARCHAR NOT NULL, loaded_ts TIMESTAMP NOT NULL)""",
    "rejects": """CREATE TABLE rejects (
        source VARCHAR NOT NULL, file VARCHAR, line BIGINT, "column" VARCHAR,
        reason VARCHAR NOT NULL, value VARCHAR, detail VARCHAR, file_id BIGINT)""",
    # the config's `designs:` (kind journeys, personas, ... ; body = the design as JSON text) and, as kind
    # 'settings', the business time zone and languages: stored with the data, read by cjworkbench.designs.store
    "designs": """CREATE TABLE designs (
        kind VARCHAR NOT NULL, name VARCHAR NOT NULL, body VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
        stored_ts TIMESTAMP NOT NULL)""",
    # identity across silos (written when the config has an `identity:` block, cjworkbench.identity):
    # one row per customer_id with its person; the evidence of every link; merges and splits per run
    "persons": """CREATE TABLE persons (customer_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL)""",
    "identity_links": """CREATE TABLE identity_links (
        customer_id_l VARCHAR NOT NULL, customer_id_r VARCHAR NOT NULL, link VARCHAR NOT NULL,
        match_weight DOUBLE, match_probability DOUBLE, agreed VARCHAR)""",
    "identity_changes": """CREATE TABLE identity_changes (
        run_id VARCHAR NOT NULL, change VARCHAR NOT NULL, person_id VARCHAR NOT NULL,
        earlier_person_ids VARCHAR[], new_person_id VARCHAR)""",
    # what ingest kept of each record's identifying keys and comparison fields: keyed hashes and coarse
    # values only (birth year, 4-character postcode), so a refresh can re-link without the raw exports;
    # file_id: the file a key came from (a replaced file's keys go with its rows)
    "identity_keys": """CREATE TABLE identity_keys (customer_id VARCHAR NOT NULL, source VARCHAR NOT NULL,
        kind VARCHAR NOT NULL, key VARCHAR NOT NULL, file_id BIGINT)""",
    "identity_fields": """CREATE TABLE identity_fields (customer_id VARCHAR NOT NULL, source VARCHAR NOT NULL,
        name_h VARCHAR, name_code VARCHAR, first_h VARCHAR, first_code VARCHAR, last_h VARCHAR, last_code VARCHAR,
        birth_year INTEGER, birth_date_h VARCHAR, postcode VARCHAR, address_h VARCHAR, email_h VARCHAR, phone_h VARCHAR,
        phone_head VARCHAR, phone_tail VARCHAR, national_id_h VARCHAR, ip_h VARCHAR, agent_h VARCHAR, ip_day VARCHAR,
        file_id BIGINT)""",
}

CANONICAL_TABLES = ("customers", "events", "feedback")
BOOKKEEPING_TABLES = ("ingest_runs", "rejects", "ingest_files")
IDENTITY_TABLES = ("persons", "identity_links", "identity_changes", "identity_keys", "identity_fields")  # only with an `identity:` block
DESIGN_TABLES = ("designs",)  # absent from databases built before designs were stored: read as "no designs"
