"""The one reader behind every YAML design input (designed journeys, personas, KPI map, themes)."""

from __future__ import annotations

from pathlib import Path

import yaml


def read_yaml(value, *, error: type[Exception], what: str, example: str):
    """A YAML document from a path (anything else is returned as given), with missing files and
    syntax errors raised as `error` naming the file: the one reader behind every YAML input."""
    if not isinstance(value, (str, Path)):
        return value
    path = Path(value)
    if not path.is_file():
        raise error(f"{what} not found: '{path}'. Give the path of a YAML file such as {example} "
                    "from `cjw demo-data`.")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{path} is not valid YAML: {exc}".splitlines()[0]) from None
