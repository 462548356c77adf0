"""Exceptions a user can act on. Each also inherits the matching builtin."""

from __future__ import annotations

import difflib


class WorkbenchError(Exception):
    """Base class: the message says what failed and how to fix it."""


class ConfigError(WorkbenchError, ValueError):
    """The ingest config is invalid."""


class InputFileError(WorkbenchError, OSError):
    """An export file is missing, empty, unreadable or in an unknown format."""


class MissingColumnsError(WorkbenchError, ValueError):
    """A mapped export column is absent (a bad value in the config, not a missing dict key)."""


class RejectedRowsError(WorkbenchError, ValueError):
    """Rows were rejected while --strict forbids it."""


class DatabaseError(WorkbenchError, RuntimeError):
    """The DuckDB file is missing, locked or does not follow the data contract."""


class FilterError(WorkbenchError, ValueError):
    """A filter, unit or option value is not allowed."""


def did_you_mean(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """' Did you mean 'x'?' when a close match exists, else ''."""
    low = value.lower()
    close = [c for c in choices if c.lower() == low]
    close = close or difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    close = close or sorted((c for c in choices if low and (low in c.lower() or c.lower() in low)
                             and min(len(low), len(c)) >= 3), key=len)
    close = close or difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def one_of(what: str, value: object, choices) -> str:
    """"Unknown channel 'emial'. Expected one of: a, b. Did you mean 'email'?"."""
    choices = list(choices)
    return (f"Unknown {what} '{value}'. Expected one of: {', '.join(map(str, choices))}."
            + did_you_mean(str(value), [str(c) for c in choices]))


class DesignError(WorkbenchError, ValueError):
    """A designed journey is invalid."""


class PersonaError(WorkbenchError, ValueError):
    """A persona definition is invalid."""


class DesignMissingError(WorkbenchError, LookupError):
    """The database carries no design of the kind asked for; the message names the config key that adds it."""


class PrivacyError(WorkbenchError, ValueError):
    """A privacy option does not fit the table (unknown column, k below 1)."""


class ParameterError(WorkbenchError, ValueError):
    """An option holds a value it does not allow."""


class RendererError(WorkbenchError, ValueError):
    """An unknown renderer was asked for."""


class DemoOptionError(WorkbenchError, ValueError):
    """An option of `generate` / `cjw demo-data` is out of range."""


class StatsError(WorkbenchError, ValueError):
    """An argument to a statistic is out of range."""


class KpiMapError(WorkbenchError, ValueError):
    """A KPI map is invalid."""


class ThemeError(WorkbenchError, ValueError):
    """A theme taxonomy or theme option is invalid."""


class DriverError(WorkbenchError, ValueError):
    """The driver model cannot be fitted as asked."""


class SentimentError(WorkbenchError, ValueError):
    """A sentiment request cannot be answered as asked."""


class ScoresError(WorkbenchError, ValueError):
    """A score request cannot be answered as asked."""


class ChartError(WorkbenchError, ValueError):
    """A chart was given a table it cannot draw (wrong analysis, missing columns, bad option)."""


class HeadlineError(WorkbenchError, ValueError):
    """An unknown page of a headline, or a database with nothing to put in one."""


class ControlError(WorkbenchError, ValueError):
    """A control holds a value the analyses cannot use."""


class EmptyScopeError(FilterError):
    """The filters (or an option) leave nothing to analyse: one sentence instead of a table of zeros."""


def unknown(what: str, value: object, known, *, shown: int = 20) -> str:
    """"Unknown activity 'chekout'. Did you mean 'checkout'? The data has 41: a, b, … ." for a value
    the data does not hold (the nearest real one first; long lists cut after `shown`)."""
    known = [str(k) for k in known]
    listed = ", ".join(known[:shown]) + (", …" if len(known) > shown else "")
    return (f"Unknown {what} '{value}'." + did_you_mean(str(value), known)
            + (f" The data has {len(known)}: {listed}." if known else " The data has none."))
