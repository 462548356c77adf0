"""What `cjw serve` adds around Voilà for many viewers: the page template, the preheated pool, the
busy page, and the folders shared by the kernels (ADR 0004).

- **Template `cjw`** (Voilà's `lab` template, extended): Voilà's `lab` page links Font Awesome 5
  from cdn.jsdelivr.net, though its own bundle (voila.js) already carries Font Awesome 5.15 and
  its fonts, its error pages link Font Awesome 4.5 there, and nbconvert's page imports Mermaid from
  cdnjs.cloudflare.com; the template drops those links and the Mermaid loader (no dashboard draws
  a diagram), so no request from a dashboard page leaves the machine. Viewers cannot pick another
  template or theme from the URL.
- **Busy page** (`503.html`): beyond the kernel cap (`cjworkbench.kernels.CappedKernelManager`) a
  viewer sees "busy, retrying" and the page reloads itself after 5-10 s (spread, so a crowd does
  not come back at once); without JavaScript a meta refresh does the same.
- **Preheated pool**: `pool` kernels per `PREHEATED` dashboard start with the server, `STAGGER` s
  apart, and run its notebook up to the panel, rehearse the rest once (`rehearse`) and wait for a
  viewer's URL (`KERNEL_STARTUP`); a taken kernel is replaced `FILL_DELAY` s after the pages of the
  viewers who took pool kernels are complete, only into a free place under the cap (`kernels`).
  `sizes` chooses the pool and the cap from the machine's free memory unless the user gives them.
  The page's loading logo stands still (`_INDEX`): spinning, it kept a software-drawn tab busy.
- **Shared results** (`cjworkbench.cache.SHARED_ENV`): a private folder every kernel writes its
  aggregates to, so the next viewers read them instead of querying again. The first pool kernel's
  rehearsal puts the default view's there before any viewer comes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .cache import SHARED_ENV

TEMPLATE = "cjw"
PREHEATED = ("overview.ipynb",)   # the landing dashboard
POOL = 20   # most preheated overview kernels by default: twenty viewers at once each find one waiting (ADR 0004)
SPARE = 4   # places under the cap beyond the pool: the other dashboards and refills while the pool is taken
KERNEL_BYTES = 250 * 10**6      # a dashboard kernel, with margin (PSS on the 20k demo: 0.18 GB waiting, ~0.2 GB drawn)
KERNEL_BUDGET = 6 * 10**9       # most memory the default sizes give the kernels, and at most half of what is free
KERNEL_DUCKDB = "1GB"           # each dashboard kernel's DuckDB memory_limit (`db.MEMORY_ENV`), unless the user set one
STAGGER = 2.5   # seconds between two pool kernels' starts: the first is ready in seconds, not after all of them
FILL_DELAY = 10   # seconds after the taken kernels' pages are complete before refills start: a crowd draws first
RETRY_SECONDS = (5, 10)   # a busy page reloads itself after a random wait in this range
# Voilà 0.5.13's lab template: the two Font Awesome links (voila.js already bundles Font Awesome 5.15.4)
CDN_LINKS = ('<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@^5/css/'
             'all.min.css" type="text/css" />',
             '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@^5/css/'
             'v4-shims.min.css" type="text/css" />')

# Run first in every dashboard kernel (an IPython startup file).
# 1. jsonschema imports its optional IRI checker `rfc3987_syntax` with Altair, which compiles a grammar
#    for ~1.8 s (`python -X importtime`); no dashboard validates IRIs, and jsonschema skips it if absent.
# 2. A preheated kernel (`serve(pool=N)`, ADR 0004) runs the notebook ahead, so before the cell that builds
#    the panel (`controls.panel(`, which reads QUERY_STRING) it imports the DuckDB backend, rehearses the
#    rest of the notebook once with its default parameters (`rehearse`: it imports the analyses the page
#    uses; importing all of them held ~20 MB more per kernel), waits for the viewer's request
#    (`voila.utils.wait_for_request`) and takes the token out.
KERNEL_STARTUP = """import os, sys, time
sys.modules.setdefault("rfc3987_syntax", None)   # written by `cjw serve`: see cjworkbench.serving

if os.environ.get("VOILA_PREHEAT") == "True":
    def _cjw_wait_for_viewer(info, _ip=get_ipython()):
        if "controls.panel(" in (info.raw_cell or ""):
            _ip.events.unregister("pre_run_cell", _cjw_wait_for_viewer)
            import ibis
            from voila.utils import wait_for_request
            from cjworkbench.serving import rehearse, without_token
            ibis.duckdb   # what the viewer would wait for: the DuckDB backend (the rehearsal imports the rest)
            rehearse(_ip, os.environ.get("CJW_NOTEBOOK", ""))
            os.environ.pop("SERVER_SOFTWARE", None)   # set again by the viewer's request
            for _ in range(100):   # Voilà gives up connecting after 5 s (a busy server): never draw without the URL
                wait_for_request()
                if "SERVER_SOFTWARE" in os.environ:
                    break
                time.sleep(1)
            os.environ.update(without_token(dict(os.environ)))

    get_ipython().events.register("pre_run_cell", _cjw_wait_for_viewer)
"""


def rehearse(shell, notebook: str) -> None:
    """Run `notebook`'s cells from the one that builds the panel to the end once, in a copy of the
    kernel's namespace, before any viewer comes (ADR 0004): no URL yet, so with the notebook's
    default parameters. Its output is discarded and every widget it made is closed, so a viewer sees
    only what its own run draws; what stays is what does not depend on the URL: the first-use work
    of Altair, jsonschema, pandas and the widgets, and the default view's aggregates in the shared
    folder. A failure is left for the viewer's own run to report."""
    import sys

    from IPython.utils.capture import capture_output

    widgets = sys.modules.get("ipywidgets.widgets.widget")   # loaded by the notebook's `controls` import
    if widgets is None:   # no widget registry to clean up after the rehearsal: skip it
        return
    _instances = widgets._instances
    try:
        cells = [c for c in json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
                 if c["cell_type"] == "code"]
        sources = ["".join(c["source"]) for c in cells]
        first = next(i for i, src in enumerate(sources) if "controls.panel(" in src)
    except (OSError, ValueError, KeyError, StopIteration):
        return
    before, namespace = set(_instances), dict(shell.user_ns)
    try:
        with capture_output():
            for src in sources[first:]:
                exec(compile(shell.transform_cell(src), notebook, "exec"), namespace)  # noqa: S102
    except Exception:  # noqa: BLE001
        pass
    finally:
        for key in set(_instances) - before:
            widget = _instances.get(key)
            if widget is not None:
                widget.close()
        del namespace
        release_memory()


def release_memory() -> None:
    """Give back what a finished render no longer holds: Python's cycles (the rehearsal's panel, views
    and their DuckDB connection), then glibc's free pages. A waiting pool kernel holds ~10 MB less."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):   # not glibc
        pass


def sizes(pool: int | None = None, max_kernels: int | None = None, available: int | None = None) -> tuple[int, int]:
    """(pool, max_kernels) for `cjw serve`: what the user gave, the rest from the machine's free memory.
    The kernels get at most `KERNEL_BUDGET` and half of `available` bytes (default: free now),
    `KERNEL_BYTES` each: `max_kernels` that many (at least 2, and the pool plus one), the pool up to
    `POOL` with `SPARE` places left over (at least 1 when the cap allows). A 24 GB machine with
    20 GB free: pool 20 under a cap of 24 (ADR 0004); 4 GB free: pool 4 under a cap of 8."""
    if available is None:
        available = _free_memory()
    fit = max(2, int(min(KERNEL_BUDGET, available // 2) // KERNEL_BYTES))
    if max_kernels is None:
        max_kernels = fit if pool is None else max(fit, pool + 1)
    if pool is None:
        pool = min(POOL, max(1, max_kernels - SPARE)) if max_kernels > 1 else 0
    return pool, max_kernels


def _free_memory() -> int:
    """Bytes the system can give without swapping (Linux's MemAvailable; else its free pages)."""
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def without_token(env: dict) -> dict:
    """`env` with the `token` parameter removed from QUERY_STRING and VOILA_REQUEST_URL."""
    env = dict(env)
    query = env.get("QUERY_STRING", "")
    if "token" in query:
        env["QUERY_STRING"] = _drop_token(query)
    url = env.get("VOILA_REQUEST_URL", "")
    if "token" in url:
        parts = urlsplit(url)
        env["VOILA_REQUEST_URL"] = urlunsplit(parts._replace(query=_drop_token(parts.query)))
    return env


def _drop_token(query: str) -> str:
    return urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"])


def quiet_ipython_dir(path: Path) -> Path:
    """An IPython directory for the dashboard kernels: no history (concurrent kernels sharing one
    history database print "database is locked" on the page) and the `KERNEL_STARTUP` lines."""
    profile = path / "profile_default"
    (profile / "startup").mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text("c.HistoryManager.enabled = False\n")
    (profile / "startup" / "00-cjworkbench.py").write_text(KERNEL_STARTUP)
    return path


_INDEX = """{%- extends 'voila/templates/lab/index.html.j2' -%}
{#- written by `cjw serve` (cjworkbench.serving): the lab template without its CDN links -#}
{%- block notebook_css -%}
{%- set css = super() -%}
{{ css CDN_FILTERS }}
{#- the loading logo stands still (the line under it names the running cell): spinning, it cost a tab drawn in
    software ~0.07 CPU-s per second of waiting, 40+ CPU-s for twenty tabs waiting together (ADR 0004) -#}
<style>.spinner { animation: none; }</style>
{%- endblock notebook_css -%}
{#- nbconvert's loader for Mermaid diagrams (cdnjs.cloudflare.com): no dashboard draws one -#}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
_PAGE = """<!DOCTYPE HTML>
{#- written by `cjw serve` (cjworkbench.serving): Voilà's page.html (error pages, the file list) without its
    Font Awesome 4.5 link to cdn.jsdelivr.net, with the lab template's styles -#}
<html>
  <head>
    <meta charset="utf-8">
    <title>{% block title %}Customer-journey workbench{% endblock %}</title>
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    {% block stylesheets %}
    {% if include_css %}{{ include_css("static/index.css") }}{{ include_css("static/theme-light.css") }}{% endif %}
    {% endblock %}
    {% block meta %}{% endblock %}
  </head>
  <body data-base-url="{{ base_url }}voila/" data-voila="voila">
    <div>
      {% block body %}{% endblock %}
    </div>
    {% block scripts %}{% endblock %}
  </body>
</html>
"""
_BUSY = """{% extends "voila/templates/lab/error.html" %}
{#- written by `cjw serve` (cjworkbench.serving): the busy page, which retries by itself -#}
{% block stylesheets %}
  {{ super() }}
  <noscript><meta http-equiv="refresh" content="MAX_WAIT"></noscript>
{% endblock %}
{% block body %}
  <div class="voila-error cjw-busy" style="font-family: sans-serif; margin: 4em auto; max-width: 36em">
    <h2>The dashboards are busy</h2>
    <p>{{ status_message }}</p>
    <p>This page tries again by itself in a few seconds; there is no need to reload it.</p>
  </div>
  <script>setTimeout(function () { location.reload(); }, 1000 * (MIN_WAIT + Math.random() * (MAX_WAIT - MIN_WAIT)));</script>
{% endblock %}
"""


def write_template(root: Path) -> Path:
    """Write the `cjw` Voilà template under `root/voila/templates/`; returns `root`, a folder to put
    first on JUPYTER_PATH."""
    folder = root / "voila" / "templates" / TEMPLATE
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conf.json").write_text(json.dumps({"base_template": "lab"}))
    filters = " ".join(f"| replace({json.dumps(link)}, '')" for link in CDN_LINKS)
    (folder / "index.html.j2").write_text(_INDEX.replace("CDN_FILTERS", filters))
    low, high = RETRY_SECONDS
    (folder / "page.html").write_text(_PAGE)
    (folder / "503.html").write_text(_BUSY.replace("MIN_WAIT", str(low)).replace("MAX_WAIT", str(high)))
    return root


def template_flags() -> list[str]:
    """Voilà flags: the `cjw` template, and no template or theme chosen from the URL."""
    return [f"--template={TEMPLATE}", "--VoilaConfiguration.allow_template_override=NO",
            "--VoilaConfiguration.allow_theme_override=NO"]


def pools(pool_size: int) -> dict:
    """Voilà's `kernel_pools_config`: `pool_size` preheated kernels for each `PREHEATED` dashboard,
    none for the others (a pool kernel per dashboard would hold ~0.3 GB each for nobody)."""
    return {"default": {"pool_size": 0}, **{name: {"pool_size": pool_size, "kernel_env_variables": {
        "CJW_NOTEBOOK": name}} for name in PREHEATED}}


def voila_config(folder: Path, token: str | None, pool: int) -> Path:
    """A private folder with `voila.json` setting the token (kept off the command line, where any
    local user could read it in the process list) and the kernel pools (`pools`)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = {"Voila": {"token": token}} if token else {}
    if pool > 0:
        config["VoilaKernelManager"] = {"kernel_pools_config": pools(pool), "fill_delay": FILL_DELAY}
    path = folder / "voila.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps(config))
    return folder


def chart_module(template_root: Path, tmp: Path) -> Path:
    """JupyterChart's offline JavaScript (0.9 MB) as a static file of the `cjw` template, and a file
    with the few lines every chart widget carries instead: they import that file from the server. A
    chart's widget state otherwise carries the whole bundle (two charts: 2 MB per viewer through the
    kernel, the server and the page, which evaluates it once per chart); now the page loads it once
    and the browser keeps it. Returns the small file (`display.BUNDLE_ENV`)."""
    import hashlib

    from .display import write_offline_bundle

    bundle = write_offline_bundle(tmp / "jupyterchart.js").read_bytes()
    name = f"jupyterchart.{hashlib.sha256(bundle).hexdigest()[:12]}.js"   # a new bundle, a new name: cacheable
    static = template_root / "voila" / "templates" / TEMPLATE / "static"
    static.mkdir(parents=True, exist_ok=True)
    (static / name).write_bytes(bundle)
    stub = tmp / "jupyterchart-import.js"   # the page's <body data-base-url="{base}voila/">
    stub.write_text(f"const url = new URL(document.body.dataset.baseUrl + 'templates/{TEMPLATE}/static/{name}', "
                    f"document.baseURI);\nconst module = await import(url.href);\nexport default module.default;\n")
    return stub


def serving_env(tmp: Path) -> dict[str, str]:
    """Environment for Voilà and its kernels: the `cjw` template first on JUPYTER_PATH, the chart
    widgets' JavaScript served from it (`chart_module`), and a private folder for the results the
    kernels share (`cjworkbench.cache.SHARED_ENV`), and each kernel's DuckDB memory limit (`KERNEL_DUCKDB`;
    an analysis connection may otherwise take a quarter of the machine, and twenty kernels would be
    allowed five times its memory; a filter's temporary tables beyond the limit spill to disk)."""
    from .display import BUNDLE_ENV

    shared = tmp / "shared-results"
    shared.mkdir(mode=0o700, parents=True, exist_ok=True)
    root = write_template(tmp / "jupyter")
    paths = [str(root), *filter(None, [os.environ.get("JUPYTER_PATH")])]
    return {"JUPYTER_PATH": os.pathsep.join(paths), SHARED_ENV: str(shared), BUNDLE_ENV: str(chart_module(root, tmp)),
            **kernel_memory(os.environ)}


def kernel_memory(environ) -> dict[str, str]:
    """The DuckDB memory limit of every dashboard kernel: the user's $CJW_MEMORY_LIMIT, else `KERNEL_DUCKDB`."""
    from .db import MEMORY_ENV

    return {MEMORY_ENV: environ.get(MEMORY_ENV) or KERNEL_DUCKDB}

