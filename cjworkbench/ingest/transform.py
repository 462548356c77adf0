"""Staged export rows -> canonical rows, or a reject row with its reason. Nothing in between.

All config values (constants, value maps, time zones, formats) enter the SQL as bound
parameters; export column names, which come from the files, are checked against the staged
table and quoted as identifiers.
"""

from __future__ import annotations

from ..config import Source
from ..contract import BUSINESS_DATES, FIELDS, NUMERIC_FIELDS, TIMESTAMP_FIELDS
from ..errors import MissingColumnsError, did_you_mean
from ..redact import redact_sql
from .local_time import HourOffsets, business_date_lookup_sql, date_only_sql, hour_offsets, local_to_utc_sql, \
    sampled_hours
from .expressions import ROW_ID
from .readers import quote_ident as q

BOOKKEEPING = ("__line", "__file", "__fidx", ROW_ID)
_OFFSET = r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|UTC|[+-]\d{2}(:?\d{2})?)$"


class Params(dict):
    """Named parameters for one statement: `p(value)` returns its `$pN` placeholder."""

    def __call__(self, value) -> str:
        name = f"p{len(self)}"
        self[name] = value
        return "$" + name


def export_columns(con, table: str) -> list[str]:
    cols = [r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()]
    return [c for c in cols if c not in BOOKKEEPING]


def check_columns(src: Source, available: list[str]) -> None:
    """Every column the config names must exist; say which are there and the nearest match."""
    needed = used_columns(src) - set(src.drop)
    missing = sorted(needed - set(available))
    if missing:
        first = missing[0]
        field = next((f for f, cols in src.columns.items() if first in cols), None)
        field = field or next((f for f, m in src.maps.items() if m.column == first), "personal")
        raise MissingColumnsError(
            f"Source '{src.name}': column '{first}' (mapped to {field}) is not in {src.pattern}."
            + did_you_mean(first, available)
            + f" Available columns: {', '.join(available)}."
            + (f" Also missing: {', '.join(missing[1:])}." if len(missing) > 1 else ""))


def used_columns(src: Source) -> set[str]:
    """Export (or derived) columns the config refers to by name."""
    used = {c for cols in src.columns.values() for c in cols} | {m.column for m in src.maps.values()}
    return used | set(src.personal) | set(src.drop)


def pseudonymise(con, src: Source, table: str) -> None:
    """Replace personal columns by their keyed hash in place, before anything else reads them."""
    present = [c for c in src.personal if c in export_columns(con, table)]
    if present:
        repl = ", ".join(f"cjw_pseudonym({q(c)}) AS {q(c)}" for c in present)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * REPLACE ({repl}) FROM {table}")


def _text(src: Source, field: str) -> str | None:
    """SQL for a field's raw text from the mapped export column(s), or None if unmapped."""
    cols = src.columns.get(field)
    if field == "customer_id" and src.rules and src.rules.generated_id:
        return ROW_ID
    if not cols:
        return None
    if len(cols) == 1:
        return f"nullif(trim({q(cols[0])}), '')"
    return f"nullif(concat_ws('|', {', '.join(f'nullif(trim({q(c)}), {chr(39)}{chr(39)})' for c in cols)}), '')"


def _field_text(src: Source, field: str, p: Params) -> str | None:
    """Raw text of a field after constants and value maps are applied."""
    if field in src.constants:
        return p(src.constants[field])
    base = _text(src, field)
    vmap = src.maps.get(field)
    if vmap is None:
        return base
    key = f"nullif(trim({q(vmap.column)}), '')"
    fallback = (base or key) if vmap.default == "keep" else ("NULL" if vmap.default is None else p(vmap.default))
    whens = " ".join(f"WHEN {p(k)} THEN {p(v) if v is not None else 'NULL'}" for k, v in vmap.values.items())
    return f"(CASE {key} {whens} ELSE {fallback} END)" if whens else fallback


def _timestamp(src: Source, raw: str, p: Params, hours: HourOffsets | None = None) -> str:
    """Parse text to a naive UTC TIMESTAMP: offsets are converted, naive values take the zone
    (through the hour lookup `hours` of that zone when given: the same result, less CPU)."""
    zone = p(src.timezone)
    if src.timestamp_formats:
        fmts = p(list(src.timestamp_formats))
        if any("%z" in f or "%Z" in f for f in src.timestamp_formats):
            return f"timezone('UTC', try_strptime({raw}, {fmts}))"
        return local_to_utc_sql(f"try_strptime({raw}, {fmts})", zone, hours, p)
    return (f"(CASE WHEN regexp_matches({raw}, {p(_OFFSET)}) "
            f"THEN timezone('UTC', TRY_CAST(regexp_replace({raw}, '\\s*UTC$', '+00:00') AS TIMESTAMPTZ)) "
            f"ELSE {local_to_utc_sql(f'TRY_CAST({raw} AS TIMESTAMP)', zone, hours, p)} END)")


def _number(raw: str, decimal: str) -> str:
    """Text to DOUBLE; with a decimal comma, '.' is a thousands separator (1.234,5)."""
    if decimal == ",":
        raw = f"replace(replace({raw}, '.', ''), ',', '.')"
    return f"TRY_CAST(replace({raw}, ' ', '') AS DOUBLE)"


def typed_select(src: Source, available: list[str], p: Params,
                 hours: HourOffsets | None = None) -> tuple[list[str], list[tuple]]:
    """SELECT items for the canonical fields, and the checks [(reason, field, bad_sql, raw_sql)]
    (`hours`: the source zone's hour lookup for naive timestamps, see `_hour_lookups`)."""
    items, checks = [], []
    for field, dtype in FIELDS[src.kind].items():
        raw = _field_text(src, field, p)
        if field == "instrument":
            items.append(f"{p(src.instrument)} AS instrument")
        elif field in ("scale_min", "scale_max"):
            value = None if src.scale is None else src.scale[field == "scale_max"]
            items.append(f"{p(value)}::DOUBLE AS {field}")
        elif field == "direction":
            items.append(f"{p(src.direction)} AS direction")
        elif raw is None:
            items.append(f"NULL::{dtype} AS {field}")
            if field in BUSINESS_DATES:
                items.append(f"NULL::DATE AS {BUSINESS_DATES[field]}")
        elif field == "text" and src.redact_text:
            items.append(f"{redact_sql(raw, p)} AS text")
        elif field in TIMESTAMP_FIELDS:
            items.append(f"{_timestamp(src, raw, p, hours)} AS {field}")
            # a date-only value keeps its own date; every other business date is filled after loading
            items.append(f"{date_only_sql(raw, src.timestamp_formats, p)} AS {BUSINESS_DATES[field]}")
            items.append(f"{raw} AS __raw_{field}")
            checks.append(("unparseable timestamp", field, f"__raw_{field} IS NOT NULL AND {field} IS NULL", f"__raw_{field}"))
        elif field in NUMERIC_FIELDS:
            items.append(f"{_number(raw, src.decimal)} AS {field}")
            items.append(f"{raw} AS __raw_{field}")
            checks.append(("not a number", field, f"__raw_{field} IS NOT NULL AND {field} IS NULL", f"__raw_{field}"))
        else:
            items.append(f"{raw} AS {field}")
    items.append(f"{_attributes(src, available, p)} AS attributes")
    return items, checks


def _attributes(src: Source, available: list[str], p: Params) -> str:
    """Unmapped, undropped export columns as a MAP(VARCHAR, VARCHAR); empty values left out."""
    mapped = {c for cols in src.columns.values() for c in cols} | {m.column for m in src.maps.values()}
    keep = [c for c in available if c not in mapped and c not in src.drop]
    if not keep:
        return "MAP {}::MAP(VARCHAR, VARCHAR)"
    entries = ", ".join(f"{{'key': {p(c)}, 'value': nullif(trim({q(c)}), '')}}" for c in keep)
    return f"map_from_entries(list_filter([{entries}], e -> e.value IS NOT NULL))::MAP(VARCHAR, VARCHAR)"


def required_checks(src: Source) -> list[tuple]:
    from ..contract import REQUIRED

    out = [(f"missing {f}", f, f"{f} IS NULL", "NULL") for f in REQUIRED[src.kind]]
    if src.kind == "feedback" and src.instrument in ("nps", "csat", "ces"):
        out.append(("missing score", "score", "score IS NULL", "NULL"))
    if src.kind == "feedback" and src.scale is not None:
        out.append(("score outside scale", "score",
                    "score IS NOT NULL AND (score < scale_min OR score > scale_max)", "__raw_score"))
    return out


def typed_table(con, src: Source, available: list[str], zone: str) -> None:
    """`__typed` from `__src` in one pass: the canonical columns, their business dates in `zone`
    (the config's), `__dup` and the reject reason, column and value (`__reason` NULL: the row loads).

    Why one statement: typing, the duplicate flag, the checks and the business dates used to be
    two full copies of the staged rows plus an UPDATE of every loaded row."""
    p = Params()
    local, business = _hour_lookups(con, src, zone)
    items, checks = typed_select(src, available, p, local)
    checks = checks + required_checks(src)
    dup = "false"
    if not src.keep_duplicates:
        _mark_duplicates(con, available)
        # flagged in place, not by a join inside the typing statement: a join may reorder rows, and the
        # load numbers `seq` in storage order (pipeline._load_numbered)
        con.execute("ALTER TABLE __src ADD COLUMN __dup BOOLEAN DEFAULT false")
        con.execute("UPDATE __src SET __dup = true WHERE (__fidx::BIGINT << 40) + __line IN (SELECT __key FROM __dups)")
        dup = "__dup"
    dates = ", ".join(f"coalesce({BUSINESS_DATES[f]}, {business_date_lookup_sql(f, p(zone), business, p)}) "
                      f"AS {BUSINESS_DATES[f]}"
                      for f in FIELDS[src.kind] if f in BUSINESS_DATES)
    reason = " ".join(f"WHEN {bad} THEN {p(r)}" for r, _f, bad, _v in checks)
    column = " ".join(f"WHEN {bad} THEN {p(export_column_of(src, f))}" for _r, f, bad, _v in checks)
    value = " ".join(f"WHEN {bad} THEN {v}" for _r, _f, bad, v in checks)
    con.execute(f"""CREATE OR REPLACE TABLE __typed AS SELECT *{f' REPLACE ({dates})' if dates else ''},
        CASE WHEN __dup THEN 'duplicate' {reason} END AS __reason,
        CASE WHEN __dup THEN NULL {column} END AS __rcolumn,
        CASE WHEN __dup THEN NULL {value} END::VARCHAR AS __rvalue
        FROM (SELECT {', '.join(items)}, {dup} AS __dup, __fidx, __file, __line FROM __src)""", p)
    con.execute("DROP TABLE IF EXISTS __dups")


def _hour_lookups(con, src: Source, zone: str) -> tuple[HourOffsets | None, HourOffsets | None]:
    """Hour lookups of the source's zone (naive times to UTC) and the business `zone` (UTC to the
    business date) over the hours a sample of `__src` spans; (None, None) -- ICU row by row, the same
    result -- when the rows are too few to repay building them (4 ICU calls per hour)."""
    field = next(f for f in FIELDS[src.kind] if f in TIMESTAMP_FIELDS)
    q = Params()
    raw = _field_text(src, field, q)
    if raw is None:
        return None, None
    hours = sampled_hours(con, "__src", _timestamp(src, raw, q), q)
    rows = con.execute("SELECT count(*) FROM __src").fetchone()[0]
    if hours is None or rows < 4 * (hours[1] - hours[0] + 1):
        return None, None
    business = hour_offsets(con, zone, *hours)
    return (business if src.timezone == zone else hour_offsets(con, src.timezone, *hours)), business


def _mark_duplicates(con, available: list[str]) -> None:
    """`__dups`: the keys (file, line) of rows that repeat an earlier row in every export column.

    A window over every column sorts all staged rows by all their text; instead only rows whose
    hash of all columns occurs more than once are compared column by column, so the result is
    exact (equal rows have equal hashes, NULLs alike) at the cost of a hash aggregate."""
    cols = ", ".join(q(c) for c in available)
    con.execute(f"""CREATE OR REPLACE TABLE __dups AS
        WITH h AS (SELECT hash({cols}) AS __h FROM __src GROUP BY ALL HAVING count(*) > 1)
        SELECT (__fidx::BIGINT << 40) + __line AS __key FROM (
          SELECT __fidx, __line, row_number() OVER (PARTITION BY {cols} ORDER BY __fidx, __line) AS __k
          FROM __src WHERE hash({cols}) IN (SELECT __h FROM h)) WHERE __k > 1""")


def export_column_of(src: Source, field: str) -> str | None:
    """The export column a canonical field comes from, for reject rows."""
    if field in src.maps:
        return src.maps[field].column
    cols = src.columns.get(field)
    return "|".join(cols) if cols else None
