"""A view's options when the notebook leaves them empty: the database's designs first, else its data.

`data_option(panel, name, value)` is `option(name, value)` for the options that depend on what the
database holds: '' (or []) takes the stored design, else what the data shows
(`designs.defaults`): the funnel's steps, window and unit, the goal, the anchor activity, the feedback
instrument, the persona and the driver outcomes. Dropdowns offer the values in the database (its
activities, its instruments), each shown by its display name (`labels`), its value the raw name.
A database without the input gives the registry's default or nothing: the view that needs it says
what is missing (`needs`) instead of failing here, so a notebook's option cell never raises.
"""

from __future__ import annotations

from ..cache import remember
from ..errors import DesignMissingError, WorkbenchError
from ..parameters import notebook_parameter
from .needs import MEMO
from .widgets import Control, option

INSTRUMENT_OPTIONS = ("instrument",)
ACTIVITY_OPTIONS = ("outcome_activity", "conversion", "anchor", "start")


def _funnel(panel) -> tuple[str, list[str], str | None]:
    """(name, steps, window) of the database's default funnel; ('funnel', [], None) when it has none."""
    from ..designs.defaults import default_funnel

    def build():
        try:
            return default_funnel(panel.con)
        except DesignMissingError:
            return "funnel", [], None

    return ("funnel", [], None) if panel.con is None else remember(panel, "object", ("choices", "funnel"), build,
                                                                  size=MEMO)


def _goal(panel) -> str:
    from ..designs.defaults import default_goal

    try:
        return default_goal(panel.con) if panel.con is not None else ""
    except DesignMissingError:
        return ""


def _unit(window) -> str:
    """A funnel's unit when none is given: a visit (session) when its window fits in a day (a web checkout),
    else the whole journey (a case or order that takes weeks)."""
    from ..analysis.journeys.funnel_spec import parse_window

    seconds = parse_window(window) if window else None
    return "session" if seconds is not None and seconds <= 86_400 else "journey"


def _present(panel) -> list[str]:
    from ..designs.defaults import instruments_present

    return instruments_present(panel.con) if panel.con is not None else []


def labels(panel) -> dict:
    """The database's display names (`labels:` design; {} without one or without a database): what a
    dropdown of activities, channels or instruments shows, its values staying the raw names."""
    from ..analysis.headline import labels_of

    return labels_of(panel.con) if panel.con is not None else {}


def _activity(panel, name: str, value: str, notebook: str | None) -> Control:
    default = {"outcome_activity": _goal, "conversion": _goal,
               "anchor": lambda p: (_funnel(p)[1] or [""])[0]}.get(name, lambda p: "")(panel)
    activities = panel.values("events", "activity")
    p = notebook_parameter(name, notebook)
    if "" in p.choices or p.extra.get("empty"):   # '' stays a choice of its own ("(first event)")
        activities = ["", *activities]
    chosen = value or default
    return option(name, chosen, options=activities or [chosen], notebook=notebook, labels=labels(panel))


def _baselines(value: str, period: str) -> str:
    """The baselines of `value` ('previous, six_months') that fit `period` (six months back overlaps a year)."""
    from ..periods import period_window

    fit = []
    for b in (x.strip() for x in str(value).split(",") if x.strip()):
        try:
            period_window(period, "2000-06-30", b)
        except WorkbenchError:
            continue
        fit.append(b)
    return ", ".join(fit) or "previous"


def data_option(panel, name: str, value, *, notebook: str | None = None, steps=None, window=None, period=None):
    """The option `name` of a view with '' read from the designs, else the data (see the module doc).

    Returns a `Control` (a widget in a dashboard) for steps, at_step (at most the number of `steps`),
    activities, instruments and personas; the plain value for window (None: no limit), unit (session for
    a `window` up to a day, else journey), funnels ({name: steps}), baseline (those that fit `period`)
    and drivers (the outcomes with answers). Designs themselves (journey, themes, rules) are
    `designed(kind, name)`."""
    if name == "steps":
        activities = panel.values("events", "activity")
        return option("steps", value or _funnel(panel)[1], options=activities, notebook=notebook, labels=labels(panel))
    if name == "funnels":
        funnel_name, default, _ = _funnel(panel)
        chosen = [s.strip() for s in value.split(",")] if isinstance(value, str) and value else list(value or default)
        return {funnel_name if not value else "funnel": chosen} if len(chosen) >= 2 else {}
    if name == "window":
        return value or _funnel(panel)[2]
    if name == "unit":
        return value or _unit(window)
    if name == "baseline":
        return _baselines(value, period)
    if name == "at_step":
        n = len(steps.value) if isinstance(steps, Control) else len(steps or ()) or int(value)
        return option("at_step", max(2, min(int(value), n)), notebook=notebook)
    if name in ACTIVITY_OPTIONS:
        return _activity(panel, name, value, notebook)
    if name in INSTRUMENT_OPTIONS:
        present = _present(panel) or list(notebook_parameter(name, notebook).choices)
        return option(name, value or present[0], options=present, notebook=notebook, labels=labels(panel))
    if name == "drivers":
        present = _present(panel)
        return [d for d in value if d in present]
    if name == "persona":
        names = panel.persona_names() if panel.con is not None else []
        return option(name, value or (names or [""])[0], options=names or [value or ""], notebook=notebook)
    raise WorkbenchError(f"data_option does not know '{name}'; use option() for options the data does not set.")


__all__ = ["data_option"]
