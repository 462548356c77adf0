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
from dataclasses import dataclass
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


HOUR_US = 3_600_000_000
_SPAN_HOURS = 24 * 366 * 15        # a lookup covers at most 15 years either side of the sample's median


@dataclass(frozen=True)
class HourOffsets:
    """Time-zone offsets of `zone` per whole hour from `first` (hours since 1970) on, in microseconds:
    `to_utc[i]` = UTC - local for a naive local time in hour first + i, `to_local[i]` = local - UTC
    for a UTC time in that hour; None where the offset changes inside the hour."""

    first: int
    to_utc: list
    to_local: list


def hour_offsets(con, zone: str, first: int, last: int) -> HourOffsets:
    """ICU's offsets at the first and the last microsecond of every hour from `first` to `last`;
    an hour whose two ends differ (a DST change inside it) gets None and is converted row by row."""
    rows = con.execute(f"""SELECT CASE WHEN u0 = u1 THEN u0 END, CASE WHEN l0 = l1 THEN l0 END FROM (SELECT h,
        epoch_us(timezone('UTC', timezone($z, make_timestamp(a)))) - a AS u0,
        epoch_us(timezone('UTC', timezone($z, make_timestamp(b)))) - b AS u1,
        epoch_us((make_timestamp(a) AT TIME ZONE 'UTC') AT TIME ZONE $z) - a AS l0,
        epoch_us((make_timestamp(b) AT TIME ZONE 'UTC') AT TIME ZONE $z) - b AS l1
        FROM (SELECT h, h * {HOUR_US} AS a, h * {HOUR_US} + {HOUR_US - 1} AS b FROM range($first, $last + 1) t(h)))
        ORDER BY h""",
                       {"z": zone, "first": first, "last": last}).fetchall()
    return HourOffsets(first, [r[0] for r in rows], [r[1] for r in rows])


def sampled_hours(con, table: str, utc_sql: str, params: dict) -> tuple[int, int] | None:
    """The hours (since 1970) a lookup should cover for the timestamps `utc_sql` gives on `table`:
    those of a sample of 20,000 rows, two days wider on both sides; None when the sample has none.
    Only speed depends on it: rows outside the hours are converted by ICU."""
    lo, mid, hi = con.execute(f"""SELECT min(h), median(h)::BIGINT, max(h) FROM (SELECT epoch_us(__t) // {HOUR_US} AS h
        FROM (SELECT {utc_sql} AS __t FROM {table} TABLESAMPLE reservoir(20000 ROWS) REPEATABLE (7))
        WHERE isfinite(__t))""", params).fetchone()
    if lo is None:
        return None
    return max(lo - 48, mid - _SPAN_HOURS), min(hi + 48, mid + _SPAN_HOURS)


def _hour_of(ts: str, offsets: str, first: int, n: int) -> str:
    """SQL: the offset (µs) `offsets` (a bound list) holds for the hour of `ts`, NULL outside the list."""
    lo, hi = first * HOUR_US, (first + n) * HOUR_US
    return (f"(CASE WHEN epoch_us({ts}) >= {lo} AND epoch_us({ts}) < {hi} THEN "
            f"list_extract({offsets}, ((epoch_us({ts}) - {lo}) // {HOUR_US} + 1)::INTEGER) END)")


def local_to_utc_sql(naive: str, zone: str, table: HourOffsets | None, p) -> str:
    """SQL: the naive local timestamp `naive` in `zone` (a placeholder) as naive UTC. With `table`,
    an hour lookup plus one addition per row; ICU (the same result) where the lookup has no offset.
    Why: ICU costs ~0.4 CPU s per million rows, the lookup ~0.1 (benchmarks/README.md)."""
    icu = f"timezone('UTC', timezone({zone}, {naive}))"
    if table is None:
        return icu
    return (f"coalesce(make_timestamp(epoch_us({naive}) + {_hour_of(naive, p(table.to_utc), table.first, len(table.to_utc))}), "
            f"{icu})")


def business_date_lookup_sql(ts: str, zone: str, table: HourOffsets | None, p) -> str:
    """`business_date_sql` through the hour lookup of `table` (ICU where it has no offset)."""
    if table is None:
        return business_date_sql(ts, zone)
    shift = _hour_of(ts, p(table.to_local), table.first, len(table.to_local))
    return f"coalesce(CAST(make_timestamp(epoch_us({ts}) + {shift}) AS DATE), {business_date_sql(ts, zone)})"


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
