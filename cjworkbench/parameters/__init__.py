"""One registry of every user-facing option, declared once (datasette's settings are the model).

- `NOTEBOOK_PARAMETERS` (`notebook.py`): the notebooks' parameters cells, with each option's
  widget label, allowed values or range, and whether a Voilà URL may set it.
- `CLI_FLAGS` and `CONFIG_KEYS` (`commands.py`): `cjw` flags per command, ingest config keys.

Widgets are made from these entries (`cjworkbench.controls.option`), Voilà URLs are parsed and
checked by `from_url`, old names are renamed by `upgrade`, and the README's "Parameters
reference" is `python -m cjworkbench.parameters --markdown`. tests/test_parameters.py fails when a
notebook, cli.py, config.py or the README drifts from this registry.
"""

from __future__ import annotations

import warnings
from urllib.parse import parse_qs

from .commands import CLI_FLAGS, CONFIG_KEYS
from .core import ECHO_CHARS, MAX_TEXT, Parameter, ParameterError, clip
from .notebook import NOTEBOOK_PARAMETERS

__all__ = ["CLI_FLAGS", "CONFIG_KEYS", "ECHO_CHARS", "MAX_TEXT", "NOTEBOOK_PARAMETERS", "Parameter",
           "ParameterError", "URL_PARAMETERS", "clip", "from_url", "notebook_parameter", "upgrade"]

URL_PARAMETERS = tuple(dict.fromkeys(p.name for p in NOTEBOOK_PARAMETERS if p.url))


def notebook_parameter(name: str, notebook: str | None = None) -> Parameter:
    """The declaration of parameter `name` as `notebook` uses it. Without `notebook`: the declaration for
    every notebook, else the one a URL may set; a name declared differently per notebook needs `notebook`."""
    found = [p for p in NOTEBOOK_PARAMETERS if p.name == name]
    if not found:
        raise ParameterError(f"No parameter '{clip(name)}' is declared in cjworkbench/parameters/notebook.py.")
    scoped = [p for p in found if notebook and p.notebooks and notebook in p.notebooks]
    general = [p for p in found if p.notebooks is None] or [p for p in found if p.url]  # e.g. the persona filter
    if scoped or general or len(found) == 1:
        return (scoped or general or found)[0]
    raise ParameterError(f"Parameter '{name}' is declared differently for "
                         f"{' and '.join(', '.join(p.notebooks) for p in found)}; pass notebook=.")


def from_url(query: str, names=URL_PARAMETERS) -> tuple[dict[str, object], dict[str, str]]:
    """(values, problems) from a Voilà query string (`segment=Premium&renderer=svg`).

    Only `names` that a URL may set are read (never `db` or `k_min`); other keys are ignored. Each
    value is checked against its declaration: a bad one is left out of `values` and explained, once
    and with the value cut short, in `problems[name]`.
    """
    allowed = [n for n in names if n in URL_PARAMETERS]
    values, problems = {}, {}
    query = parse_qs(query or "", keep_blank_values=True)
    for name in allowed:
        if name not in query:
            continue
        try:
            values[name] = notebook_parameter(name).parse(query[name][-1])
        except ParameterError as exc:
            problems[name] = str(exc)
    return values, problems


def upgrade(parameters: dict, notebook: str | None = None) -> dict:
    """`parameters` with deprecated names (`funnel_steps`, `dropoff_step`, `as_of`) renamed, each with a
    DeprecationWarning; a new name given as well wins. For callers of papermill (`cjw report`)."""
    out = dict(parameters)
    for p in NOTEBOOK_PARAMETERS:
        if notebook and p.notebooks and notebook not in p.notebooks:
            continue
        for old in p.aliases:
            if old in out:
                value = out.pop(old)
                warnings.warn(f"Parameter '{old}' is now '{p.name}'; the old name goes in the next release.",
                              DeprecationWarning, stacklevel=2)
                out.setdefault(p.name, value)
    return out
