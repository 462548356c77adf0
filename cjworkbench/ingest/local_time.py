"""Business time: the business date of every stored timestamp, the one input of periods and dates.

Stored timestamps stay UTC. Each canonical table also holds, in a DATE column
(`contract.BUSINESS_DATES`: `event_date`, `feedback_date`, `first_seen_date`), the date of its
timestamp in the business time zone (the ingest config's top-level `timezone:`), so day / week /
month / quarter / year periods and date filters are plain DATE arithmetic on every backend.
A date-only source value (`2026-03-01`, or a `timestamp_format` without a time of day) keeps its
own date whatever the source's zone: `date_only_sql` writes it when the row is parsed, and
`fill_business_dates` fills every other row from its UTC timestamp. The zone is recorded as the
column's comment (`business date in Europe/Amsterdam`), so `apply_business_time` knows what it
changes. Durations keep using the UTC timestamps.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, available_timezones

import ibis

from ..contract import BUSINESS_DATES
from ..errors import ConfigError, did_you_mean

TABLES = {"customers": "first_seen_ts", "events": "event_ts", "feedback": "feedback_ts"}
COMMENT = "business date in "
DATE_ONLY = r"^\d{4}-\d{2}-\d{2}$"                  # ISO date without a time of day
_TIME_DIRECTIVES = re.compile(r"%-?[HIklMSfgnpzZXcTRr]")   # strptime directives that carry a time


def business_date_sql(ts: str, zone: str) -> str:
    """SQL for the business date of the naive-UTC timestamp `ts` in `zone` (a placeholder such as
    `$zone`): the instant read as UTC, shown in the zone (DST-aware), cut to its date."""
    return f"CAST(({ts} AT TIME ZONE 'UTC') AT TIME ZONE {zone} AS DATE)"


def date_only_sql(raw: str, formats: tuple[str, ...] | list[str] | None, p) -> str:
    """SQL for the date of a raw value that carries no time of day, NULL otherwise: ISO `YYYY-MM-DD`
    by default, else a match of one of the `timestamp_format`s without a time directive. `p` turns a
    value into a bound parameter (`transform.Params`)."""
    if formats:
        dates = [f for f in formats if not _TIME_DIRECTIVES.search(f)]
        return f"CAST(try_strptime({raw}, {p(dates)}) AS DATE)" if dates else "NULL::DATE"
    return f"(CASE WHEN regexp_matches({raw}, {p(DATE_ONLY)}) THEN TRY_CAST({raw} AS DATE) END)"


def check_zone(zone: str) -> str:
    """`zone` if it is an IANA time zone name, else a ConfigError naming the nearest ones."""
    try:
        ZoneInfo(str(zone))
    except Exception:
        raise ConfigError(f"Unknown time zone '{zone}'. Use an IANA name such as Europe/Amsterdam or UTC."
                          + did_you_mean(str(zone), sorted(available_timezones()))) from None
    return str(zone)


def _comment(con, catalog: str | None, table: str, column: str) -> str | None:
    row = con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = $t AND column_name = $c AND "
                      "database_name = coalesce($db, current_database()) AND schema_name = 'main'",
                      {"t": table, "c": column, "db": catalog}).fetchone()
    return row[0] if row else None


def business_zone(con, catalog: str | None = None) -> str | None:
    """The zone the business dates of a DuckDB database were filled in (its `events.event_date`
    comment), or None when unknown (built before this was recorded, or not by an ingest)."""
    text = _comment(con, catalog, "events", "event_date") or ""
    return text[len(COMMENT):] if text.startswith(COMMENT) else None


def _record(con, catalog: str | None, zone: str) -> None:
    prefix = f'"{catalog}".' if catalog else ""
    note = (COMMENT + check_zone(zone)).replace("'", "''")
    for table, ts in TABLES.items():
        con.execute(f"COMMENT ON COLUMN {prefix}{table}.{BUSINESS_DATES[ts]} IS '{note}'")


def fill_business_dates(con, zone: str, catalog: str | None = None) -> None:
    """Ingest: fill every business date not set at parse time (all but date-only values) from its
    UTC timestamp in `zone`, on a DuckDB connection (`catalog`: the attached database, e.g. "out")."""
    prefix = f'"{catalog}".' if catalog else ""
    for table, ts in TABLES.items():
        col = BUSINESS_DATES[ts]
        con.execute(f"UPDATE {prefix}{table} SET {col} = {business_date_sql(ts, '$zone')} "
                    f"WHERE {col} IS NULL AND {ts} IS NOT NULL", {"zone": check_zone(zone)})
    _record(con, catalog, zone)


def apply_business_time(con, timezone: str) -> dict[str, int]:
    """Recompute the business dates of an existing database (a writable DuckDB connection) for the
    business time zone `timezone`, rebuild the derived journey tables, and return per table the
    rows whose date changed. A date-only value keeps its date: a row is read as one when its date
    is not its timestamp's date in the previous zone (a source in another zone), or its timestamp
    is exactly midnight of its date there. So a real event at exactly 00:00:00 of the previous
    zone keeps its date too: re-run `cjw ingest` when that matters."""
    from ..model import DERIVED, build_derived   # the derived tables carry the journeys' start dates

    check_zone(timezone)
    con.execute("SET enable_progress_bar = false")
    previous = business_zone(con) or "UTC"
    changed = {}
    for table, ts in TABLES.items():
        col = BUSINESS_DATES[ts]
        new = business_date_sql(ts, "$zone")
        is_date = (f"{col} IS NOT NULL AND ({col} <> {business_date_sql(ts, '$previous')} OR "
                   f"{ts} = (({col}::TIMESTAMP AT TIME ZONE $previous) AT TIME ZONE 'UTC'))")
        where = f"{ts} IS NOT NULL AND NOT coalesce({is_date}, false) AND {col} IS DISTINCT FROM {new}"
        params = {"zone": timezone, "previous": previous}
        changed[table] = con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0]
        con.execute(f"UPDATE {table} SET {col} = {new} WHERE {where}", params)
    _record(con, None, timezone)
    if set(DERIVED) <= {r[0] for r in con.execute("SHOW TABLES").fetchall()}:
        build_derived(ibis.duckdb.from_connection(con))
    return changed
