"""Gather each source's identifying keys and comparison fields during ingest, while the raw
values are still in the in-memory staging table and before `pseudonymise` replaces them.

Two calls per source: `stage_identity` (raw rows -> `__idk`: keyed hashes and coarse values only,
per staged line) and `keep_identity` (the lines that loaded -> `identity_keys` and `identity_fields` in the file, now by
their canonical `customer_id`, so a refresh can re-link). Only hashes reach the database file.
"""

from __future__ import annotations

from ..contract import DDL
from ..errors import ConfigError, did_you_mean
from .config import COMPARISON_COLUMNS, IdentityConfig, identity_config
from .normalise import PHONE_TAIL, hashed, key_sql, name_sql, phone_sql, email_sql, register, text_sql

FIELD_TYPES = {c: ("INTEGER" if c == "birth_year" else "VARCHAR") for c in COMPARISON_COLUMNS if c != "ip_day"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def field_items(kind: str, cols: tuple[str, ...], idc: IdentityConfig) -> list[str]:
    """SQL select items for one comparison field: keyed hashes, a hashed phonetic code, coarse values."""
    c = _q(cols[0])
    if kind in ("name", "first_name", "last_name"):
        n, col = name_sql(tuple(_q(x) for x in cols)), kind.split("_")[0]
        return [f"{hashed(kind, n)} AS {col}_h", f"{hashed(kind + '_code', f'cjw_name_code({n})')} AS {col}_code"]
    if kind in ("birth_date", "address", "national_id"):   # exact only: letters and digits, lower case
        text = "concat_ws(' ', " + ", ".join(text_sql(_q(x)) for x in cols) + ")"
        norm = f"nullif(regexp_replace(lower(strip_accents({text})), '[^a-z0-9]', '', 'g'), '')"
        return [f"{hashed(kind, norm)} AS {kind}_h"]
    if kind == "birth_year":
        return [f"TRY_CAST(regexp_extract({text_sql(c)}, '(1[89]|20)[0-9][0-9]') AS INTEGER) AS birth_year"]
    if kind == "postcode":   # 4 characters (a Dutch PC4 area, a UK outward code): coarse on purpose
        return [f"nullif(upper(left(regexp_replace({text_sql(c)}, '[^0-9A-Za-z]', '', 'g'), 4)), '') AS postcode"]
    if kind == "email":
        return [f"{hashed('email', email_sql(c, idc.email_ignore_dots))} AS email_h"]
    if kind in ("ip", "user_agent"):   # exact, case and spaces aside; ip_day (IP + day seen) follows at keep_identity
        return [f"{hashed(kind, f'lower({text_sql(c)})')} AS {'agent' if kind == 'user_agent' else 'ip'}_h"]
    p = phone_sql(c, idc.phone_country)
    return [f"{hashed('phone', p)} AS phone_h", f"{hashed('phone_head', f'left({p}, length({p}) - {PHONE_TAIL})')} AS phone_head",
            f"{hashed('phone_tail', f'right({p}, {PHONE_TAIL})')} AS phone_tail"]


def stage_identity(con, cfg, src, table: str) -> None:
    """Raw staged rows of `src` -> temp table `__idk` (one row per line: key and field hashes)."""
    con.execute("DROP TABLE IF EXISTS __idk")
    idc = identity_config(cfg)
    if idc is None or not idc.columns_of(src.name):
        return
    available = [r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()]
    for col in sorted(idc.columns_of(src.name)):
        if col not in available:
            shown = [a for a in available if not a.startswith("__")]
            raise ConfigError(f"identity: source '{src.name}' has no column '{col}'.{did_you_mean(col, shown)} "
                              f"Available: {', '.join(shown)}.")
    register(con)
    items = [f"{hashed(kind, key_sql(kind, _q(col), idc.phone_country, idc.email_ignore_dots))} AS {_q('key_' + kind)}"
             for kind, col in idc.keys.get(src.name, {}).items()]
    for kind, cols in idc.fields.get(src.name, {}).items():
        items += field_items(kind, cols, idc)
    con.execute(f"CREATE TEMP TABLE __idk AS SELECT __fidx, __line, {', '.join(items)} FROM {table}")


def keep_identity(con, cfg, src) -> None:
    """The loaded lines' keys and fields, by canonical customer_id, appended to the run's tables."""
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '__idk'").fetchone()[0]:
        return
    ensure_tables(con)
    have = {r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE __idk)").fetchall()}
    join = "FROM __typed t JOIN __idk k USING (__fidx, __line) WHERE t.__reason IS NULL"
    for kind in identity_config(cfg).keys.get(src.name, {}):
        con.execute(f"INSERT INTO out.identity_keys BY NAME SELECT DISTINCT t.customer_id, $s AS source, $k AS kind, "
                    f"k.{_q('key_' + kind)} AS key, t.__fidx AS file_id {join} AND k.{_q('key_' + kind)} IS NOT NULL",
                    {"s": src.name, "k": kind})
    fields = ["k." + c for c in FIELD_TYPES if c in have]
    if "ip_h" in have and src.kind == "events":   # the IP on the day of each event: time proximity, day by day
        fields.append("k.ip_h || '@' || strftime(t.event_ts, '%Y-%m-%d') AS ip_day")
    if fields:
        con.execute(f"INSERT INTO out.identity_fields BY NAME SELECT DISTINCT t.customer_id, $s AS source, "
                    f"{', '.join(fields)}, t.__fidx AS file_id {join}", {"s": src.name})
    con.execute("DROP TABLE __idk")


def ensure_tables(con) -> None:
    """`identity_keys` and `identity_fields` in the file being built (hashes only: a refresh re-links),
    with the columns added since a database was first built (file_id, ip_h, agent_h, ip_day)."""
    for table in ("identity_keys", "identity_fields"):
        con.execute(DDL[table].replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS out.", 1))
    for table, col, typ in (("identity_keys", "file_id", "BIGINT"), ("identity_fields", "file_id", "BIGINT"),
                            ("identity_fields", "ip_h", "VARCHAR"), ("identity_fields", "agent_h", "VARCHAR"),
                            ("identity_fields", "ip_day", "VARCHAR")):
        con.execute(f"ALTER TABLE out.{table} ADD COLUMN IF NOT EXISTS {col} {typ}")
