"""Rule-based personas over customer attributes, from YAML (`cjworkbench/demo/personas.yml`).

Rules are tried in order and the first that matches names the customer's persona; customers no
rule matches fall into the `other` bucket. A rule's `when` maps a field to a condition and all
of them must hold (AND). Fields: `segment`, else a key of `customers.attributes` (`birth_year`,
`income_band`, `region`, …). A condition is a value (equals), a list (any of) or a mapping of
operators `eq`, `ne`, `in`, `not_in`, `lt`, `le`, `gt`, `ge`; with a number the attribute is
compared as a number (values that are not numbers never match). A missing attribute never matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from .reader import read_yaml

from ..errors import PersonaError, WorkbenchError, did_you_mean  # noqa: F401  (re-exported)

OPERATORS = ("eq", "ne", "in", "not_in", "lt", "le", "gt", "ge")
PERSONA_KEYS = ("name", "description", "when")
FILE_KEYS = ("version", "title", "description", "personas", "other")
COLUMNS = ("segment",)  # customer columns a rule may test; every other field is an attribute key


@dataclass(frozen=True)
class Persona:
    name: str
    when: tuple[tuple[str, str, object], ...]  # (field, operator, value)
    description: str = ""


@dataclass(frozen=True)
class Personas:
    rules: tuple[Persona, ...]
    other: str = "other"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.rules) + (self.other,)

    def describe(self) -> list[str]:
        """The rules in words, for a result's definition."""
        return [f"{p.name}: " + (" and ".join(f"{f} {op} {v!r}" for f, op, v in p.when) or "everyone left")
                for p in self.rules] + [f"{self.other}: no rule matched"]


def load_personas(personas) -> Personas:
    """`Personas` from a YAML path, a loaded mapping, or `Personas` (returned as is)."""
    if isinstance(personas, Personas):
        return personas
    personas = read_yaml(personas, error=PersonaError, what="Personas file", example="personas.yml")
    if not isinstance(personas, dict) or not isinstance(personas.get("personas"), list) or not personas["personas"]:
        raise PersonaError("Personas must be a YAML mapping with a non-empty list under 'personas', each "
                           "{name, when}; see cjworkbench/demo/personas.yml.")
    _keys(personas, FILE_KEYS, "the personas file")
    rules = tuple(_persona(p, i) for i, p in enumerate(personas["personas"], 1))
    names = [p.name for p in rules] + [str(personas.get("other") or "other")]
    if len(set(names)) < len(names):
        raise PersonaError(f"Persona names must be unique (the other bucket included), got {names}.")
    return Personas(rules=rules, other=names[-1])


def _persona(doc, i: int) -> Persona:
    if not isinstance(doc, dict) or not doc.get("name"):
        raise PersonaError(f"Persona {i} needs a name (and a `when` mapping of conditions).")
    _keys(doc, PERSONA_KEYS, f"persona '{doc['name']}'")
    when = doc.get("when") or {}
    if not isinstance(when, dict):
        raise PersonaError(f"persona '{doc['name']}': when must map a field to a condition, e.g. "
                           "{birth_year: {lt: 1960}}.")
    conds = tuple(c for field_, cond in when.items() for c in _conditions(str(field_), cond, doc["name"]))
    return Persona(name=str(doc["name"]), when=conds, description=str(doc.get("description") or "").strip())


def _conditions(field_: str, cond, persona: str):
    if isinstance(cond, list):
        yield field_, "in", tuple(cond)
    elif isinstance(cond, dict):
        for op, value in cond.items():
            if op not in OPERATORS:
                raise PersonaError(f"Unknown operator '{op}' for {field_} in persona '{persona}'. Expected one of: "
                                   f"{', '.join(OPERATORS)}." + did_you_mean(str(op), OPERATORS))
            if op in ("in", "not_in"):
                value = tuple(value) if isinstance(value, list) else (value,)
            elif isinstance(value, (list, dict)):
                raise PersonaError(f"persona '{persona}': {field_} {op} needs a single value, got {value!r}.")
            yield field_, op, value
    else:
        yield field_, "eq", cond


def _keys(doc: dict, allowed, where: str) -> None:
    for key in doc:
        if key not in allowed:
            raise PersonaError(f"Unknown key '{key}' in {where}. Expected one of: {', '.join(allowed)}."
                               + did_you_mean(str(key), list(allowed)))


def _field(cust: ir.Table, name: str) -> ir.Value:
    return cust[name] if name in COLUMNS else cust.attributes[name]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _condition(cust: ir.Table, field_: str, op: str, value) -> ir.BooleanValue:
    col = _field(cust, field_)
    values = value if op in ("in", "not_in") else (value,)
    if all(_number(v) for v in values):
        col = col.try_cast("float64")
        values = tuple(float(v) for v in values)
    else:
        col = col.cast("string")
        values = tuple(str(v) for v in values)
    x = values[0]
    expr = {"eq": lambda: col == x, "ne": lambda: col != x, "lt": lambda: col < x, "le": lambda: col <= x,
            "gt": lambda: col > x, "ge": lambda: col >= x, "in": lambda: col.isin(list(values)),
            "not_in": lambda: ~col.isin(list(values))}[op]()
    return col.notnull() & expr.fill_null(False)


def persona_of(con, personas) -> ir.Table:
    """One row per customer: `customer_id`, `persona` (first matching rule, else the other bucket)."""
    p = load_personas(personas)
    cust = con.table("customers")
    cases = []
    for rule in p.rules:
        cond = ibis.literal(True)
        for field_, op, value in rule.when:
            cond = cond & _condition(cust, field_, op, value)
        cases.append((cond, rule.name))
    return cust.select("customer_id", persona=ibis.cases(*cases, else_=p.other))
