"""The README's "Parameters reference", generated from the registry.

`python -m cjworkbench.parameters --markdown` prints it; the README holds it between
`<!-- parameters:start -->` and `<!-- parameters:end -->` and tests/test_parameters.py checks the two
are equal. `--write README.md` replaces the section in place.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .commands import CLI_FLAGS, CONFIG_KEYS
from .core import Parameter
from .notebook import NOTEBOOK_PARAMETERS

START, END = "<!-- parameters:start -->", "<!-- parameters:end -->"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(p: Parameter) -> str:
    if p.required:
        return "required"
    if p.default is None:
        return ""
    return f"`{p.default!r}`" if not isinstance(p.default, bool) else f"`{p.default}`"


def _row(*cells) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def markdown() -> str:
    """The reference section (without the markers): notebook parameters, CLI flags, config keys."""
    lines = ["Generated from `cjworkbench/parameters/` by `python -m cjworkbench.parameters --markdown`; "
             "a test fails when this section, a notebook's parameters cell, `cjw`'s flags or the config "
             "keys drift from it.", "",
             "### Notebook parameters",
             "Set in a notebook's parameters cell, by `papermill -p name value`, and (URL column) in a "
             "dashboard's address: `overview.ipynb?segment=Premium&start_date=2026-01-01`. An invalid URL "
             "value is reported once on the page, and the dashboard uses the default instead.", "",
             _row("parameter", "default", "notebooks", "URL", "allowed", "help"), "|---|---|---|---|---|---|"]
    for p in NOTEBOOK_PARAMETERS:
        others = any(q.name == p.name and q.notebooks for q in NOTEBOOK_PARAMETERS)
        used = ("all others" if others else "all") if p.notebooks is None else ", ".join(p.notebooks)
        also = f" (formerly `{'`, `'.join(p.aliases)}`)" if p.aliases else ""
        lines.append(_row(f"`{p.name}`{also}", _default(p), used, "yes" if p.url else "", p.allowed, p.help))
    lines += ["", "### Command-line flags"]
    for command, flags in CLI_FLAGS.items():
        lines += ["", f"`cjw {command + ' ' if command else ''}…`", "",
                  _row("flag", "default", "allowed", "help"), "|---|---|---|---|"]
        lines += [_row(f"`{p.name}`", _default(p), p.allowed, p.help) for p in flags]
    lines += ["", "### Ingest config keys"]
    for block, keys in CONFIG_KEYS.items():
        title = {"": "top level", "sources[]": "each entry of `sources:`"}.get(block, f"under `{block}:`")
        lines += ["", f"{title[0].upper()}{title[1:]}:", "",
                  _row("key", "default", "allowed", "help"), "|---|---|---|---|"]
        lines += [_row(f"`{p.name}`", _default(p), p.allowed, p.help) for p in keys]
    return "\n".join(lines) + "\n"


def section(readme: str) -> str:
    """The text between the markers of `readme` ('' when they are missing)."""
    if START not in readme or END not in readme:
        return ""
    return readme.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write(readme: Path) -> None:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    readme.write_text(f"{head}{START}\n{markdown()}{END}{rest.split(END, 1)[1]}", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cjworkbench.parameters", description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the README's Parameters reference")
    parser.add_argument("--write", metavar="README", help="replace the reference section of this file")
    args = parser.parse_args(argv)
    if args.write:
        write(Path(args.write))
    elif args.markdown:
        sys.stdout.write(markdown())
    else:
        parser.print_help()
    return 0
