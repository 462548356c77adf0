"""A source's row rules: `where:` (keep only matching rows), `derive:` (new columns from SQL
expressions), `id: generated` (a per-row customer id) and `max_reject_share:`.

The expressions are SQL the config author writes (a trusted file), never a widget or URL value.
They are still held to one shape: DuckDB's parser must see exactly one statement, `SELECT <one
expression>` with no FROM, subquery, `*` or alias, so an expression can read only the row it is
given (checked when the config is loaded). When the export is staged, every column an expression
names must be one of the export's columns (all text, VARCHAR), and DuckDB must bind it: `where:`
to a BOOLEAN. Derived values are kept as text, so they map and land in `attributes` like export
columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from ..errors import ConfigError, did_you_mean
from .read_rejects import quote_ident as q
from .target import disk_full

ROW_ID = "__row_id"   # the staged column holding a generated customer id (bookkeeping, never an attribute)
_CLAUSES = ("where_clause", "having", "qualify", "sample")


@dataclass(frozen=True)
class RowRules:
    """The parsed row rules of one source; `refs` holds the export columns each expression names."""

    where: str | None = None
    derive: tuple[tuple[str, str], ...] = ()
    refs: tuple[tuple[str, frozenset], ...] = ()   # (config key, columns), e.g. ("derive.days_late", {...})
    generated_id: bool = False
    max_reject_share: float | None = None          # None: the `limits:` default


def row_rules(raw: dict, kind: str, where: str) -> RowRules | None:
    """Check the row-rule keys of one source mapping (`where` names the source in messages)."""
    if not any(k in raw for k in ("where", "derive", "id", "max_reject_share")):
        return None
    refs = []
    cond = raw.get("where")
    if cond is not None:
        refs.append(("where", parse_expression(cond, where, "where")))
    derive = raw.get("derive") or {}
    if not isinstance(derive, dict):
        raise ConfigError(f"{where}: 'derive' must be a mapping of new column: SQL expression, got {derive!r}.")
    for name, expr in derive.items():
        if not isinstance(name, str) or not name.strip() or name.startswith("__"):
            raise ConfigError(f"{where}: derive: {name!r} is not a usable column name (text, not starting with __).")
        refs.append((f"derive.{name}", parse_expression(expr, where, f"derive.{name}")))
    generated = _generated_id(raw, kind, where)
    share = raw.get("max_reject_share")
    if share is not None and not (isinstance(share, (int, float)) and not isinstance(share, bool) and 0 <= share <= 1):
        raise ConfigError(f"{where}: 'max_reject_share' must be a share from 0 to 1 (0.2 = 20 %), got {share!r}.")
    return RowRules(None if cond is None else str(cond), tuple((str(k), str(v)) for k, v in derive.items()),
                    tuple(refs), generated, None if share is None else float(share))


def _generated_id(raw: dict, kind: str, where: str) -> bool:
    value = raw.get("id")
    if value is None:
        return False
    if value != "generated":
        raise ConfigError(f"{where}: 'id' can only be 'generated' (a stable id per row), got {value!r}.")
    if kind != "customers":
        raise ConfigError(f"{where}: 'id: generated' applies to customers sources only (kind is {kind}).")
    if "customer_id" in (raw.get("columns") or {}) or "customer_id" in (raw.get("constants") or {}):
        raise ConfigError(f"{where}: 'id: generated' and a mapped customer_id exclude each other: keep one.")
    return True


def parse_expression(text: object, where: str, key: str) -> frozenset:
    """The export columns one SQL expression names; ConfigError unless it is exactly one expression."""
    if not isinstance(text, (str, int, float)) or isinstance(text, bool) or not str(text).strip():
        raise ConfigError(f"{where}: {key} must be one SQL expression (text), got {text!r}.")
    sql = f"SELECT {text}"
    bad = f"{where}: {key} must be one SQL expression over the export's columns"
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ConfigError(f"{bad}; DuckDB cannot parse `{text}`: {_first_line(exc)}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ConfigError(f"{bad}, not {len(statements)} SQL statements (no ';'): `{text}`.")
    con = duckdb.connect()
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql($sql)", {"sql": sql}).fetchone()[0])
    finally:
        con.close()
    node = (tree.get("statements") or [{}])[0].get("node", {}) if not tree.get("error") else {}
    shape_ok = (node.get("type") == "SELECT_NODE" and len(node.get("select_list", ())) == 1
                and node.get("from_table", {}).get("type") == "EMPTY" and not node.get("modifiers")
                and not node.get("group_expressions") and not node.get("cte_map", {}).get("map")
                and not any(node.get(c) for c in _CLAUSES) and not node["select_list"][0].get("alias"))
    if not shape_ok:
        raise ConfigError(f"{bad} (no FROM, WHERE, GROUP BY, alias or second column): `{text}`.")
    found, kinds = set(), set()
    _walk(node["select_list"][0], found, kinds, frozenset())
    if kinds & {"SUBQUERY", "STAR"}:
        raise ConfigError(f"{bad}: a subquery or * may read more than the row (`{text}`).")
    if "QUALIFIED" in kinds:
        raise ConfigError(f"{bad}: name a column alone, quoted if needed (\"case:id\"), not table.column (`{text}`).")
    return frozenset(found)


def _walk(node, found: set, kinds: set, bound: frozenset) -> None:
    """Collect column references (outside lambda parameters) and the expression classes seen."""
    if isinstance(node, list):
        for item in node:
            _walk(item, found, kinds, bound)
        return
    if not isinstance(node, dict):
        return
    cls = node.get("class")
    kinds.add(cls)
    if cls == "LAMBDA":
        params = set()
        _walk(node.get("lhs"), params, set(), frozenset())
        _walk(node.get("expr"), found, kinds, bound | params)
        return
    if cls == "COLUMN_REF":
        names = node.get("column_names") or []
        if len(names) > 1:
            kinds.add("QUALIFIED")
        elif names and names[0] not in bound:
            found.add(names[0])
        return
    for value in node.values():
        if isinstance(value, (dict, list)):
            _walk(value, found, kinds, bound)


def apply_rules(con, src, table: str, available: list[str]) -> int:
    """Add the derived columns (text) and the generated id to the staged `table`, keep only the rows
    `where:` holds for (NULL counts as not true); return the number of rows it removed."""
    rules = src.rules
    if rules is None:
        return 0
    where = f"Source '{src.name}'"
    for key, cols in rules.refs:
        missing = sorted(cols - set(available))
        if missing:
            raise ConfigError(f"{where}: {key} names column '{missing[0]}', which is not in {src.pattern}."
                              + did_you_mean(missing[0], available) + f" Available columns: {', '.join(available)}.")
    clash = [name for name, _ in rules.derive if name in available]
    if clash:
        raise ConfigError(f"{where}: derive.{clash[0]} is already an export column; name the new column otherwise.")
    items = [_derived(src, name, expr) for name, expr in rules.derive]
    if rules.generated_id:
        items.append(f"cjw_pseudonym(concat_ws(':', {_literal(src.name)}, parse_filename(__file), __line)) "
                     f"AS {ROW_ID}")
    cond = "true" if rules.where is None else f"({rules.where})"
    if rules.where is not None:
        kind = _bind(con, f"{where}: where `{rules.where}`", f"SELECT column_type FROM (DESCRIBE SELECT {cond} "
                                                               f"FROM {table})")
        if kind not in (None, "BOOLEAN"):
            raise ConfigError(f"{where}: where must be true or false for each row; `{rules.where}` gives {kind}. "
                              f"Compare it with something, e.g. \"lifecycle:transition\" = 'complete'.")
    for name, expr in rules.derive:
        _bind(con, f"{where}: derive.{name} `{expr}`", f"SELECT column_type FROM (DESCRIBE SELECT ({expr}) "
                                                        f"FROM {table})")
    if not items and rules.where is None:
        return 0
    before = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    sql = f"CREATE OR REPLACE TABLE {table} AS SELECT *{''.join(', ' + i for i in items)} FROM {table} WHERE {cond}"
    _bind(con, f"{where}: {' / '.join(k for k, _ in rules.refs) or 'id'}", sql)
    return before - con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _derived(src, name: str, expr: str) -> str:
    value = f"CAST(({expr}) AS VARCHAR)"
    return f"{'cjw_pseudonym(' + value + ')' if name in src.personal else value} AS {q(name)}"


def _bind(con, what: str, sql: str):
    """Run `sql`; a DuckDB error becomes a ConfigError naming the source, the key and the fix."""
    try:
        row = con.execute(sql).fetchone()
    except duckdb.Error as exc:
        if disk_full(exc) or isinstance(exc, duckdb.OutOfMemoryException):
            raise
        raise ConfigError(f"{what} does not work on the export: {_first_line(exc)}. Export "
                          f"columns are text (VARCHAR): cast them, e.g. amount::DOUBLE, TRY_CAST(promised AS DATE) "
                          f"(TRY_CAST gives NULL where a value does not convert).") from None
    return row[0] if row else None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
