"""Report parameters: values for the notebooks' parameters cells, from the config's `report:` block
and `cjw report --param name=value`, checked against the parameter registry (or, for a notebook's own
parameter, against its default's type) and handed to each notebook only if its parameters cell
declares the name, so papermill never warns of an unknown parameter."""

from __future__ import annotations

import ast
from pathlib import Path

from ..errors import did_you_mean
from ..parameters import NOTEBOOK_PARAMETERS, ParameterError, clip
from ..parameters.core import Parameter
from .pages import ReportError

# set by `cjw report` itself from --db, --period and --as-of: never a --param
RUN = ("db", "period", "as_of", "start_date", "end_date", "interactive", "renderer")


def declared(nb_file: Path) -> dict[str, object]:
    """The names in a notebook's `parameters` cell with their default values (None when not a literal)."""
    import jupytext

    nb = jupytext.read(nb_file)
    found = {}
    for cell in nb.cells:
        if "parameters" not in cell.metadata.get("tags", []):
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        try:
                            found[target.id] = ast.literal_eval(node.value)
                        except ValueError:
                            found[target.id] = None
    return found


def from_command_line(items) -> dict[str, str]:
    """`["k_min=20", "steps=a,b"]` as {name: text}; a malformed item is a ReportError."""
    out = {}
    for item in items or ():
        name, sep, text = str(item).partition("=")
        if not sep or not name.strip():
            raise ReportError(f"--param takes name=value (e.g. --param k_min=20), got '{clip(item)}'.")
        out[name.strip()] = text
    return out


def from_config(path) -> dict[str, object]:
    """The `report: parameters:` mapping of an ingest config ({} when it has none)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ReportError(f"Config file '{path}' does not exist.")
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    block = doc.get("report") or {}
    if not isinstance(block, dict) or set(block) - {"parameters"}:
        raise ReportError(f"{path}: 'report' must be a mapping with one key, 'parameters' "
                          f"(notebook parameter -> value).")
    params = block.get("parameters") or {}
    if not isinstance(params, dict):
        raise ReportError(f"{path}: report: parameters must map parameter names to values.")
    return {str(k): v for k, v in params.items()}


def _declaration(name: str, notebook: str, default) -> Parameter:
    mine = [p for p in NOTEBOOK_PARAMETERS if p.name == name and (p.notebooks is None or notebook in p.notebooks)]
    if mine:
        return mine[0]
    kind = type(default) if isinstance(default, (bool, int, float, list)) else str
    return Parameter(name, kind, default, f"{name} of notebook {notebook}")


def _value(p: Parameter, value, notebook: str):
    try:
        return p.parse(value) if isinstance(value, str) else p.check(value)
    except ParameterError as exc:
        raise ReportError(f"{notebook}: {exc}") from None


def per_notebook(given: dict[str, object], files, run: dict | None = None) -> dict[str, dict]:
    """{notebook stem: the values of `run` (what `cjw report` sets: db, dates, renderer ...) and the
    checked values of `given` that its parameters cell declares}. A name of `given` no notebook
    declares, or one `cjw report` sets itself, is a ReportError naming the nearest declared names."""
    cells = {f.stem: declared(f) for f in files}
    names = sorted({n for c in cells.values() for n in c} - set(RUN))
    for name in given:
        if name in RUN:
            raise ReportError(f"'{name}' is set by cjw report itself (from --db, --period and --as-of); "
                              f"do not pass it as a parameter.")
        if not any(name in c for c in cells.values()):
            raise ReportError(f"Unknown report parameter '{clip(name)}': no notebook of this report declares it."
                              + did_you_mean(name, names) + f" The notebooks declare: {', '.join(names)}.")
    return {stem: {**{n: v for n, v in (run or {}).items() if n in cell},
                   **{n: _value(_declaration(n, stem, cell[n]), v, stem) for n, v in given.items() if n in cell}}
            for stem, cell in cells.items()}
