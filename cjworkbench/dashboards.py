"""Voilà dashboards: a dashboards-only folder built from `notebooks/*.py`, served read-only.

`build_dashboards()` converts each jupytext notebook to .ipynb and adds `index.ipynb`, a landing
page that links every dashboard with its one-line description. `serve()` checks the database,
builds that folder in a temporary directory and runs Voilà with the stack-notes recipe (b), the
jupytext extension denied, no tracebacks, and the database handed to every kernel through CJW_DB
(each kernel opens it read-only, so many viewers share one file). It stops cleanly on SIGTERM or
SIGINT.

Faults and hostile use:
- Many viewers (ADR 0004, `cjworkbench.serving`): `pool` overview kernels wait ready; every other
  page load (a bare HTTP GET too) starts a kernel (~0.2-0.3 GB). At most `max_kernels` live at
  once, the pool included (`cjworkbench.kernels.CappedKernelManager`); beyond that a page load
  gets the busy page (503), which retries by itself. A closed tab ends its kernel at once; a
  kernel no tab holds (a curl) is culled after `idle_timeout` seconds; a kernel with a connected
  tab or a running cell never is.
- Secrets stay out of the kernels: the pseudonymisation key and every variable named like a
  token, secret, password or key is dropped from the environment Voilà and its kernels get.
- Loopback (127.0.0.1) by default; another address only with a token (`CJW_SERVE_TOKEN`) or an
  explicit `unauthenticated=True` (behind a reverse proxy that authenticates).
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .errors import WorkbenchError
from .serving import quiet_ipython_dir

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
INDEX = "index.ipynb"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
MAX_KERNELS = 16      # `voila_command`'s cap; `cjw serve` sizes its cap and pool from free memory (`serving.sizes`, ADR 0004)
IDLE_TIMEOUT = 60     # seconds a kernel with no open tab and no running cell lives on
TOKEN_ENV = "CJW_SERVE_TOKEN"
# request headers every kernel sees (as HTTP_USER_AGENT, ...): a phone's page is drawn in the phone layout from
# its first picture (`controls.panel.phone_request`), not in the desktop one and redrawn when the browser reports
PHONE_HEADERS = ("User-Agent", "Sec-CH-UA-Mobile")
# environment variables no dashboard kernel needs and none may see: the pseudonymisation key and
# anything named like a credential
SECRET_ENV = re.compile(r"^CJW_PSEUDONYM_KEY|TOKEN|SECRET|PASSW(?:OR)?D|CREDENTIAL|(?:^|_)(?:API_?)?KEY(?:_FILE)?$",
                        re.IGNORECASE)


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


def voila_command(folder: str | os.PathLike, *, port: int, ip: str = "127.0.0.1", max_kernels: int = MAX_KERNELS,
                  idle_timeout: int = IDLE_TIMEOUT, config_dir: str | os.PathLike | None = None,
                  preheat: bool = False) -> list[str]:
    """The Voilà command line of stack-notes recipe (b) for a dashboards-only folder, with the
    kernel cap, the culler and the `cjw` template; `config_dir` holds a private `voila.json` (the
    token, the pools: `serving.voila_config`); `preheat` turns Voilà's kernel pools on. Kernels see the
    request's `PHONE_HEADERS`, so a phone's page draws its first charts in the phone layout."""
    from .serving import template_flags

    interval = max(1, min(10, idle_timeout // 6))
    return [sys.executable, "-m", "voila", str(folder), "--no-browser", f"--Voila.ip={ip}",
            f"--port={port}", "--Voila.port_retries=0",
            "--VoilaConfiguration.multi_kernel_manager_class=cjworkbench.kernels.CappedKernelManager",
            f"--CappedKernelManager.max_kernels={max_kernels}",
            f"--MappingKernelManager.cull_interval={interval}",
            f"--MappingKernelManager.cull_idle_timeout={idle_timeout}",
            "--MappingKernelManager.cull_connected=False", "--MappingKernelManager.cull_busy=False",
            "--VoilaConfiguration.extension_denylist=jupyterlab-jupytext",
            "--VoilaConfiguration.show_tracebacks=False", *template_flags(),
            f"--VoilaConfiguration.http_header_envs={list(PHONE_HEADERS)!r}",
            *(["--preheat_kernel=True", "--pool_size=0"] if preheat else []),
            *([f"--Voila.config_file_paths={config_dir}"] if config_dir else [])]


def dashboard_env(environ=None) -> dict[str, str]:
    """`environ` (default os.environ) without the secrets no dashboard kernel may see (`SECRET_ENV`):
    Voilà hands its own environment to every kernel."""
    return {k: v for k, v in (os.environ if environ is None else environ).items() if not SECRET_ENV.search(k)}


def is_loopback(ip: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`."""
    if ip.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip.strip("[]")).is_loopback
    except ValueError:   # a host name: it may resolve to any interface
        return False


def check_address(ip: str, *, token: str | None, unauthenticated: bool = False) -> None:
    """Refuse to serve beyond loopback with no token, unless explicitly told to (a reverse proxy
    that authenticates stands in front)."""
    if not is_loopback(ip) and not token and not unauthenticated:
        raise DashboardError(
            f"Refusing to serve the dashboards on '{ip}' without a token: anyone who can reach that "
            f"address would see them. Set {TOKEN_ENV} to a long random value (viewers open the URL "
            f"once with ?token=...), serve on 127.0.0.1 behind a reverse proxy that authenticates, or "
            f"pass --unauthenticated if such a proxy already guards '{ip}'.")
    if token is not None and len(token) < 16:
        raise DashboardError(f"The token in {TOKEN_ENV} is {len(token)} characters long; use at least 16 "
                             f"random characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`).")


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 120, token: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DashboardError(f"Voilà stopped at start-up (exit code {proc.returncode}); see its messages above. "
                                 f"Is the port already in use?")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise DashboardError(f"Voilà did not answer on {url} within {timeout:.0f} s.")


def _base_url(ip: str, port: int) -> str:
    """The address to reach Voilà on from this machine (for a wildcard address: loopback)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(ip, ip).strip("[]")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(db: str | os.PathLike, *, port: int = 8866, open_browser: bool = True,
          notebooks: str | os.PathLike = NOTEBOOKS, ip: str = "127.0.0.1", max_kernels: int | None = None,
          idle_timeout: int = IDLE_TIMEOUT, token: str | None = None, unauthenticated: bool = False,
          pool: int | None = None) -> int:
    """Serve the dashboards on `db` until SIGTERM or SIGINT; returns Voilà's exit code (0 when stopped).

    `pool`: overview kernels kept rendered up to the filters, each waiting for a viewer (its URL
    parameters are read when the viewer arrives; ADR 0004); they count against `max_kernels`
    and refill only into free places. 0: every page load starts its own kernel. Either left None is
    sized from the machine's free memory (`serving.sizes`: pool 20 under a cap of 24 on a 24 GB machine).

    At most `max_kernels` sessions at once; a session with no open tab ends after `idle_timeout`
    seconds. `ip` other than loopback needs `token` or `unauthenticated=True` (see `check_address`).
    """
    from .backends import database
    from .db import connect
    from .serving import serving_env, sizes, voila_config

    check_address(ip, token=token, unauthenticated=unauthenticated)
    pool, max_kernels = sizes(pool, max_kernels)   # what was not given, from the free memory
    for flag, value in (("--max-sessions", max_kernels), ("--idle-timeout", idle_timeout)):
        if value < 1:
            raise DashboardError(f"{flag} must be at least 1, got {value}.")
    if pool < 0 or 0 < max_kernels <= pool:
        raise DashboardError(f"--pool must be from 0 to {max_kernels - 1} (below --max-sessions {max_kernels}, so "
                             f"the other dashboards keep a place), got {pool}.")
    db = database(db)   # a `spark:` value stays as it is (cjworkbench/backends.py)
    connect(db).disconnect()  # a missing or foreign file fails here, with its own message
    stop = []
    with tempfile.TemporaryDirectory(prefix="cjw-serve-") as tmp:
        folder = Path(tmp) / "dashboards"
        listed = build_dashboards(folder, notebooks=notebooks)
        env = {**dashboard_env(), "CJW_DB": str(db), "IPYTHONDIR": str(quiet_ipython_dir(Path(tmp) / "ipython")),
               **serving_env(Path(tmp))}   # with the chart widgets' JavaScript served once (`serving.chart_module`)
        command = voila_command(folder, port=port, ip=ip, max_kernels=max_kernels, idle_timeout=idle_timeout,
                                config_dir=voila_config(Path(tmp) / "config", token, pool), preheat=pool > 0)
        from .landing import with_landing  # `/`: the landing page (dates, last refresh), not a file list

        command = with_landing(command, folder=Path(tmp), dashboards=listed, db=db)
        proc = subprocess.Popen(command, env=env, cwd=folder, start_new_session=True)
        old = {s: signal.signal(s, lambda *_: (stop.append(1), proc.poll() is None and proc.terminate()))
               for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            base = _base_url(ip, port)
            try:
                _wait_until_up(f"{base}/", proc, token=token)  # the file list: rendering a notebook starts a kernel
            except DashboardError:
                if stop:  # stopped while starting
                    return 0
                raise
            url = f"{base}/voila/render/{INDEX}"
            print(f"Serving {len(listed)} dashboards on {db} (read-only) at {url}"
                  + (f"?token=<the value of {TOKEN_ENV}>" if token else "")
                  + f"\nAt most {max_kernels} sessions at once ({pool} overview kernels kept ready); a session "
                    f"without an open tab ends after {idle_timeout} s.\nStop with Ctrl-C.", flush=True)
            if open_browser and _has_display():
                import webbrowser

                webbrowser.open(url + (f"?token={token}" if token else ""))
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
