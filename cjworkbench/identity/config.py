"""The `identity:` block of an ingest config: which export columns identify a person, and how.

```yaml
identity:
  keys:                 # deterministic: records sharing a normalised key are one person
    crm: {email: email, phone: phone}
    contact_centre: {phone: caller_phone}
  fields:               # probabilistic: compared (as keyed hashes or coarsened) by a Fellegi-Sunter model
    crm: {name: [first_name, last_name], birth_year: birth_year, phone: phone}
    contact_centre: {name: caller_name, phone: caller_phone}
    web: {ip: ip, user_agent: user_agent}   # anonymous visits: IP, device, and the same IP on the same day
  blocking: [[phone_head], [phone_tail], [name_code], [ip_h]]
  threshold: 0.99       # match probability at or above which a model link joins two records
  phone_country: "31"   # a national number (leading 0) gets this country code
  email_ignore_dots: [gmail.com, googlemail.com]   # providers where dots and +tags do not count
```
Read from the config file itself, so `cjworkbench.config` stays the parser of sources alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from ..errors import ConfigError, one_of

KEY_KINDS = ("crm_id", "login", "email", "phone", "loyalty_card", "device_id")
FIELD_KINDS = ("name", "first_name", "last_name", "birth_year", "birth_date", "postcode", "address", "email", "phone",
               "national_id", "ip", "user_agent")
# comparison columns the model and the blocking rules see (derived from FIELD_KINDS, never raw)
COMPARISON_COLUMNS = ("name_h", "name_code", "first_h", "first_code", "last_h", "last_code", "birth_year",
                      "birth_date_h", "postcode", "address_h", "email_h", "phone_h", "phone_head", "phone_tail",
                      "national_id_h", "ip_h", "agent_h", "ip_day")
BLOCK_COLUMNS = COMPARISON_COLUMNS[:-1]   # ip_day (the IP on each day a record was seen) is a list: compared, not blocked on
OPTIONS = ("keys", "fields", "blocking", "threshold", "phone_country", "email_ignore_dots", "max_pairs")


@dataclass(frozen=True)
class IdentityConfig:
    keys: dict = field(default_factory=dict)      # source -> {key kind: export column}
    fields: dict = field(default_factory=dict)    # source -> {field kind: (export columns, ...)}
    blocking: tuple = (("phone_head",), ("phone_tail",), ("name_code",))
    threshold: float = 0.99
    phone_country: str = "31"
    email_ignore_dots: tuple = ()
    max_pairs: float = 1e6                        # record pairs sampled to estimate u

    def columns_of(self, source: str) -> set[str]:
        """Every export column this block reads from `source`."""
        cols = set(self.keys.get(source, {}).values())
        for names in self.fields.get(source, {}).values():
            cols.update(names)
        return cols


def identity_config(cfg) -> IdentityConfig | None:
    """The parsed `identity:` block of an IngestConfig (None when the config has none)."""
    return _parse(str(cfg.path), cfg.sha256, tuple(s.name for s in cfg.sources))


@lru_cache(maxsize=8)
def _parse(path: str, _sha256: str, sources: tuple[str, ...]) -> IdentityConfig | None:
    raw = (yaml.safe_load(Path(path).read_bytes()) or {}).get("identity")
    return None if raw is None else parse_identity(raw, sources)


def parse_identity(raw: object, sources: tuple[str, ...]) -> IdentityConfig:
    """Validate the block; every error names the key to fix and the allowed values."""
    if not isinstance(raw, dict):
        raise ConfigError(f"identity: must be a mapping with keys: / fields:, got {type(raw).__name__}.")
    for k in raw:
        if k not in OPTIONS:
            raise ConfigError("identity: " + one_of("option", k, OPTIONS))
    keys = {s: {k: c[0] for k, c in m.items()} for s, m in _per_source(raw.get("keys"), "keys", KEY_KINDS,
                                                                        sources).items()}
    fields = _per_source(raw.get("fields"), "fields", FIELD_KINDS, sources)
    blocking = raw.get("blocking", IdentityConfig.blocking)
    if not isinstance(blocking, (list, tuple)) or not blocking:
        raise ConfigError("identity.blocking must be a list of rules, each a list of columns such as [phone_head].")
    rules = []
    for rule in blocking:
        rule = (rule,) if isinstance(rule, str) else tuple(rule)
        for col in rule:
            if col not in BLOCK_COLUMNS:
                raise ConfigError("identity.blocking: " + one_of("column", col, BLOCK_COLUMNS))
        rules.append(rule)
    threshold = raw.get("threshold", IdentityConfig.threshold)
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0.5 <= threshold < 1:
        raise ConfigError(f"identity.threshold must be a match probability from 0.5 to below 1, got {threshold!r}.")
    country = str(raw.get("phone_country", IdentityConfig.phone_country))
    if not country.isdigit() or not 1 <= len(country) <= 3:
        raise ConfigError(f"identity.phone_country must be 1-3 digits such as \"31\", got {country!r}.")
    dots = raw.get("email_ignore_dots") or ()
    dots = (dots,) if isinstance(dots, str) else tuple(str(d).lower() for d in dots)
    max_pairs = raw.get("max_pairs", IdentityConfig.max_pairs)
    return IdentityConfig(keys, fields, tuple(rules), float(threshold), country, dots, float(max_pairs))


def _per_source(raw, key: str, kinds: tuple[str, ...], sources: tuple[str, ...]) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"identity.{key} must map a source name to {{kind: export column}}.")
    out = {}
    for source, mapping in raw.items():
        if source not in sources:
            raise ConfigError(f"identity.{key}: " + one_of("source", source, sources))
        if not isinstance(mapping, dict) or not mapping:
            raise ConfigError(f"identity.{key}.{source} must map a kind ({', '.join(kinds)}) to an export column.")
        for kind, cols in mapping.items():
            if kind not in kinds:
                raise ConfigError(f"identity.{key}.{source}: " + one_of("kind", kind, kinds))
            cols = (cols,) if isinstance(cols, str) else tuple(cols or ())
            if not cols or not all(isinstance(c, str) and c for c in cols):
                raise ConfigError(f"identity.{key}.{source}.{kind} must name an export column, got {mapping[kind]!r}.")
            out.setdefault(source, {})[kind] = cols
    return out
