"""`cjw designs`: replace a database's designs, business time zone and languages from the ingest
config without re-ingesting the exports.

Like an ingest, it takes the ingest lock, refuses a writer holding the database, works on a copy
beside it (`.<db>.building-<pid>`) and swaps the copy in with one rename, so dashboards holding the
old file keep their snapshot and a failure leaves the database as it was. Only the `designs` table
changes (and, when the time zone changed, the business dates and the derived journey tables);
events, feedback, customers and `ingest_runs` are not touched.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import duckdb

from ..errors import DatabaseError
from ..ingest.local_time import apply_business_time, business_zone
from ..ingest.target import remove_build as _remove, swap_in as _swap
from ..ingest.target import build_path, hold_target, ingest_lock, remove_debris
from .config import read_designs
from .store import business_timezone, rows_of, store_designs, stored_hashes


def update_designs(config_path, db_path, *, progress=None) -> dict:
    """Check the config's designs against the database's events and store them; return what
    changed: {"added", "changed", "removed": ["kind/name", ...], "timezone": (old, new) or None,
    "business_dates_changed": {table: rows}}."""
    say = progress or (lambda _msg: None)
    note = (lambda msg: progress("note: " + msg)) if progress else (
        lambda msg: print("note: " + msg, file=sys.stderr, flush=True))
    designs, lock_wait = read_designs(config_path)
    db = Path(db_path).resolve()
    if not db.is_file():
        raise DatabaseError(f"Database '{db}' does not exist. Build it with `cjw ingest --config {config_path} "
                            f"--db {db_path}` first.")
    with ingest_lock(db, wait=lock_wait, note=note):
        remove_debris(db, note)
        with hold_target(db, note):
            build = build_path(db)
            _remove(build)
            try:
                shutil.copyfile(db, build)
                con = duckdb.connect(str(build))
                try:
                    report = _replace(con, designs)
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                _swap(build, db)
            except BaseException:
                _remove(build)
                raise
    say(f"designs of {db.name}: {len(report['added'])} added, {len(report['changed'])} changed, "
        f"{len(report['removed'])} removed" + (f"; business time zone {report['timezone'][0]} -> "
                                              f"{report['timezone'][1]}" if report["timezone"] else ""))
    return report


def _replace(con, designs) -> dict:
    """In one transaction: the new designs (checked against the events), the business dates when
    the time zone changed."""
    before = stored_hashes(con)
    old_zone = business_zone(con) or business_timezone(con)
    con.execute("BEGIN TRANSACTION")
    try:
        store_designs(con, designs)
        dates = {}
        if old_zone != designs.timezone:
            try:
                dates = apply_business_time(con, designs.timezone)
            except duckdb.Error as exc:
                raise DatabaseError(f"Cannot move the business dates to {designs.timezone} ({str(exc).splitlines()[0]}); "
                                    f"the database may predate business dates: run `cjw ingest` instead.") from None
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    after = {(d.kind, d.name): d.sha256 for d in rows_of(designs)}
    key = "/".join
    return {"added": sorted(key(k) for k in after if k not in before),
            "changed": sorted(key(k) for k in after if k in before and before[k] != after[k]),
            "removed": sorted(key(k) for k in before if k not in after),
            "timezone": (old_zone, designs.timezone) if old_zone != designs.timezone else None,
            "business_dates_changed": dates}
