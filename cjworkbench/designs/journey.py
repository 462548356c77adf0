"""Designed journeys: the YAML a journey team writes, parsed into a checked `Design`.

Format (version 1, as `cjworkbench/demo/onboarding.yml`): `journey`, `starts_with` (the activity
that starts one instance per customer), `within` (time allowed from the start), `stages` in order,
each with `steps` in order; a step has `name`, `activity`, `alternatives`, `optional`, `max_gap`
(longest time since the previous step that was done). Durations are a whole number and m, h or d.
Optional keys: `unexpected` (activities that count as an unexpected step, or `any` for every
activity outside the design except those under `ignore`) and `personas` (per-persona variants:
persona name -> the keys that differ, e.g. other `stages` or `within`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from .reader import read_yaml

from ..errors import DesignError, WorkbenchError, did_you_mean  # noqa: F401  (re-exported)

DESIGN_KEYS = ("journey", "version", "title", "description", "starts_with", "within", "stages",
               "unexpected", "ignore", "personas")
VARIANT_KEYS = ("title", "description", "starts_with", "within", "stages", "unexpected", "ignore")
STAGE_KEYS = ("name", "steps")
STEP_KEYS = ("name", "activity", "alternatives", "optional", "max_gap")
UNITS = {"m": 60, "h": 3_600, "d": 86_400}


@dataclass(frozen=True)
class Step:
    """One designed step: satisfied by an event with `activity` or one of its `alternatives`."""

    name: str
    activity: str
    stage: str
    alternatives: tuple[str, ...] = ()
    optional: bool = False
    max_gap_seconds: float | None = None

    @property
    def activities(self) -> tuple[str, ...]:
        return (self.activity, *self.alternatives)


@dataclass(frozen=True)
class Design:
    """A checked designed journey. The last required step is its goal (reaching it = completion)."""

    journey: str
    starts_with: str
    steps: tuple[Step, ...]
    within_seconds: float | None = None
    title: str = ""
    description: str = ""
    unexpected: tuple[str, ...] | str = ()
    ignore: tuple[str, ...] = ()
    variants: dict[str, "Design"] = field(default_factory=dict)

    @property
    def required(self) -> tuple[int, ...]:
        """Indexes of the non-optional steps, in design order."""
        return tuple(i for i, s in enumerate(self.steps) if not s.optional)

    @property
    def goal(self) -> int:
        return self.required[-1]

    @property
    def activities(self) -> tuple[str, ...]:
        return tuple(a for s in self.steps for a in s.activities)

    def for_persona(self, persona: str) -> "Design":
        return self.variants.get(persona, self)


def duration_seconds(value, what: str) -> float | None:
    """'2d' -> 172800.0; None stays None."""
    if value is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", str(value))
    if not m:
        raise DesignError(f"{what} must be a duration like 30m, 12h or 2d (a whole number and m, h or d), "
                          f"got '{value}'.")
    return float(int(m.group(1)) * UNITS[m.group(2)])


def load_design(design) -> Design:
    """A `Design` from a YAML path, a YAML mapping already loaded, or a `Design` (returned as is)."""
    if isinstance(design, Design):
        return design
    design = read_yaml(design, error=DesignError, what="Designed journey file", example="designed/onboarding.yml")
    if not isinstance(design, dict):
        raise DesignError(f"A designed journey must be a YAML mapping with {', '.join(DESIGN_KEYS[:7])}; "
                          f"got {type(design).__name__}.")
    return _design(design)


def _design(doc: dict, where: str = "design", keys=DESIGN_KEYS) -> Design:
    _keys(doc, keys, where)
    for key in ("journey", "starts_with", "stages"):
        if not doc.get(key):
            raise DesignError(f"{where} needs '{key}' (see the format in cjworkbench/demo/onboarding.yml).")
    steps = tuple(_steps(doc["stages"], where))
    if all(s.optional for s in steps):
        raise DesignError(f"{where}: every step is optional; mark at least the last step (the goal) as required.")
    owner: dict[str, str] = {}
    for s in steps:
        for a in s.activities:
            if a in owner:
                raise DesignError(f"{where}: activity '{a}' satisfies both '{owner[a]}' and '{s.name}'; "
                                  "an activity may belong to one step only.")
            owner[a] = s.name
    d = Design(journey=str(doc["journey"]), starts_with=str(doc["starts_with"]), steps=steps,
               within_seconds=duration_seconds(doc.get("within"), f"{where}: within"),
               title=str(doc.get("title") or ""), description=str(doc.get("description") or "").strip(),
               unexpected=_unexpected(doc.get("unexpected"), where), ignore=_names(doc.get("ignore"), "ignore", where))
    return replace(d, variants=_variants(doc.get("personas"), doc, where))


def _variants(personas, doc: dict, where: str) -> dict[str, Design]:
    if personas is None:
        return {}
    if not isinstance(personas, dict):
        raise DesignError(f"{where}: personas must map a persona name to the keys that differ, e.g. "
                          "{traditional: {within: 45d}}.")
    out = {}
    for name, override in personas.items():
        if not isinstance(override, dict):
            raise DesignError(f"{where}: personas.{name} must be a mapping of keys such as stages or within.")
        _keys(override, VARIANT_KEYS, f"{where}: personas.{name}")
        merged = {k: v for k, v in doc.items() if k != "personas"} | override
        out[str(name)] = _design(merged, f"{where} (persona {name})")
    return out


def _steps(stages, where: str):
    if not isinstance(stages, list):
        raise DesignError(f"{where}: stages must be a list of {{name, steps}}.")
    for i, stage in enumerate(stages, 1):
        if not isinstance(stage, dict) or not stage.get("name") or not isinstance(stage.get("steps"), list) \
                or not stage["steps"]:
            raise DesignError(f"{where}: stage {i} needs a name and a non-empty list of steps.")
        _keys(stage, STAGE_KEYS, f"{where}: stage '{stage['name']}'")
        for j, step in enumerate(stage["steps"], 1):
            yield _step(step, str(stage["name"]), f"{where}: stage '{stage['name']}' step {j}")


def _step(step, stage: str, where: str) -> Step:
    if not isinstance(step, dict) or not step.get("name") or not step.get("activity"):
        raise DesignError(f"{where} needs a name and an activity (events.activity).")
    where = f"{where} ('{step['name']}')"
    _keys(step, STEP_KEYS, where)
    optional = step.get("optional", False)
    if not isinstance(optional, bool):
        raise DesignError(f"{where}: optional must be true or false, got {optional!r}.")
    return Step(name=str(step["name"]), activity=str(step["activity"]), stage=stage,
                alternatives=_names(step.get("alternatives"), "alternatives", where), optional=optional,
                max_gap_seconds=duration_seconds(step.get("max_gap"), f"{where}: max_gap"))


def _names(value, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise DesignError(f"{where}: {key} must be a list of activities, got {value!r}.")
    return tuple(str(v) for v in value)


def _unexpected(value, where: str) -> tuple[str, ...] | str:
    if value == "any":
        return "any"
    return _names(value, "unexpected (a list of activities, or 'any')", where)


def _keys(doc: dict, allowed, where: str) -> None:
    for key in doc:
        if key not in allowed:
            raise DesignError(f"Unknown key '{key}' in {where}. Expected one of: {', '.join(allowed)}."
                              + did_you_mean(str(key), list(allowed)))
