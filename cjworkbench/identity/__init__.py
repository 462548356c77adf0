"""Identity across silos: which customer_ids are one person (deterministic keys, then a
Fellegi-Sunter model), with stable `person_id`s and the evidence of every link.

Ingest calls `stage_identity` / `keep_identity` per source and `build_identity` once after the
sources are loaded; analyses read the `persons` table (`cjworkbench.scope`, identity="person").
"""

from __future__ import annotations

from .collect import keep_identity, stage_identity
from .config import IdentityConfig, identity_config, parse_identity
from .normalise import name_code, soundex
from .persons import link_records

__all__ = ["IdentityConfig", "build_identity", "identity_config", "keep_identity", "name_code", "parse_identity",
           "soundex", "stage_identity"]


def build_identity(con, cfg, db_path, run_id: str, say=lambda _m: None) -> dict | None:
    """Link the loaded records into persons (no-op without an `identity:` block); return counts."""
    idc = identity_config(cfg)
    if idc is None:
        return None
    import time

    t0 = time.perf_counter()
    counts = link_records(con, idc, db_path, run_id)
    say(f"identity: {counts['records']:,} records -> {counts['persons']:,} persons ({counts['key_links']:,} key "
        f"links, {counts['model_links']:,} model links, {counts['changes']:,} merges/splits) in "
        f"{time.perf_counter() - t0:.1f} s")
    return counts
