"""The declarative ingest config (YAML): which exports feed which canonical table, and how.

Loaded once, validated completely, and turned into frozen dataclasses so the ingest code never
touches raw YAML. Every mistake is reported with the source name and a suggestion.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import yaml

from .contract import DIRECTIONS, FIELDS, INSTRUMENTS, KINDS, REQUIRED
from .errors import ConfigError, InputFileError, did_you_mean, one_of
from .designs.config import Designs, parse_designs

FORMATS = ("csv", "parquet", "jsonl", "excel", "xes")
ENCODINGS = ("utf-8", "latin-1", "cp1252", "utf-16")
_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet",
               ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
               ".xlsx": "excel", ".xlsm": "excel", ".xes": "xes"}
_SOURCE_KEYS = {"name", "kind", "path", "format", "delimiter", "encoding", "sheet", "timezone",
                "timestamp_format", "duplicates", "columns", "constants", "maps", "personal",
                "drop", "instrument", "scale", "direction", "header", "decimal", "redact_text",
                "where", "derive", "id", "max_reject_share"}  # the last four: ingest/expressions.py
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class ValueMap:
    """Raw codes of one export column turned into canonical values."""

    column: str
    values: dict[str, str]
    default: str | None  # "keep" keeps the raw value; None gives NULL


@dataclass(frozen=True)
class Source:
    """One export (a file, a glob of files or a folder of them) feeding one canonical table."""

    name: str
    kind: str
    files: tuple[Path, ...]
    format: str
    pattern: str
    delimiter: str | None = None
    encoding: str = "utf-8"
    header: bool = True
    sheet: str | None = None
    timezone: str = "UTC"
    timestamp_formats: tuple[str, ...] = ()
    keep_duplicates: bool = False
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    maps: dict[str, ValueMap] = field(default_factory=dict)
    personal: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    instrument: str | None = None
    scale: tuple[float, float] | None = None
    direction: str = "higher_is_better"
    decimal: str = "."
    redact_text: bool = True  # feedback: personal data in `text` replaced at ingest (cjworkbench.redact)
    rules: object = None  # where / derive / id / max_reject_share: ingest.expressions.RowRules, or None


@dataclass(frozen=True)
class Limits:
    """Ceilings one ingest stays under, so a hostile or broken export is refused with bounded
    time, memory and disk (the `limits:` block of the config; sizes in bytes or "4GB")."""

    max_decompressed_bytes: int = 4 * 10**9   # a file's content after gunzip (plain files: their size)
    max_rows_per_source: int = 20_000_000     # lines of CSV/JSON lines, rows of Parquet/Excel, XES events
    max_columns: int = 1_000                  # columns (JSON keys) of one file
    max_line_bytes: int = 2_000_000           # a longer CSV/JSON line is rejected as `line too long`
    memory_limit: int = 4 * 10**9             # DuckDB memory while staging (beyond it DuckDB spills)
    temp_limit: int = 20 * 10**9              # DuckDB spill files beside the database
    stage_in_memory: int = 2 * 10**9          # inputs staging within this (and half of memory_limit): in memory
    lock_wait_seconds: float = 600.0          # how long an ingest waits for another on the same database
    max_reject_share: float = 0.2             # a source rejecting more of its rows fails the ingest


LIMITS = {f.name: f.default for f in fields(Limits)}
_MIN_MEMORY = 64 * 10**6
_SIZES = ("max_decompressed_bytes", "max_line_bytes", "memory_limit", "temp_limit", "stage_in_memory")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


@dataclass(frozen=True)
class IngestConfig:
    path: Path
    sha256: str
    timezone: str
    sources: tuple[Source, ...]
    limits: Limits = Limits()
    designs: Designs = Designs()           # `designs:` (cjworkbench.designs.config), stored with the data
    languages: tuple[str, ...] = ("en",)   # `languages:` (ISO 639-1) of the texts


def load_config(path: str | Path) -> IngestConfig:
    """Read and validate an ingest config; raise ConfigError naming every fix needed."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file '{path}' does not exist.")
    text = path.read_bytes()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config '{path}' is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), list) or not doc["sources"]:
        raise ConfigError(f"Config '{path}' must be a mapping with a non-empty 'sources' list.")
    limits = parse_limits(doc.get("limits"))
    if not isinstance(doc.get("report") or {}, dict) or not isinstance(doc.get("identity") or {}, dict):
        raise ConfigError(f"Config '{path}': 'report' and 'identity' must be mappings (README: the ingest config).")
    zone = _timezone(doc.get("timezone", "UTC"), "config")
    sources = tuple(_source(raw, i, path.parent, zone) for i, raw in enumerate(doc["sources"]))
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"Source names must be unique; repeated: {', '.join(dupes)}.")
    d = parse_designs(doc.get("designs"), doc.get("languages"), path.resolve().parent, zone)
    return IngestConfig(path.resolve(), hashlib.sha256(text).hexdigest(), zone, sources, limits, d, d.languages)


def parse_limits(raw: object) -> Limits:
    """The `limits:` block: every key optional, sizes as bytes or "500MB"/"4GB"/"2GiB"."""
    if raw is None:
        return Limits()
    if not isinstance(raw, dict):
        raise ConfigError(f"'limits' must be a mapping of limit to value, got {type(raw).__name__}.")
    values = {}
    for key, value in raw.items():
        if key not in LIMITS:
            raise ConfigError("limits: " + one_of("limit", key, LIMITS))
        if key in ("lock_wait_seconds", "max_reject_share"):
            share = key == "max_reject_share"
            top, what = (1, "a share from 0 to 1") if share else (float("inf"), "a number of seconds >= 0")
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= top):
                raise ConfigError(f"limits.{key} must be {what}, got {value!r}.")
            values[key] = float(value)
            continue
        number = parse_size(value) if key in _SIZES else value if type(value) is int else None   # not a bool
        what = "a size such as 500MB or 4GB, or a number of bytes" if key in _SIZES else "a whole number"
        low = 0 if key == "stage_in_memory" else 1   # stage_in_memory 0: always stage on disk
        if number is None or number < low:
            raise ConfigError(f"limits.{key} must be {what} (at least {low}), got {value!r}.")
        if key == "memory_limit" and number < _MIN_MEMORY:
            raise ConfigError(f"limits.memory_limit must be at least 64MB (DuckDB allocates in blocks of "
                              f"32 MiB), got {value!r}.")
        values[key] = number
    return Limits(**values)


def parse_size(value: object) -> int | None:   # bytes from an int or "500MB" / "4GB" / "2GiB", else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value)) if isinstance(value, str) else None
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])


def _timezone(value: object, where: str) -> str:
    try:
        ZoneInfo(str(value))
    except Exception:
        raise ConfigError(f"{where}: unknown time zone '{value}'. Use an IANA name such as "
                          f"Europe/Amsterdam or UTC." + did_you_mean(str(value), sorted(available_timezones()))) from None
    return str(value)


def _source(raw: object, index: int, base: Path, default_zone: str) -> Source:
    if not isinstance(raw, dict):
        raise ConfigError(f"sources[{index}] must be a mapping, got {type(raw).__name__}.")
    name = str(raw.get("name", ""))
    where = f"Source '{name or index}'"
    if not _NAME.match(name):
        raise ConfigError(f"{where}: 'name' must be lowercase letters, digits and _, starting with a letter.")
    unknown = sorted(set(raw) - _SOURCE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'." + did_you_mean(unknown[0], sorted(_SOURCE_KEYS)))
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: " + one_of("kind", kind, KINDS))
    if "path" not in raw:
        raise ConfigError(f"{where}: 'path' is required (relative to the config file).")
    from .ingest.expressions import row_rules  # here, not on top: the ingest package imports this module
    from .ingest.files import source_files
    pattern = str(base / str(raw["path"]))
    files = source_files(pattern)   # a file, a glob or a folder: ingest/files.py
    if not files or not all(f.is_file() for f in files):
        missing = next((f for f in files if not f.is_file()), pattern)
        raise InputFileError(f"{where}: file '{missing}' does not exist (path '{raw['path']}' is relative to {base}).")
    fmt = raw.get("format") or _format_from_name(files[0], where)
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: " + one_of("format", fmt, FORMATS))
    encoding = str(raw.get("encoding", "utf-8")).lower().replace("_", "-")
    encoding = {"utf8": "utf-8", "latin1": "latin-1", "iso-8859-1": "latin-1", "windows-1252": "cp1252"}.get(encoding, encoding)
    if encoding not in ENCODINGS:
        raise ConfigError(f"{where}: " + one_of("encoding", raw.get("encoding"), ENCODINGS))
    columns = _columns(raw.get("columns") or {}, kind, where)
    constants = {k: str(v) for k, v in _fields(raw.get("constants") or {}, kind, where, "constants").items()}
    maps = {k: _value_map(k, v, columns, where) for k, v in _fields(raw.get("maps") or {}, kind, where, "maps").items()}
    src = Source(
        name=name, kind=kind, files=files, format=fmt, pattern=str(raw["path"]),
        delimiter=raw.get("delimiter"), encoding=encoding, header=bool(raw.get("header", True)),
        sheet=raw.get("sheet"), timezone=_timezone(raw.get("timezone", default_zone), where),
        timestamp_formats=_as_tuple(raw.get("timestamp_format")),
        keep_duplicates=_duplicates(raw.get("duplicates", "drop"), where),
        columns=columns, constants=constants, maps=maps,
        personal=_as_tuple(raw.get("personal")), drop=_as_tuple(raw.get("drop")),
        decimal=_decimal(raw.get("decimal", "."), where), rules=row_rules(raw, kind, where),
        **_feedback_options(raw, kind, where),
    )
    _check_required(src, where)
    return src


def _format_from_name(path: Path, where: str) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".gzip")]
    fmt = _EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise ConfigError(f"{where}: cannot tell the format of '{path.name}' from its extension. "
                          f"Set 'format:' to one of: {', '.join(FORMATS)}.")
    return fmt


def _as_tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else (str(value),)


def _fields(mapping: object, kind: str, where: str, key: str) -> dict:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: '{key}' must be a mapping of canonical field to value.")
    allowed = [f for f in FIELDS[kind] if f not in ("instrument", "scale_min", "scale_max", "direction")]
    for name in mapping:
        if name not in allowed:
            raise ConfigError(f"{where}: {key}: " + one_of(f"{kind} field", name, allowed))
    return mapping


def _columns(mapping: object, kind: str, where: str) -> dict[str, tuple[str, ...]]:
    out = {}
    for canonical, column in _fields(mapping, kind, where, "columns").items():
        cols = _as_tuple(column)
        if not cols or any(not c for c in cols):
            raise ConfigError(f"{where}: columns.{canonical} must name an export column.")
        out[canonical] = cols
    return out


def _value_map(canonical: str, spec: object, columns: dict, where: str) -> ValueMap:
    if not isinstance(spec, dict) or not isinstance(spec.get("values", {}), dict):
        raise ConfigError(f"{where}: maps.{canonical} must be a mapping with 'values' (raw: canonical).")
    column = spec.get("from") or (columns[canonical][0] if len(columns.get(canonical, ())) == 1 else None)
    if column is None:
        raise ConfigError(f"{where}: maps.{canonical} needs 'from: <export column>' "
                          f"(no single column is mapped to {canonical}).")
    default = spec.get("default", "keep")
    values = {str(k): (None if v is None else str(v)) for k, v in (spec.get("values") or {}).items()}
    return ValueMap(str(column), values, None if default is None or default == "null" else str(default))


def _decimal(value: object, where: str) -> str:
    if value not in (".", ","):
        raise ConfigError(f"{where}: " + one_of("decimal separator", value, (".", ",")))
    return str(value)


def _duplicates(value: object, where: str) -> bool:
    if value not in ("drop", "keep"):
        raise ConfigError(f"{where}: " + one_of("duplicates policy", value, ("drop", "keep")))
    return value == "keep"


def _feedback_options(raw: dict, kind: str, where: str) -> dict:
    if kind != "feedback":
        extra = [k for k in ("instrument", "scale", "direction", "redact_text") if k in raw]
        if extra:
            raise ConfigError(f"{where}: '{extra[0]}' applies to feedback sources only.")
        return {}
    instrument = raw.get("instrument")
    if instrument not in INSTRUMENTS:
        raise ConfigError(f"{where}: " + one_of("instrument", instrument, INSTRUMENTS))
    scale = raw.get("scale", [0, 10] if instrument == "nps" else None)
    if scale is not None:
        if not (isinstance(scale, (list, tuple)) and len(scale) == 2
                and all(isinstance(x, (int, float)) for x in scale) and scale[0] < scale[1]):
            raise ConfigError(f"{where}: 'scale' must be [low, high] with low < high, got {scale!r}.")
        scale = (float(scale[0]), float(scale[1]))
    direction = raw.get("direction", "higher_is_better")
    if direction not in DIRECTIONS:
        raise ConfigError(f"{where}: " + one_of("direction", direction, DIRECTIONS))
    if instrument in ("nps", "csat", "ces") and scale is None:
        raise ConfigError(f"{where}: instrument '{instrument}' needs 'scale: [low, high]'.")
    redact = raw.get("redact_text", True)
    if not isinstance(redact, bool):
        raise ConfigError(f"{where}: 'redact_text' must be true or false, got {redact!r}.")
    return {"instrument": instrument, "scale": scale, "direction": direction, "redact_text": redact}


def _check_required(src: Source, where: str) -> None:
    given = set(src.columns) | set(src.constants) | set(src.maps)
    given |= {"customer_id"} if src.rules and src.rules.generated_id else set()   # `id: generated`
    missing = [f for f in REQUIRED[src.kind] if f not in given]
    if missing:
        raise ConfigError(f"{where}: a {src.kind} source must map {', '.join(missing)} "
                          f"(under 'columns:' or 'constants:').")
    if src.kind == "feedback" and src.instrument in ("nps", "csat", "ces") and "score" not in given:
        raise ConfigError(f"{where}: a {src.instrument} source must map 'score'.")
