"""Incremental refresh: which export files are new, changed, unchanged or gone, and which rows to redo.

A database remembers every file it holds rows of (`ingest_files`: source, path relative to the
config, blake2b of the bytes, size, mtime) and the settings it was built with (`ingest_runs.settings`:
the config -- a source's `path` as written, not the files it matches -- without designs and limits, plus the key fingerprint and the
schema version). `plan_refresh` compares both with the config: same settings -> load only new
files and re-load changed ones (their old rows, rejects and derived rows replaced); a file whose
path and size and mtime are unchanged is not even re-hashed; a file that disappeared keeps its
rows. Any setting changed, `--full`, or a database from before refresh existed -> full rebuild,
and `Plan.reason` says why. Duplicates across files: a new row equal in every canonical field and
attribute to a row already loaded from the same source is rejected as `duplicate` (within the new
files the raw-column rule of a full ingest applies).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from ..config import IngestConfig, Source
from ..contract import DDL, FIELDS
from ..model import BUILDERS

# what a change of forces a full rebuild: the stored tables' layout and the derived tables' builders
SCHEMA_VERSION = hashlib.sha256(json.dumps([DDL, [b.__name__ for b in BUILDERS]], sort_keys=True)
                                .encode()).hexdigest()[:16]
_NOT_SETTINGS = ("designs", "limits", "report")   # re-stored every run / resources only / read by reports


@dataclass
class FilePlan:
    source: str
    kind: str
    path: Path
    rel: str                 # relative to the config's folder: what ingest_files records
    status: str              # new | changed | unchanged | copy (same bytes as a loaded file) | gone
    blake2b: str = ""
    size: int = 0
    mtime_ns: int = 0
    old_id: int | None = None   # the file_id whose rows a changed (or gone/unchanged) file has
    file_id: int | None = None  # the id of the rows loaded now (new and changed files)
    counts: dict = field(default_factory=dict)
    restat: bool = False        # unchanged bytes under a new mtime: recorded, so the next run skips the hash


@dataclass
class Plan:
    full: bool
    reason: str
    settings: dict
    files: list[FilePlan]

    def to_load(self, src: Source) -> list[FilePlan]:
        return [f for f in self.files if f.source == src.name and f.file_id is not None]

    @property
    def replaced_ids(self) -> list[int]:
        return [f.old_id for f in self.files if f.status == "changed"]

    def notes(self) -> list[str]:
        """One line per source: what the refresh loads, skips and keeps."""
        out = []
        for name in dict.fromkeys(f.source for f in self.files):
            mine = [f for f in self.files if f.source == name]
            n = {s: sum(f.status == s for f in mine) for s in ("new", "changed", "unchanged", "copy", "gone")}
            text = f"{name}: {n['new']} new, {n['changed']} changed, {n['unchanged']} unchanged file(s)"
            if n["copy"]:
                text += f"; {n['copy']} skipped (same bytes as a loaded file: " + \
                        ", ".join(f.rel for f in mine if f.status == "copy") + ")"
            if n["gone"]:
                text += f"; {n['gone']} no longer in the config's folder, their rows kept (" + \
                        ", ".join(f.rel for f in mine if f.status == "gone") + "; `--full` drops them)"
            out.append(text)
        return out


def file_hash(path: Path) -> str:
    """blake2b (16 bytes) of the file's bytes, streamed in 1 MB chunks."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def settings_of(cfg: IngestConfig, fingerprint: str) -> dict:
    """Everything that decides which rows a file becomes, and nothing else."""
    doc = yaml.safe_load(cfg.path.read_bytes())
    sources = {}
    for raw, src in zip(doc["sources"], cfg.sources):
        sources[src.name] = dict(raw) | {"format": src.format}   # `path` is the pattern, not the files
    rest = {k: v for k, v in doc.items() if k not in _NOT_SETTINGS + ("sources",)}
    return json.loads(json.dumps({"config": rest, "sources": sources, "timezone": cfg.timezone,
                                  "key_fingerprint": fingerprint, "schema": SCHEMA_VERSION}, default=str))


def settings_change(old: dict, new: dict) -> str | None:
    """Which setting differs, in words (None: the same)."""
    if old == new:
        return None
    if old.get("schema") != new["schema"]:
        return "this cjworkbench stores a different schema than the one that built the database"
    if old.get("key_fingerprint") != new["key_fingerprint"]:
        return "the pseudonymisation key changed"
    if old.get("timezone") != new["timezone"]:
        return f"the time zone changed ({old.get('timezone')} -> {new['timezone']})"
    before, after = old.get("sources", {}), new["sources"]
    for name in sorted(set(before) ^ set(after)):
        return f"source '{name}' was {'added to' if name in after else 'removed from'} the config"
    for name in after:
        keys = sorted(k for k in set(before[name]) | set(after[name]) if before[name].get(k) != after[name].get(k))
        if keys:
            return f"source '{name}': setting '{keys[0]}' changed"
    keys = sorted(k for k in set(old.get("config", {})) | set(new["config"])
                  if old.get("config", {}).get(k) != new["config"].get(k))
    return f"config setting '{keys[0] if keys else '?'}' changed"


def plan_refresh(cfg: IngestConfig, db_path: Path, fingerprint: str, *, full: bool) -> Plan:
    """What this ingest does: a full build (and why) or the files a refresh loads."""
    settings = settings_of(cfg, fingerprint)
    reason, recorded = _reason_for_full(db_path, settings, full)
    files, next_id = [], 1
    base = cfg.path.parent
    for src in cfg.sources:
        seen = {r["path"]: r for r in recorded if r["source"] == src.name}
        by_hash = {r["blake2b"]: r for r in recorded if r["source"] == src.name}
        for path in src.files:
            st = path.stat()
            fp = FilePlan(src.name, src.kind, path, os.path.relpath(path, base), "new", size=st.st_size,
                          mtime_ns=st.st_mtime_ns)
            old = seen.pop(fp.rel, None)
            if old is not None and (old["size_bytes"], old["mtime_ns"]) == (fp.size, fp.mtime_ns):
                fp.status, fp.blake2b, fp.old_id = "unchanged", old["blake2b"], old["file_id"]
            else:
                fp.blake2b = file_hash(path)
                if old is not None:
                    fp.status, fp.old_id = ("unchanged" if old["blake2b"] == fp.blake2b else "changed"), old["file_id"]
                    fp.restat = fp.status == "unchanged"
                elif fp.blake2b in by_hash and reason is None:
                    fp.status = "copy"
            files.append(fp)
        files += [FilePlan(src.name, src.kind, base / r["path"], r["path"], "gone", r["blake2b"], r["size_bytes"],
                           r["mtime_ns"], r["file_id"]) for r in seen.values()]
    if reason is None:
        next_id = 1 + max([r["file_id"] for r in recorded], default=0)
    for fp in files:
        if reason is not None or fp.status in ("new", "changed"):
            fp.file_id, next_id = next_id, next_id + 1
    if reason is not None:
        files = [f for f in files if f.status != "gone"]
        for f in files:
            f.status = "new"
    return Plan(reason is not None, reason or "", settings, files)


def _reason_for_full(db_path: Path, settings: dict, full: bool) -> tuple[str | None, list[dict]]:
    if full:
        return "full rebuild (--full, --strict or --new-key)", []
    if not db_path.exists():
        return "new database", []
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
            cols = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() "
                                              "WHERE table_name = 'ingest_runs'").fetchall()}
            if "ingest_files" not in tables or "settings" not in cols:
                return "full rebuild: the database was built before incremental refresh existed", []
            row = con.execute("SELECT settings FROM ingest_runs WHERE settings IS NOT NULL "
                              "ORDER BY finished_ts DESC, run_id DESC LIMIT 1").fetchone()
            cur = con.execute("SELECT * FROM ingest_files ORDER BY file_id")
            names = [d[0] for d in cur.description]
            recorded = [dict(zip(names, r)) for r in cur.fetchall()]
    except duckdb.Error as exc:
        return f"full rebuild: the database could not be read ({str(exc).splitlines()[0]})", []
    change = settings_change(json.loads(row[0]), settings) if row else "no settings recorded"
    if change:
        return f"full rebuild: {change}", []
    return None, recorded


def dedupe_against_loaded(con, src: Source) -> None:
    """Reject as `duplicate` a staged row equal (every canonical field and the attributes, NULL
    equal to NULL) to a row already loaded from the same source; only the loaded rows in the
    staged rows' time range are compared (zone maps skip the rest)."""
    ts = "event_ts" if src.kind == "events" else "feedback_ts"
    on = " AND ".join(f'e."{c}" IS NOT DISTINCT FROM t."{c}"' for c in (*FIELDS[src.kind], "attributes"))
    con.execute(f"""UPDATE __typed SET __reason = 'duplicate', __rcolumn = NULL, __rvalue = NULL
        WHERE __reason IS NULL AND rowid IN (
          SELECT t.rowid FROM __typed t SEMI JOIN (
            SELECT * FROM out.{src.kind} WHERE source = $source
              AND {ts} BETWEEN (SELECT min({ts}) FROM __typed) AND (SELECT max({ts}) FROM __typed)) e
          ON t.{ts} = e.{ts} AND t.customer_id = e.customer_id AND {on})""", {"source": src.name})


def count_files(con, src: Source, files: list[FilePlan], staged: dict[int, int]) -> None:
    """Each loaded file's read / loaded / rejected / duplicate / filtered counts (from the staging
    tables, before they are dropped); `staged`: rows read per file_id before `where:`."""
    kept = dict(con.execute("SELECT __fidx, count(*) FROM __typed GROUP BY ALL").fetchall())
    loaded = dict(con.execute("SELECT __fidx, count(*) FROM __typed WHERE __reason IS NULL GROUP BY ALL").fetchall())
    rej = {f: (n, d) for f, n, d in con.execute(
        "SELECT file, count(*), count(*) FILTER (reason = 'duplicate') FROM __rejects WHERE source = ? "
        "GROUP BY ALL", [src.name]).fetchall()}
    for f in files:
        n_rej, n_dup = rej.get(str(f.path), (0, 0))
        filtered = staged.get(f.file_id, 0) - kept.get(f.file_id, 0)
        f.counts = {"rows_read": loaded.get(f.file_id, 0) + n_rej + filtered, "rows_loaded": loaded.get(f.file_id, 0),
                    "rows_rejected": n_rej, "rows_duplicate": n_dup, "rows_filtered": filtered}


def _note_touched(con, ids: list[int]) -> None:
    """Add the customers and journeys of the rows of files `ids` to `out.__cjw_touched`."""
    for table in ("customers", "events", "feedback"):
        key = "coalesce(journey_id, customer_id)" if table == "events" else "NULL"
        con.execute(f"INSERT INTO out.__cjw_touched SELECT DISTINCT customer_id, {key} FROM out.{table} "
                    f"WHERE file_id IN (SELECT unnest($ids))", {"ids": ids})


def remove_replaced(con, plan: Plan) -> None:
    """Delete the rows, rejects, file records and identity keys of changed files from the database being
    built, noting their customers and journeys in `out.__cjw_touched` first (their derived rows are redone)."""
    con.execute("CREATE OR REPLACE TABLE out.__cjw_touched (customer_id VARCHAR, journey_key VARCHAR)")
    ids = plan.replaced_ids
    if not ids:
        return
    _note_touched(con, ids)
    # identity keys and fields (issue #17) go with their file's rows: the persons are re-linked from what is left
    keyed = [r[0] for r in con.execute("""SELECT table_name FROM duckdb_columns() WHERE database_name = 'out'
        AND table_name IN ('identity_keys', 'identity_fields') AND column_name = 'file_id'""").fetchall()]
    for table in ("customers", "events", "feedback", "rejects", "ingest_files", *sorted(keyed)):
        con.execute(f"DELETE FROM out.{table} WHERE file_id IN (SELECT unnest($ids))", {"ids": ids})


def touched_customers(con, plan: Plan) -> None:
    """`out.__cjw_touched`: the customers and journeys of replaced and of newly loaded rows -- what
    `model.build_derived` redoes."""
    _note_touched(con, [f.file_id for f in plan.files if f.file_id is not None] or [-1])


def kill_point(step: str) -> None:
    """Fault injection for the kill tests: `CJW_INGEST_KILL_AT=<step>` SIGKILLs this process at
    `step` (copied, deleted, loaded, derived, checkpointed, swapped)."""
    if os.environ.get("CJW_INGEST_KILL_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)
