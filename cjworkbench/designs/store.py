"""The designs a database carries: written with the data by the ingest (or `cjw designs`), read by
the analyses, dashboards and reports wherever the database goes (no files beside it).

Table `designs` (contract.DDL): one row per design (`kind`, `name`, `body` as JSON text, its
`sha256`, `stored_ts`) and, as kind `settings`, the business time zone (`timezone`) and the
languages of the texts (`languages`). A database built before designs were stored has no such
table: it reads as "no designs", time zone UTC, languages [en].
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from ..cache import remember
from ..contract import DDL
from ..errors import DesignError, DesignMissingError, one_of
from .config import DESIGN_KINDS, Designs, StoredDesign, check_activities

TABLE = "designs"
SETTINGS = "settings"
# what each kind is, for "This database has no <what>"
WHAT = {"journeys": "designed journeys", "personas": "personas", "kpi_map": "KPI map", "themes": "theme taxonomy",
        "actions": "next-best-action rules", "roles": "KPI roles", "targets": "KPI targets",
        "funnels": "named funnels", "goal": "goal activity", "instruments": "instrument meanings",
        "labels": "display labels"}


def _rows(con) -> list[tuple[str, str, str]]:
    """(kind, name, body JSON) of every stored row, in stored order; [] without a designs table.
    Read once per Ibis connection (a new ingest means a new connection); a raw DuckDB connection
    (the ingest's, `cjw designs`') is read each time."""
    if hasattr(con, "list_tables"):
        def build():
            if TABLE not in con.list_tables():
                return []
            df = con.table(TABLE).select("kind", "name", "body").execute()
            return list(zip(df["kind"], df["name"], df["body"]))
        return remember(con, "object", ("designs.store",), build)
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = "
                       "current_schema()", [TABLE]).fetchone()[0]:
        return []
    return [tuple(r) for r in con.execute(f"SELECT kind, name, body FROM {TABLE}").fetchall()]


def _check_kind(kind: str) -> None:
    if kind not in DESIGN_KINDS:
        raise DesignError(one_of("design kind", kind, DESIGN_KINDS))


def design_names(con, kind: str) -> list[str]:
    """Names of the stored designs of `kind`, in config order ([] when none)."""
    _check_kind(kind)
    return [n for k, n, _ in _rows(con) if k == kind]


def has_design(con, kind: str) -> bool:
    """Whether the database carries at least one design of `kind`."""
    return bool(design_names(con, kind))


def design(con, kind: str, name: str | None = None):
    """The parsed body (mapping, list or text) of the design `kind` / `name` (None: the first of
    that kind); DesignMissingError, naming the config key that adds it, when there is none."""
    _check_kind(kind)
    found = [(n, body) for k, n, body in _rows(con) if k == kind]
    if not found:
        raise DesignMissingError(f"This database has no {WHAT[kind]}. Add `designs: {kind}:` to the ingest config "
                                 f"and run `cjw designs` (or `cjw ingest`).")
    if name in (None, ""):
        return json.loads(found[0][1])
    for n, body in found:
        if n == name:
            return json.loads(body)
    raise DesignMissingError(f"This database has no {WHAT[kind]} named '{name}'. "
                             + one_of(f"{kind} design", name, [n for n, _ in found]).split(". ", 1)[1]
                             + f" Add it under `designs: {kind}:` in the ingest config and run `cjw designs`.")


def _setting(con, name: str, default):
    for k, n, body in _rows(con):
        if k == SETTINGS and n == name:
            return json.loads(body)
    return default


def business_timezone(con) -> str:
    """The business time zone (the config's `timezone:`) the database was built with; UTC when absent."""
    return str(_setting(con, "timezone", "UTC"))


def languages(con) -> list[str]:
    """The ISO 639-1 codes of the texts' languages (the config's `languages:`); [en] when absent."""
    return [str(x) for x in _setting(con, "languages", ["en"])]


def rows_of(designs: Designs) -> list[StoredDesign]:
    """What is stored for `designs`: each design, then the settings."""
    return [*designs.items, StoredDesign(SETTINGS, "timezone", designs.timezone),
            StoredDesign(SETTINGS, "languages", list(designs.languages))]


def store_designs(con, designs: Designs, *, schema: str | None = None) -> None:
    """Check `designs` against the events of `con` (a DuckDB connection; `schema` the attached
    database, e.g. the ingest's `out`) and make them the database's designs (the table is replaced
    in the caller's transaction). DesignError, naming the design and the nearest real activities,
    when a design names an activity no event has."""
    prefix = f"{schema}." if schema else ""
    check_activities(designs, [r[0] for r in con.execute(f"SELECT DISTINCT activity FROM {prefix}events").fetchall()])
    con.execute(DDL[TABLE].replace("CREATE TABLE ", f"CREATE TABLE IF NOT EXISTS {prefix}", 1))
    con.execute(f"DELETE FROM {prefix}{TABLE}")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con.executemany(f"INSERT INTO {prefix}{TABLE} VALUES (?, ?, ?, ?, ?)",
                    [[d.kind, d.name, d.text, d.sha256, now] for d in rows_of(designs)])


def stored_hashes(con) -> dict[tuple[str, str], str]:
    """(kind, name) -> sha256 of what `con` (DuckDB) stores now: what `cjw designs` compares against."""
    if not _rows(con):
        return {}
    return {(k, n): h for k, n, h in con.execute(f"SELECT kind, name, sha256 FROM {TABLE}").fetchall()}
