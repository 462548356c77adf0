"""Voilà dashboards: a dashboards-only folder built from `notebooks/*.py`, served read-only.

`build_dashboards()` converts each jupytext notebook to .ipynb and adds `index.ipynb`, a landing
page that links every dashboard with its one-line description. `serve()` checks the database,
builds that folder in a temporary directory and runs Voilà on 127.0.0.1 with the stack-notes
recipe (b): kernels culled when idle (Voilà leaks a kernel per closed tab), the jupytext extension
denied, no tracebacks, and the database handed to every kernel through CJW_DB (each kernel opens
it read-only, so many viewers share one file). It stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .errors import WorkbenchError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
INDEX = "index.ipynb"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
CULL = ("--MappingKernelManager.cull_interval=60", "--MappingKernelManager.cull_idle_timeout=300")


class DashboardError(WorkbenchError, RuntimeError):
    """The dashboards cannot be built or served."""


def describe(nb) -> tuple[str, str]:
    """(title, description) from the notebook's first markdown cell: its `# Title` line and the
    paragraph after it, joined into one line."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            title, _, rest = cell.source.strip().partition("\n")
            paragraph = rest.strip().split("\n\n")[0]
            return title.lstrip("#").strip(), " ".join(line.strip() for line in paragraph.splitlines())
    return "", ""


def build_dashboards(out_dir: str | os.PathLike, *, notebooks: str | os.PathLike = NOTEBOOKS) -> list[dict]:
    """Write `<name>.ipynb` for every `notebooks/*.py` and the landing page `index.ipynb` into `out_dir`.

    Returns one {name, file, title, description} per dashboard, in file-name order (overview first).
    """
    import jupytext
    import nbformat

    out, src = Path(out_dir), Path(notebooks)
    sources = sorted(src.glob("*.py"), key=lambda p: (p.stem != "overview", p.stem))
    if not sources:
        raise DashboardError(f"No notebooks (*.py, jupytext percent format) found in '{src}'.")
    out.mkdir(parents=True, exist_ok=True)
    listed = []
    for path in sources:
        nb = jupytext.read(path)
        nb.metadata["kernelspec"] = KERNELSPEC
        nb.metadata.pop("jupytext", None)
        nbformat.write(nb, out / f"{path.stem}.ipynb")
        title, line = describe(nb)
        listed.append({"name": path.stem, "file": f"{path.stem}.ipynb", "title": title or path.stem,
                       "description": line})
    nbformat.write(index_notebook(listed), out / INDEX)
    return listed


def index_notebook(dashboards: list[dict]):
    """The landing page: one markdown cell listing the dashboards with links and descriptions."""
    import nbformat

    lines = ["# Customer-journey workbench", "",
             "Dashboards on the journey data. Pick one; each has its own filters at the top.", ""]
    lines += [f"- [{d['title']}]({d['file']}): {d['description']}" for d in dashboards]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("\n".join(lines))])
    nb.metadata["kernelspec"] = KERNELSPEC
    return nb


def quiet_ipython_dir(path: Path) -> Path:
    """An IPython directory whose kernels keep no history: concurrent kernels sharing one history
    database print "database is locked" on the page."""
    profile = path / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text("c.HistoryManager.enabled = False\n")
    return path


def voila_command(folder: str | os.PathLike, *, port: int) -> list[str]:
    """The Voilà command line of stack-notes recipe (b) for a dashboards-only folder."""
    return [sys.executable, "-m", "voila", str(folder), "--no-browser", "--Voila.ip=127.0.0.1",
            f"--port={port}", "--Voila.port_retries=0", *CULL,
            "--VoilaConfiguration.extension_denylist=jupyterlab-jupytext",
            "--VoilaConfiguration.show_tracebacks=False"]


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DashboardError(f"Voilà stopped at start-up (exit code {proc.returncode}); see its messages above. "
                                 f"Is the port already in use?")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise DashboardError(f"Voilà did not answer on {url} within {timeout:.0f} s.")


def serve(db: str | os.PathLike, *, port: int = 8866, open_browser: bool = True,
          notebooks: str | os.PathLike = NOTEBOOKS) -> int:
    """Serve the dashboards on `db` until SIGTERM or SIGINT; returns Voilà's exit code (0 when stopped)."""
    from .db import connect

    db = Path(db).resolve()
    connect(db).disconnect()  # a missing or foreign file fails here, with its own message
    stop = []
    with tempfile.TemporaryDirectory(prefix="cjw-serve-") as tmp:
        folder = Path(tmp) / "dashboards"
        listed = build_dashboards(folder, notebooks=notebooks)
        from .display import BUNDLE_ENV, write_offline_bundle

        env = {**os.environ, "CJW_DB": str(db), "IPYTHONDIR": str(quiet_ipython_dir(Path(tmp) / "ipython")),
               BUNDLE_ENV: str(write_offline_bundle(Path(tmp) / "jupyterchart.js"))}
        proc = subprocess.Popen(voila_command(folder, port=port), env=env, cwd=folder, start_new_session=True)
        old = {s: signal.signal(s, lambda *_: (stop.append(1), proc.poll() is None and proc.terminate()))
               for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            base = f"http://127.0.0.1:{port}"
            try:
                _wait_until_up(f"{base}/", proc)  # the file list: rendering a notebook would start a kernel
            except DashboardError:
                if stop:  # stopped while starting
                    return 0
                raise
            url = f"{base}/voila/render/{INDEX}"
            print(f"Serving {len(listed)} dashboards on {db} (read-only) at {url}\nStop with Ctrl-C.", flush=True)
            if open_browser and _has_display():
                import webbrowser

                webbrowser.open(url)
            code = proc.wait()
        finally:
            _terminate(proc)
            for s, handler in old.items():
                signal.signal(s, handler)
    return 0 if stop else code


def _has_display() -> bool:
    """A desktop to open a browser on (on a headless Linux box webbrowser would pick a text browser)."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _terminate(proc: subprocess.Popen) -> None:
    """SIGTERM Voilà (it shuts its kernels down first), then its process group for anything left behind."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
