"""The derived tables built whole on DuckDB, within the ingest's memory limit at any size.

`model` defines `journey_steps` and `journeys` as Ibis expressions; a full build on DuckDB takes
narrower routes to the same tables (`tests/test_ingest_speed_paths.py` holds them equal): the
journey window over a few columns, flags as hash aggregates keyed by numbers, and above
`CHUNK_ROWS` rows the last join and sort (`journey_steps`) or the step lists (`journeys`) one part
at a time. DuckDB cannot spill an aggregate state keyed by a STRUCT or holding a list; these
builds hold none over the whole table (ADR 0003, "Derived tables within the memory limit").
Intermediates go to the ingest's scratch database when it is attached (`model.SCRATCH`).
"""

from __future__ import annotations

from .model import SCRATCH, materialise, traces


# the same table as `with_steps` + segment + journey_no (the full build on DuckDB), from narrow passes:
# the journey window over 7 columns instead of every column (`__cjw_n`); the three "first" flags as
# each group's first row (its arg_min), folded into bits per event (`__cjw_f`); one narrow row per
# event with everything the events table lacks (`__cjw_m`); rows keyed by `events.rowid`.
# `seq` numbers the events one by one, so (event_ts, seq) alone orders a customer's events and the
# journey never decides (checked: a database with a repeated seq keeps the (event_ts, seq, journey)
# STRUCT); the pair goes into one HUGEINT (microseconds * 2**64 + seq, both in range): an arg_min keyed
# by a STRUCT keeps states DuckDB cannot spill (100 M events: past 26 GB of spill, then out of memory
# at 4 GB), a HUGEINT key spills like any number (5.6 GB, 26 s)
_STEPS_SQL = (
    """CREATE OR REPLACE {kind} {s}__cjw_jk AS SELECT journey_key, row_number() OVER (ORDER BY journey_key) - 1
       AS journey_no FROM (SELECT DISTINCT coalesce(journey_id, customer_id) AS journey_key FROM events)""",
    """CREATE OR REPLACE {kind} {s}__cjw_n AS SELECT rid, seq, customer_id, activity, event_ts, journey_no AS jn,
       row_number() OVER w AS pos, lead(activity) OVER w AS next_activity, lead(event_ts) OVER w AS next_ts,
       min(event_ts) OVER w AS journey_start_ts, min(event_date) OVER w AS journey_start_date
       FROM (SELECT e.rowid AS rid, e.seq, e.customer_id, e.activity, e.event_ts, e.event_date, k.journey_no FROM events e
             JOIN {s}__cjw_jk k ON coalesce(e.journey_id, e.customer_id) = k.journey_key)
       WINDOW w AS (PARTITION BY journey_no ORDER BY event_ts, seq ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)""",
    """CREATE OR REPLACE {kind} {s}__cjw_f AS SELECT rid, bit_or(flag) AS bits FROM (
       SELECT arg_min(rid, pos) AS rid, 1::UTINYINT AS flag FROM {s}__cjw_n GROUP BY jn, activity, next_activity
       UNION ALL SELECT arg_min(rid, {order}), 2::UTINYINT FROM {s}__cjw_n GROUP BY customer_id, activity, next_activity
       UNION ALL SELECT arg_min(rid, {order}), 4::UTINYINT FROM {s}__cjw_n WHERE pos = 1 GROUP BY customer_id, activity)
       GROUP BY rid""",
    """CREATE OR REPLACE {kind} {s}__cjw_m AS SELECT n.rid, n.jn, n.pos, n.next_activity, n.journey_start_ts,
       n.journey_start_date, {seconds} AS seconds_to_next, coalesce(f.bits, 0) AS bits, c.segment
       FROM {s}__cjw_n n LEFT JOIN {s}__cjw_f f ON n.rid = f.rid
       LEFT JOIN (SELECT customer_id, segment FROM customers) c ON n.customer_id = c.customer_id""",
)
_ORDER = "epoch_us(event_ts)::HUGEINT * 18446744073709551616 + seq"
_SECONDS = ("(EPOCH(CAST(DATE_TRUNC('SECOND', {0}) AS TIMESTAMP)) + ((EXTRACT('MILLISECOND' FROM {0}) % 1000) / 1000))")


def build_journey_steps(con, columns: list[str]) -> None:
    """`journey_steps` rebuilt whole on DuckDB: equal, column by column and row by row, to
    `with_steps` + segment + journey_no (tests/test_ingest_speed_paths.py), in about 0.7 of the CPU.

    `with_steps` runs four windows, each sorting every column of every event; here the journey
    window sorts six columns and the flags are hash aggregates; only the final storage order
    sorts whole rows. Above `CHUNK_ROWS` events that last join and sort run per range of segments
    (in storage order), each joining only its part of `__cjw_m`, so their spill and memory grow
    with a chunk, not with the table."""
    kind, s = _scratch(con)
    for sql in _STEPS_SQL[:2]:
        con.raw_sql(sql.format(kind=kind, s=s))
    # the ingest numbers events one by one; a database written otherwise may repeat a seq
    unique = con.raw_sql(f"SELECT count(*) = count(DISTINCT seq) FROM {s}__cjw_n").fetchone()[0]
    con.raw_sql(_STEPS_SQL[2].format(kind=kind, s=s, order=_ORDER if unique else "(event_ts, seq, jn)"))
    seconds = f"{_SECONDS.format('n.next_ts')} - {_SECONDS.format('n.event_ts')}"
    con.raw_sql(_STEPS_SQL[3].format(kind=kind, s=s, seconds=seconds))
    con.raw_sql(f"DROP TABLE {s}__cjw_jk; DROP TABLE {s}__cjw_n; DROP TABLE {s}__cjw_f")
    cols = ", ".join(f'e."{c}"' for c in columns)
    select = f"""SELECT {cols},
        coalesce(e.journey_id, e.customer_id) AS journey_key, m.pos, m.next_activity, m.journey_start_ts,
        m.journey_start_date, m.seconds_to_next, m.bits & 1 > 0 AS first_in_journey, m.bits & 2 > 0 AS first_for_customer,
        m.pos = 1 AS is_start, m.pos = 1 AND m.bits & 4 > 0 AS first_start_for_customer, m.segment, m.jn AS journey_no
        FROM events e JOIN (SELECT * FROM {s}__cjw_m WHERE {{where}}) m ON e.rowid = m.rid
        ORDER BY m.segment, m.jn, m.pos"""
    for i, chunk in enumerate(_segment_chunks(con, f"{s}__cjw_m")):
        where, params = _chunk_sql(chunk)
        head = "CREATE OR REPLACE TABLE journey_steps AS" if i == 0 else "INSERT INTO journey_steps"
        con.con.execute(f"{head} {select.format(where=where)}", params)
    con.raw_sql(f"DROP TABLE {s}__cjw_m")


CHUNK_ROWS = 10_000_000   # rows one statement of a full DuckDB build joins, sorts or groups (about)


def _segment_chunks(con, steps: str) -> list[tuple | None]:
    """Consecutive parts of table `steps` (stored by segment, then journey number `jn`), each
    (first segment, last segment, first jn, jn past the last) with None for no bound: ranges of
    segments (NULL last, as `(None, None, ...)`) of at most `CHUNK_ROWS` rows, a bigger segment
    split into equal-width ranges of journey numbers (journeys are numbered by key, not by segment,
    so each range holds about its share). `[None]` (everything at once) when the table is small."""
    counts = con.con.execute(f"SELECT segment, count(*) FROM {steps} GROUP BY 1 ORDER BY 1 NULLS LAST").fetchall()
    if sum(n for _, n in counts) <= CHUNK_ROWS:
        return [None]
    top = con.con.execute(f"SELECT max(jn) FROM {steps}").fetchone()[0]
    chunks, run, rows = [], [], 0

    def close():
        if run:
            chunks.append((run[0], run[-1], None, None))

    for segment, n in counts:
        if run and rows + n > CHUNK_ROWS:
            close()
            run, rows = [], 0
        if n <= CHUNK_ROWS and segment is not None:
            run.append(segment)
            rows += n
            continue
        close()   # NULL or a big segment: its own chunk(s), after the run before it
        run, rows = [], 0
        parts = -(-n // CHUNK_ROWS)
        width = -(-(top + 1) // parts)
        chunks += [(segment, segment, k * width, (k + 1) * width) for k in range(parts)]
    close()
    return chunks


def _chunk_sql(chunk: tuple | None) -> tuple[str, list]:
    """A chunk of `_segment_chunks` as a SQL condition and its parameters."""
    if chunk is None:
        return "true", []
    first, last, lo, hi = chunk
    where, params = ("segment IS NULL", []) if first is None else ("segment >= ? AND segment <= ?", [first, last])
    if lo is not None:
        where, params = f"{where} AND jn >= ? AND jn < ?", params + [lo, hi]
    return where, params


def build_journeys_in_parts(con) -> bool:
    """`journeys` for one range of journey numbers at a time, then stored in order, when
    `journey_steps` holds more than `CHUNK_ROWS` rows (a journey's steps are gathered in a list,
    which DuckDB cannot spill); ranges of journey numbers, not segments, as a journey can cross
    segments. False (nothing done) for a smaller table: one statement builds it."""
    n, top = con.con.execute("SELECT count(*), max(journey_no) FROM journey_steps").fetchone()
    parts = -(-n // CHUNK_ROWS)
    if parts <= 1:
        return False
    st = con.table("journey_steps")
    kind, s = _scratch(con)
    width = -(-(top + 1) // parts)
    for k in range(parts):
        part = st.filter((st.journey_no >= k * width) & (st.journey_no < (k + 1) * width))
        part = con.compile(traces(part).drop("trace"))
        con.raw_sql(f"CREATE OR REPLACE {kind} {s}__cjw_j AS {part}" if k == 0 else f"INSERT INTO {s}__cjw_j {part}")
    cust = con.table("customers").select("customer_id", "segment")
    journeys = con.sql(f"SELECT * FROM {s}__cjw_j").left_join(cust, "customer_id").drop("customer_id_right")
    materialise(con, "journeys", journeys.order_by(["segment", "start_ts"]))
    con.raw_sql(f"DROP TABLE {s}__cjw_j")
    return True


def _scratch(con) -> tuple[str, str]:
    """(table kind, name prefix) for a full build's intermediate tables: the ingest's scratch
    database on disk when it is attached (`SCRATCH`: stored compressed, never in the database
    being built), else TEMP tables."""
    names = {r[0] for r in con.raw_sql("SELECT database_name FROM duckdb_databases()").fetchall()}
    return ("TABLE", f"{SCRATCH}.main.") if SCRATCH in names else ("TEMP TABLE", "")
