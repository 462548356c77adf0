"""`cjw lab`: JupyterLab on the notebooks against one database, for analysts.

The `.py` notebooks open as notebooks (jupytext's contents manager, with "Jupytext Notebook" as
the default viewer of Python files) and are saved back as `.py` only (their `formats: py:percent`
header); checkpoints and JupyterLab's settings live in a state folder outside the repository, so
no `.ipynb` file is written beside the notebooks. Every kernel sees the database as `$CJW_DB`,
which the notebooks' `db = ""` parameter falls back to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .backends import database
from .errors import WorkbenchError

DEFAULT_PORT = 8888
VIEWERS = {"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}


class LabError(WorkbenchError, ValueError):
    """`cjw lab` cannot start: the message says what to fix."""


def state_dir() -> Path:
    """Where the workbench's JupyterLab keeps settings and checkpoints (never the repository)."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "cjworkbench" / "lab"


def lab_command(db, notebooks, *, port: int = DEFAULT_PORT, open_browser: bool = True,
                state: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of the JupyterLab process; writes the default-viewer setting into `state`."""
    db, notebooks = database(db), Path(notebooks).absolute()   # a `spark:` value stays as it is
    if isinstance(db, Path) and not db.is_file():
        raise LabError(f"Database '{db}' does not exist. Build it with `cjw ingest` (or `make demo`).")
    if not notebooks.is_dir():
        raise LabError(f"Notebook folder '{notebooks}' does not exist.")
    state = Path(state or state_dir())
    settings = state / "user-settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "plugin.jupyterlab-settings").write_text(
        json.dumps(VIEWERS["@jupyterlab/docmanager-extension:plugin"], indent=2), encoding="utf-8")
    (state / "checkpoints").mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebooks}", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.open_browser={open_browser}",
            f"--LabApp.user_settings_dir={state / 'user-settings'}",
            f"--FileCheckpoints.checkpoint_dir={state / 'checkpoints'}"]   # absolute: one folder, not per notebook
    if hasattr(os, "geteuid") and os.geteuid() == 0:   # containers and CI run as root; Jupyter refuses without this
        argv.append("--allow-root")
    env = {**os.environ, "CJW_DB": str(db)}
    return argv, env


def lab(db, notebooks, *, port: int = DEFAULT_PORT, open_browser: bool = True) -> int:
    """Run JupyterLab (until Ctrl-C) on `notebooks` with `$CJW_DB` set to `db`; its exit status."""
    argv, env = lab_command(db, notebooks, port=port, open_browser=open_browser)
    print(f"JupyterLab on {notebooks} with CJW_DB={env['CJW_DB']} (Ctrl-C to stop)", file=sys.stderr)
    return subprocess.call(argv, env=env)
