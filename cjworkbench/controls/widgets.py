"""Widgets made from the parameter registry, and the error handling every callback runs through.

A notebook makes a view's option with `option(name, value)`: the registry entry of `name` gives the
widget's label and its options (a dropdown) or range (a slider), a list becomes comma-separated
text. `choice()`, `number()` and `steps()` make the same controls from explicit options. With
`interactive=False` no widget is made; the value is checked and used as it is.

Every callback runs through `safe()`: a `WorkbenchError` shows as its message, anything else as
GENERIC_MESSAGE; the traceback goes to the server's log (the process's stderr), never the page.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import ipywidgets as w

from ..errors import ControlError, WorkbenchError, one_of  # noqa: F401  (re-exported)
from ..parameters import clip, notebook_parameter

GENERIC_MESSAGE = "Something went wrong; the analyst can see the log."
STYLE = {"description_width": "initial"}

log = logging.getLogger("cjworkbench.dashboards")
_log_ready = False


def server_log() -> logging.Logger:
    """The dashboards' log, writing to the server's stderr (set up on first use, not at import: the
    kernel's sys.stderr is the page, sys.__stderr__ is the server's log)."""
    global _log_ready
    if not _log_ready:
        _log_ready = True
        handler = logging.StreamHandler(sys.__stderr__)
        handler.setFormatter(logging.Formatter("%(asctime)s cjworkbench dashboard: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    return log


def message_for(exc: BaseException) -> str:
    """What a stakeholder sees: a WorkbenchError's own message, else a sentence with no details."""
    return str(exc) if isinstance(exc, WorkbenchError) else GENERIC_MESSAGE


def safe(fn, *, on_error):
    """`fn` wrapped so no exception escapes: `on_error(message)` shows it, the log keeps the rest."""
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001  every failure ends as a message, never a traceback
            if not isinstance(exc, WorkbenchError):
                server_log().error("callback %s failed", getattr(fn, "__qualname__", fn), exc_info=True)
            on_error(message_for(exc))
    return call


@dataclass(eq=False)
class Control:
    """A view option that becomes a widget: `kind` dropdown | number | steps. One control passed to
    several views is one widget, shown with the first view and driving all of them."""

    kind: str
    value: object
    options: tuple = ()
    description: str = ""
    low: float = 0
    high: float = 100
    widget: object = None
    names: tuple = ()   # steps: (raw name, display name) pairs, so the text reads in words


def named_options(values, labels) -> list[tuple[str, object]]:
    """(label, value) pairs: each value's display name (`formats.display_name` with the `labels:` design),
    a name two values share told apart by the raw name; never blank (a missing name reads as '–')."""
    from .. import formats

    pairs = [(formats.display_name(v, labels) if isinstance(v, str) else str(v), v) for v in values]
    seen = [label for label, _ in pairs]
    return [((f"{label} ({v})" if seen.count(label) > 1 else label) or str(v), v) for label, v in pairs]


def choice(value, options, *, description: str = "") -> Control:
    """A dropdown over `options` (values, or a {label: value} mapping) starting at `value` ('' or None:
    the first option); an unknown value is reported when the view draws (reports fail, dashboards
    fall back to the first option)."""
    options = tuple(options.items()) if isinstance(options, dict) else tuple((str(o), o) for o in options)
    values = [v for _, v in options]
    return Control("dropdown", values[0] if value in ("", None) and values else value, options, description)


def number(value: int, *, low: int, high: int, description: str = "") -> Control:
    """A whole-number slider from `low` to `high`."""
    return Control("number", int(value), (), description, low, high)


def steps(value, *, description: str = "steps", names=None, labels=None) -> Control:
    """An ordered list of activities, edited as comma-separated text. With `names` (the activities the
    data holds) and `labels` (the `labels:` design; {}: none), the text shows display names and reads
    back either a display name (any case) or a raw name."""
    items = [s.strip() for s in (value.split(",") if isinstance(value, str) else value) if str(s).strip()]
    pairs = tuple((raw, label) for label, raw in named_options(list(dict.fromkeys([*items, *(names or ())])), labels)) \
        if labels is not None else ()
    return Control("steps", tuple(items), (), description, names=pairs)


def option(name: str, value, *, options=None, notebook: str | None = None, labels=None) -> Control:
    """The control of notebook parameter `name` as the registry declares it: its label, and its allowed
    values (or `options`, e.g. the activities in the database) as a dropdown, its range as a slider, a
    list as comma-separated text. An empty choice ('') is offered as the entry's empty label, value None.
    With `labels` (the database's `labels:` design, {}: none) a dropdown of names (activities, channels,
    instruments) shows each by its display name while its value stays the raw name."""
    p = notebook_parameter(name, notebook)
    if p.type is list:
        return steps(value, description=p.label or name, names=options, labels=labels)
    if p.type is int and options is None and not p.choices:
        return number(value, low=int(p.low if p.low is not None else 0), high=int(p.high if p.high is not None
                                                                                  else 100),
                      description=p.label or name)
    allowed = list(p.choices if options is None else options)
    if labels is None and options is None and all(isinstance(v, str) for v in allowed):
        # the registry's own choices read as words too: "Time decay", "Markov", "Device"
        pairs = [(p.extra.get("empty", "(none)"), None) if v == "" else (label[:1].upper() + label[1:], v)
                 for label, v in named_options(allowed, {})]
        return choice(None if value == "" else value, dict(pairs), description=p.label or name)
    if labels is not None:
        pairs = [(p.extra.get("empty", "(none)"), None) if v == "" else (label, v)
                 for label, v in named_options(allowed, labels)]
        return choice(None if value == "" else value, dict(pairs), description=p.label or name)
    if "" in allowed:
        labelled = {(p.extra.get("empty", "(none)") if v == "" else str(v)): (None if v == "" else v) for v in allowed}
        return choice(None if value == "" else value, labelled, description=p.label or name)
    return choice(value, allowed, description=p.label or name)


def problem(c: Control) -> str:
    """Why the control's starting value cannot be used ('' when it can)."""
    if c.kind == "dropdown" and c.value not in [v for _, v in c.options]:   # named by what a parameter takes
        return one_of(c.description or "choice", clip(c.value), [v if isinstance(v, str) and v else label
                                                                 for label, v in c.options])
    return ""


def make_widget(c: Control):
    """The ipywidget showing control `c` (a bad starting value shows the first option)."""
    name = c.description
    if c.kind == "dropdown":
        labels = [label for label, _ in c.options]  # the widget holds labels: a None value would show blank
        value = labels[0] if problem(c) and labels else labels[[v for _, v in c.options].index(c.value)]
        return w.Dropdown(options=labels, value=value, description=name, style=STYLE)
    if c.kind == "number":
        return w.IntSlider(value=c.value, min=c.low, max=c.high, description=name, style=STYLE,
                           continuous_update=False)
    shown = dict(c.names)
    return w.Text(value=", ".join(shown.get(s, s) for s in c.value), description=name, style=STYLE,
                  continuous_update=False,
                  layout=w.Layout(width="100%", max_width="720px"))


def value_of(c: Control, widget):
    """The value the analyses get: the widget's, or (no widget) the control's checked starting value."""
    if widget is None:
        if problem(c):
            raise ControlError(problem(c))
        return c.value
    if c.kind == "steps":
        raw = {label.casefold(): name for name, label in c.names}   # a display name back to its raw name
        items = tuple(raw.get(s.strip().casefold(), s.strip()) for s in widget.value.split(",") if s.strip())
        if len(items) < 2:
            raise ControlError(f"Give at least two {c.description or 'steps'}, separated by commas "
                               f"(got '{clip(widget.value)}').")
        return items
    if c.kind == "dropdown":
        return dict(c.options)[widget.value]
    return widget.value
