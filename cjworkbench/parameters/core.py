"""What one user-facing option is (`Parameter`), how a value is checked, and how text becomes a value.

A value arriving as text (a Voilà URL, a CLI argument) is `parse`d; any value is `check`ed against
the option's type, allowed values, range or pattern. Errors name the option, the offending value
(cut to `ECHO_CHARS` characters: a URL can carry 10,000) and what is allowed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from ..errors import ParameterError, WorkbenchError, one_of  # noqa: F401  (re-exported)

ECHO_CHARS = 80  # at most this much of a bad value is repeated in a message
MAX_TEXT = 1000  # longer text for any option is refused before it is parsed


def clip(value: object, n: int = ECHO_CHARS) -> str:
    """`value` as text, cut to `n` characters (with '…') so a message never echoes a huge value."""
    text = str(value)
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class Parameter:
    """One user-facing option, declared once.

    `type` is str, int, float, bool, list (of strings; text is split at commas) or "date" (an ISO date
    as text, "" for none). `choices` are the allowed values (a widget's options); `low`/`high` bound a
    number (a slider's range); `pattern` is a regular expression the text must match. `label` is the
    widget's description; `url=True` lets a Voilà URL set it. `notebooks` names the notebooks whose
    parameters cell holds it (None: every notebook; () for CLI flags and config keys); the same name may
    be declared again for other notebooks when its meaning differs there. `aliases` are deprecated
    names still accepted for one release.
    """

    name: str
    type: object
    default: object
    help: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    pattern: str = ""
    label: str = ""
    url: bool = False
    notebooks: tuple[str, ...] | None = ()
    aliases: tuple[str, ...] = ()
    required: bool = False
    extra: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def parse(self, text: str) -> object:
        """The value `text` (from a URL or a command line) stands for, checked."""
        if len(str(text)) > MAX_TEXT:
            raise ParameterError(f"{self.name} is too long ({len(str(text)):,} characters); give at most "
                                 f"{MAX_TEXT:,}.")
        text = str(text).strip()
        try:
            if self.type is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value = text.lower() in ("true", "1", "yes")
            elif self.type in (int, float):
                value = self.type(text)
            elif self.type is list:
                value = [s.strip() for s in text.split(",") if s.strip()]
            else:
                value = text
        except ValueError:
            raise ParameterError(f"{self.name} must be {_article(self.type)}, got '{clip(text)}'.") from None
        return self.check(value)

    def check(self, value: object) -> object:
        """`value` itself when this option allows it, else a ParameterError saying what is allowed."""
        if self.type == "date":
            if value not in ("", None) and not isinstance(value, dt.date):
                try:
                    dt.date.fromisoformat(str(value))
                except ValueError:
                    raise ParameterError(f"{self.name} must be a date like 2026-01-31, got '{clip(value)}'.") from None
            return value
        if self.type is list and isinstance(value, (list, tuple)):
            bad = [v for v in value if self.choices and v not in self.choices]
            if bad:
                raise ParameterError(one_of(self.name, clip(bad[0]), self.choices))
            return value
        if self.type in (int, float) and isinstance(value, bool) or not _is(value, self.type):
            raise ParameterError(f"{self.name} must be {_article(self.type)}, got '{clip(value)}'.")
        if self.choices and value not in self.choices:
            raise ParameterError(one_of(self.name, clip(value), self.choices))
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ParameterError(f"{self.name} must be {self.allowed}, got {clip(value)}.")
        if self.pattern and value not in ("", None) and not re.fullmatch(self.pattern, str(value)):
            raise ParameterError(f"{self.name} '{clip(value)}' is not allowed: {self.help}")
        return value

    @property
    def allowed(self) -> str:
        """The allowed values in words ('' when the help says it all)."""
        if self.choices:
            return ", ".join(repr(c) if c in ("", None) else str(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            return f"{_num(self.low)} to {_num(self.high)}"
        if self.low is not None:
            return f"{_num(self.low)} or more"
        return "a date like 2026-01-31, or empty" if self.type == "date" else ""


def _is(value: object, kind: object) -> bool:
    if kind is float:
        return isinstance(value, (int, float))
    if kind is list:
        return isinstance(value, (list, tuple, str))
    if kind is str:
        return isinstance(value, str)
    return isinstance(value, kind) if isinstance(kind, type) else True


def _article(kind: object) -> str:
    return {int: "a whole number", float: "a number", bool: "true or false", list: "a comma-separated list",
            "date": "a date like 2026-01-31"}.get(kind, "text")


def _num(x) -> str:
    return "any" if x is None else f"{x:g}"
