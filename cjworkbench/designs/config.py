"""The ingest config's `designs:` block and `languages:`: what the business intends, checked and
made ready to be stored in the database beside the data (`designs.store`).

Kinds (`designs:` keys): `journeys` and `funnels` map a name to a design; `personas`, `kpi_map`,
`themes` and `actions` are one design (a path, named after the file, or an inline mapping, named
after the kind) or a mapping of name -> design; `roles`, `targets`, `goal`, `instruments` and
`labels` (raw name -> display name) are one design each, named after the kind. Every value may be a path relative to the config (read
with `reader.read_yaml`) or written inline; `goal` is an activity name. The activities a design
names are checked against the loaded events at ingest (`check_activities`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..contract import FIELDS, INSTRUMENTS
from ..errors import ConfigError, DesignError, PersonaError, did_you_mean, one_of
from ..parameters.notebook import DURATION
from .journey import load_design
from .personas import load_personas
from .reader import read_yaml

DESIGN_KINDS = ("journeys", "personas", "kpi_map", "themes", "actions", "roles", "targets", "funnels", "goal",
                "instruments", "labels")
NAMED = ("journeys", "funnels")                       # always name -> design
DOCUMENTS = {"personas": "personas", "kpi_map": "touchpoints", "themes": "themes", "actions": "rules"}  # inline marker
SINGLE = ("roles", "targets", "goal", "instruments", "labels")  # one design, named after its kind
FUNNEL_KEYS = ("steps", "window", "title", "description")
INSTRUMENT_KEYS = ("meaning", "question")
STEP_COLUMNS = tuple(c for c in FIELDS["events"] if c not in ("event_ts", "amount"))
ISO_639_1 = tuple(("aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy "
                   "da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu "
                   "hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb "
                   "lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om "
                   "or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw "
                   "ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu").split())


@dataclass(frozen=True)
class StoredDesign:
    """One design as it is stored: kind, name and body (plain YAML data, kept as JSON text)."""

    kind: str
    name: str
    body: object

    @property
    def text(self) -> str:
        return json.dumps(self.body, ensure_ascii=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Designs:
    """Every design of a config, with the business time zone and the languages of its texts."""

    items: tuple[StoredDesign, ...] = ()
    timezone: str = "UTC"
    languages: tuple[str, ...] = ("en",)


def parse_designs(raw, languages, base: Path, timezone: str = "UTC") -> Designs:
    """The `designs:` block and `languages:` of a config whose folder is `base` (paths are relative to it)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"'designs' must be a mapping of kind to design ({', '.join(DESIGN_KINDS)}), "
                          f"got {type(raw).__name__}.")
    items = []
    for kind, value in raw.items():
        if kind not in DESIGN_KINDS:
            raise ConfigError("designs: " + one_of("design kind", kind, DESIGN_KINDS))
        if value is not None:
            items += [StoredDesign(kind, name, _checked(kind, name, body)) for name, body in _named(kind, value, base)]
    return Designs(tuple(items), timezone, parse_languages(languages))


def read_designs(config_path) -> tuple[Designs, float]:
    """Only the designs, `timezone:` and `languages:` of a config (sources are not read), and its
    `limits.lock_wait_seconds`: what `cjw designs` replaces in a database."""
    from ..config import _timezone, parse_limits   # config builds on this module: imported on use

    path = Path(config_path)
    if not path.is_file():
        raise ConfigError(f"Config file '{path}' does not exist.")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config '{path}' is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"Config '{path}' must be a mapping (with 'sources', 'designs', ...).")
    zone = _timezone(doc.get("timezone", "UTC"), "config")
    designs = parse_designs(doc.get("designs"), doc.get("languages"), path.resolve().parent, zone)
    return designs, parse_limits(doc.get("limits")).lock_wait_seconds


def parse_languages(value) -> tuple[str, ...]:
    """`languages:` as ISO 639-1 codes (default: en)."""
    if value is None:
        return ("en",)
    codes = [value] if isinstance(value, str) else value
    if not isinstance(codes, list) or not codes:
        raise ConfigError(f"'languages' must be a list of ISO 639-1 codes such as [en, nl], got {value!r}.")
    out = []
    for code in codes:
        if str(code).lower() not in ISO_639_1:
            raise ConfigError(f"languages: unknown ISO 639-1 code '{code}'. Use two-letter codes such as en, nl, "
                              f"pt, de." + did_you_mean(str(code).lower()[:2], ISO_639_1))
        out.append(str(code).lower())
    return tuple(dict.fromkeys(out))


def _named(kind: str, value, base: Path):
    """(name, body) pairs of one `designs:` entry."""
    if kind == "goal":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"designs: goal must be an activity name, e.g. goal: checkout_confirmed; got {value!r}.")
        return [("goal", value)]
    if kind in SINGLE:
        return [(kind, _read(kind, kind, value, base))]
    if kind in DOCUMENTS:
        if isinstance(value, str):
            return [(Path(value).stem, _read(kind, Path(value).stem, value, base))]
        if isinstance(value, list) or (isinstance(value, dict) and DOCUMENTS[kind] in value):
            return [(kind, value)]
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"designs: {kind} must map a name to a design (a path relative to the config, or the "
                          f"design written inline), e.g. {kind}: {{main: designed/{kind}.yml}}; got {value!r}.")
    for name, body in value.items():
        if kind in DOCUMENTS and not isinstance(body, (str, list)) and DOCUMENTS[kind] not in (body or {}):
            raise ConfigError(f"designs: {kind}: '{name}' is neither a path nor a {kind} design. Written inline, "
                              f"a design needs its '{DOCUMENTS[kind]}:' key, e.g. {kind}: {{{DOCUMENTS[kind]}: ...}}.")
    return [(str(name), _read(kind, str(name), body, base)) for name, body in value.items()]


def _read(kind: str, name: str, value, base: Path):
    if isinstance(value, str):
        if not value.lower().endswith((".yml", ".yaml", ".json")):
            raise ConfigError(f"designs: {kind} '{name}': '{value}' is neither a design nor the path of a YAML file "
                              f"(relative to the config).")
        value = read_yaml(base / value, error=ConfigError, what=f"designs: {kind} '{name}': file",
                          example=f"designed/{kind}.yml")
    if value is None:
        raise ConfigError(f"designs: {kind} '{name}' is empty.")
    try:
        if json.loads(json.dumps(value)) != value:
            raise TypeError("keys that are not text")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"designs: {kind} '{name}' holds a value that cannot be stored ({exc}); write numbers, "
                          f"text, lists and mappings with text keys only (quote dates: \"2026-01-01\").") from None
    return value


def _checked(kind: str, name: str, body):
    """The body, after the checks that need no data (journeys and personas fully; the rest by shape)."""
    where = f"designs: {kind} '{name}'"
    try:
        if kind == "journeys":
            load_design(body)
        elif kind == "personas":
            load_personas(body)
    except (DesignError, PersonaError) as exc:
        raise DesignError(f"{where}: {exc}") from None
    if kind == "funnels":
        _check_funnel(body, where)
    elif kind == "instruments":
        _check_instruments(body, where)
    elif kind in ("roles", "targets", "kpi_map") and not isinstance(body, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(body).__name__}.")
    elif kind == "labels" and (not isinstance(body, dict) or not all(isinstance(v, str) and v.strip()
                                                                     for v in body.values())):
        raise ConfigError(f"{where} must map raw names to display names, e.g. labels: {{order_shipped: Order "
                          f"shipped, used_contact_centre: Called us}}; got {body!r}.")
    elif kind == "targets":
        bad = {k: v for k, v in body.items() if isinstance(v, bool) or not isinstance(v, (int, float))}
        if bad:
            raise ConfigError(f"{where}: targets must be numbers (shares as fractions, e.g. 0.25), got {bad}.")
    elif kind == "kpi_map" and not isinstance(body.get("touchpoints"), list):
        raise ConfigError(f"{where} needs a list under 'touchpoints' (see the demo's designed/kpi_map.yml).")
    elif kind == "themes" and not isinstance(body, (dict, list)):
        raise ConfigError(f"{where} must be a mapping with 'themes:' (see the demo's designed/themes.yml).")
    elif kind == "actions" and not isinstance(body.get("rules") if isinstance(body, dict) else body, list):
        raise ConfigError(f"{where} must hold a list of rules under 'rules:' (see the demo's designed/actions.yml).")
    return body


def _check_funnel(body, where: str) -> None:
    if not isinstance(body, dict):
        raise ConfigError(f"{where} must be a mapping {{steps: [...], window: 2h}}, got {body!r}.")
    for key in body:
        if key not in FUNNEL_KEYS:
            raise ConfigError(f"{where}: " + one_of("key", key, FUNNEL_KEYS))
    steps = body.get("steps")
    if not isinstance(steps, list) or len(steps) < 2:
        raise ConfigError(f"{where} needs 'steps': a list of at least two activities, got {steps!r}.")
    for step in steps:
        if isinstance(step, dict):
            for col in step:
                if col not in STEP_COLUMNS:
                    raise ConfigError(f"{where}: a step's " + one_of("event column", col, STEP_COLUMNS))
        elif not isinstance(step, str):
            raise ConfigError(f"{where}: a step is an activity or a mapping of event columns, got {step!r}.")
    window = body.get("window")
    if window not in (None, "") and not (isinstance(window, (int, float)) and not isinstance(window, bool)
                                         and window > 0) and not re.fullmatch(DURATION, str(window)):
        raise ConfigError(f"{where}: window must be a duration like 30min, 2h or 7d (or seconds), got {window!r}.")


def _check_instruments(body, where: str) -> None:
    if not isinstance(body, dict) or not body:
        raise ConfigError(f"{where} must map an instrument to {{meaning, question}}, got {body!r}.")
    for instrument, spec in body.items():
        if instrument not in INSTRUMENTS:
            raise ConfigError(f"{where}: " + one_of("instrument", instrument, INSTRUMENTS))
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: {instrument} must be a mapping {{meaning: ..., question: ...}}, got {spec!r}.")
        for key, text in spec.items():
            if key not in INSTRUMENT_KEYS:
                raise ConfigError(f"{where}: {instrument}: " + one_of("key", key, INSTRUMENT_KEYS))
            if not isinstance(text, str):
                raise ConfigError(f"{where}: {instrument}.{key} must be text, got {text!r}.")


def named_activities(item: StoredDesign) -> list[str]:
    """The activities a design names (they must occur in the events)."""
    kind, body = item.kind, item.body
    if kind == "goal":
        return [body]
    if kind == "journeys":
        d = load_design(body)
        out = [d.starts_with, *d.activities, *d.ignore, *([] if d.unexpected == "any" else d.unexpected)]
        for v in d.variants.values():
            out += [v.starts_with, *v.activities]
        return _unique(out)
    if kind == "funnels":
        return _unique(a for s in body["steps"] for a in (_strs(s.get("activity")) if isinstance(s, dict) else [s]))
    if kind == "roles":
        return _unique(a for v in body.values() for a in (_strs(v.get("activity")) if isinstance(v, dict) else _strs(v)))
    if kind == "kpi_map":
        out = []
        for tp in body.get("touchpoints") or []:
            tp = tp if isinstance(tp, dict) else {}
            out += _strs((tp.get("match") or {}).get("activity"))
            for side in ("customer_kpis", "operational_kpis"):
                for spec in (tp.get(side) or {}).values():
                    if isinstance(spec, dict):
                        out += [a for k in ("activity", "closed", "resolved", "from", "to") for a in _strs(spec.get(k))]
        return _unique(out)
    if kind == "actions":
        rules = body.get("rules") if isinstance(body, dict) else body
        out = []
        for rule in (r for r in rules or [] if isinstance(r, dict)):
            trig = rule.get("trigger") if isinstance(rule.get("trigger"), dict) else {}
            out += _strs(trig.get("after")) + _strs(trig.get("activity")) + _strs(trig.get("ignore"))
            for part in ("action", "outcome"):
                out += _strs((rule.get(part) or {}).get("activity")) if isinstance(rule.get(part), dict) else []
        return _unique(out)
    return []


def check_activities(designs: Designs, activities) -> None:
    """Every activity a design names occurs in `activities` (the loaded events'); else a DesignError
    naming the design, the activity and the nearest real activities."""
    have = sorted(str(a) for a in activities)
    known = set(have)
    problems = [(item, a) for item in designs.items for a in named_activities(item) if a not in known]
    if not problems:
        return
    lines = []
    for item, activity in problems[:5]:
        near = difflib.get_close_matches(activity, have, n=3, cutoff=0.5)
        hint = did_you_mean(activity, have)
        near = near or ([hint.split("'")[1]] if hint else [])
        lines.append(f"designs: {item.kind} '{item.name}' names activity '{activity}', which no loaded event has"
                     + (f"; nearest: {', '.join(near)}." if near else f" ({len(have):,} activities are loaded)."))
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    raise DesignError(" ".join(lines) + more + " Fix the design in the ingest config (or the source's activity "
                      "mapping) and run the ingest again; the previous database is untouched.")


def _strs(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _unique(values) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values if v not in (None, "")))
