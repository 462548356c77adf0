"""Periodic reports: the report notebooks run by papermill, kept as self-contained offline HTML.

`run_report()` (and `cjw report`) executes every report notebook (a jupytext `py:percent` file
or an `.ipynb` with a cell tagged `parameters`) for one period with `interactive=False` and
`renderer="svg"`, converts each to HTML without code (charts are inline SVG; the require.js and
MathJax URLs are empty data: URLs, so the page asks no server for anything), and swaps the
folder `OUT/<period label>/` in only when every notebook succeeded. A failure keeps the executed
notebook in `OUT/_failed/<label>/` and leaves earlier reports as they were. `OUT/index.html`
links every report of every period.

A period without events or feedback answers gets "no data in this period" pages, not failing runs.
Runs into one `OUT` take turns (flock on `OUT/LOCK`; a second run waits) and use unique temp names.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from .errors import WorkbenchError
from .periods import Window, period_window

try:
    import fcntl
except ImportError:   # Windows: no flock, so runs into one folder do not take turns there
    fcntl = None

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FAILED = "_failed"
MANIFEST = "report.json"
LOCK = ".cjw-report.lock"
DEFAULT_TIMEOUT = 600
EMPTY_JS = "data:text/javascript,"
# what an offline report must not contain: a script, style, image or module fetched from elsewhere
REMOTE = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//"
                    r"|\bimport\s*\(\s*[\"'](?:https?:)?//|\bfrom\s+[\"'](?:https?:)?//"
                    r"|@import\s+(?:url\()?[\"']?(?:https?:)?//|\burl\(\s*[\"']?https?://", re.I)
# the exporter's URLs of scripts a report never needs (no widgets, no maths, no mermaid diagrams)
OFFLINE_URLS = {"require_js_url": EMPTY_JS, "mathjax_url": EMPTY_JS, "jquery_url": EMPTY_JS,
                "mermaid_js_url": EMPTY_JS, "mermaid_layout_elk_js_url": "", "widget_renderer_url": EMPTY_JS,
                "jupyter_widgets_base_url": EMPTY_JS}


class ReportError(WorkbenchError, RuntimeError):
    """A report could not be made; the message names the notebook and the failing cell."""


def report_notebooks(paths=None) -> list[Path]:
    """The report notebooks: `paths` (files or folders; default the repository's `notebooks/`)
    reduced to `.py` / `.ipynb` notebooks with a `parameters` cell, in name order (a folder's
    `x.ipynb` beside `x.py` is taken for its jupytext pair and left out)."""
    import jupytext

    found = []
    for p in [Path(x) for x in (paths or [NOTEBOOKS])]:
        if not p.exists():
            raise ReportError(f"Notebook path '{p}' does not exist.")
        files = sorted(f for f in p.iterdir() if f.suffix in (".py", ".ipynb")) if p.is_dir() else [p]
        files = [f for f in files if not (f.suffix == ".ipynb" and f.with_suffix(".py") in files)]   # paired copy
        for f in files:
            try:
                nb = jupytext.read(f)
            except Exception as exc:  # noqa: BLE001  jupytext raises many kinds; name the file
                raise ReportError(f"Cannot read notebook '{f}': {exc}") from None
            if any("parameters" in c.metadata.get("tags", []) for c in nb.cells):
                found.append(f)
    if not found:
        where = ", ".join(str(x) for x in (paths or [NOTEBOOKS]))
        raise ReportError(f"No report notebooks in {where}: a report notebook is a jupytext .py or .ipynb "
                          f"file with a cell tagged 'parameters'.")
    names = [f.stem for f in found]
    if len(set(names)) < len(names):
        raise ReportError(f"Two report notebooks share a name: {sorted(n for n in names if names.count(n) > 1)}.")
    return found


def _title(nb, fallback: str) -> str:
    found = (re.search(r"^#\s+(.+)$", c.source, re.M) for c in nb.cells if c.cell_type == "markdown")
    return next((m.group(1).strip() for m in found if m), fallback)


def _failure(exc: Exception, nb_path: Path) -> str:
    """'cell 7 (In [3]): ValueError: ...' (cells counted from 1, markdown included) from a papermill
    error, a cell timeout or a dead kernel."""
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    index = getattr(exc, "cell_index", None)
    if index is None and nb_path.is_file():   # a timeout or a dead kernel: the cell that did not finish
        import nbformat

        nb = nbformat.read(nb_path, as_version=4)
        started = [i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
        index = started[-1] if started else None
    where = "kernel start-up" if index is None else f"cell {index + 1}" + (
        f" (In [{exc.exec_count}])" if getattr(exc, "exec_count", None) else "")
    line = next((x.strip() for x in str(evalue).splitlines() if x.strip()), "")[:400].rstrip(".")
    if isinstance(exc, TimeoutError):   # nbclient's CellTimeoutError
        line += "; raise --timeout if the cell needs longer"
    return f"{where}: {ename}: {line}"


def execute(nb_file: Path, out_file: Path, parameters: dict, *, timeout: float) -> None:
    """Run one notebook with papermill (jupytext source converted first), writing `out_file`."""
    import jupytext
    import nbformat
    import papermill as pm

    source = out_file.with_suffix(".source.ipynb")
    nbformat.write(jupytext.read(nb_file), source)
    try:
        pm.execute_notebook(source, out_file, parameters=parameters, kernel_name="python3", language="python",
                            progress_bar=False, execution_timeout=timeout, start_timeout=120, cwd=str(nb_file.parent))
    finally:
        source.unlink(missing_ok=True)


def to_html(executed: Path, title: str) -> str:
    """The executed notebook as HTML with no code and nothing fetched from the network."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    nb.metadata.pop("widgets", None)   # widget state would pull the html-manager from a CDN
    quiet = logging.getLogger("cjworkbench.reports.nbconvert")   # not "alternative text is missing" per chart
    quiet.setLevel(logging.ERROR)
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, log=quiet, **OFFLINE_URLS)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    remote = REMOTE.findall(body)
    if remote:
        raise ReportError(f"The HTML of '{executed.stem}' would load {len(remote)} resource(s) from the network "
                          f"(e.g. {remote[0]!r}); a report must render offline.")
    return body


def run_report(db, *, period: str = "month", as_of, out, notebooks=None, timeout: float = DEFAULT_TIMEOUT,
               progress=None) -> dict:
    """Run the report notebooks for the period containing `as_of` into `out/<label>/` (see module doc).

    Returns the manifest written as `out/<label>/report.json`. `timeout`: seconds per cell.
    """
    db = Path(db).absolute()   # not resolve(): designed/ files sit beside the path given, link or not
    if not db.is_file():
        raise ReportError(f"Database '{db}' does not exist. Build it with `cjw ingest` (or `make demo`).")
    cur = period_window(period, as_of)   # checks period and as_of before anything runs
    files = report_notebooks(notebooks)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: None)
    with _locked(out, say):
        build = Path(tempfile.mkdtemp(prefix=f".build-{cur.label}-", dir=out))
        build.chmod(0o777 & ~_umask())   # mkdtemp makes it private; a report folder is as readable as any
        try:
            held = data_in_period(db, cur)
            no_data = not (held["events"] or held["feedback"])
            entries = (_no_data_pages(files, build, db, cur, held, say) if no_data else
                       _run_notebooks(files, build, db, period, cur, out, timeout=timeout, say=say))
            manifest = _manifest(db, period, cur, entries, no_data=no_data)
            (build / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            _swap(build, out / cur.label)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(out / FAILED / cur.label, ignore_errors=True)   # an older failure of this period is superseded
        write_index(out)
    return manifest


@contextlib.contextmanager
def _locked(out: Path, say):
    """Hold an exclusive flock on `out/LOCK`, waiting (and saying so) while another run holds it."""
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl and fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another report run into {out} to finish (lock: {out / LOCK})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # releases the lock


def data_in_period(db: Path, cur: Window) -> dict:
    """Events and feedback answers dated in `cur` (the scope's date rule); first and last event date."""
    from .db import connect
    from .scope import in_date_range

    con = connect(db)
    try:
        ev, fb = con.table("events"), con.table("feedback")
        span = ev.aggregate(first=ev.event_ts.min().date().cast("string"), last=ev.event_ts.max().date().cast("string"))
        return {"events": int(ev.filter(in_date_range(ev.event_ts, cur.start, cur.end)).count().execute()),
                "feedback": int(fb.filter(in_date_range(fb.feedback_ts, cur.start, cur.end)).count().execute()),
                **span.execute().iloc[0].to_dict()}
    finally:
        con.disconnect()


def _run_notebooks(files, build: Path, db: Path, period: str, cur: Window, out: Path, *, timeout, say) -> list[dict]:
    import jupytext

    params = {"db": str(db), "period": period, "as_of": str(cur.end), "start_date": str(cur.start),
              "end_date": str(cur.end), "interactive": False, "renderer": "svg"}
    entries = []
    for f in files:
        started = time.perf_counter()
        executed = build / f"{f.stem}.ipynb"
        try:
            execute(f, executed, params, timeout=timeout)
        except Exception as exc:  # noqa: BLE001  any failure of the run: keep the notebook, say where
            raise ReportError(_keep_failed(out, cur, f, executed, exc)) from None
        title = _title(jupytext.read(f), f.stem)
        (build / f"{f.stem}.html").write_text(to_html(executed, title), encoding="utf-8")
        executed.unlink()
        seconds = time.perf_counter() - started
        entries.append({"name": f.stem, "title": title, "html": f"{f.stem}.html", "seconds": round(seconds, 1)})
        say(f"report {cur.label}: {f.stem} done in {seconds:.1f} s")
    return entries


def _no_data_pages(files, build: Path, db: Path, cur: Window, held: dict, say) -> list[dict]:
    """One offline page per notebook saying the period holds no data, and which dates do."""
    import jupytext
    say(f"report {cur.label}: no events or feedback answers from {cur.start} to {cur.end}; no-data pages")
    span = f"events from {held['first']} to {held['last']}" if held["first"] else "no events at all"
    titles = {f.stem: _title(jupytext.read(f), f.stem) for f in files}
    for name, title in titles.items():
        (build / f"{name}.html").write_text(
            f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"</head><body style=\"font-family:Helvetica,Arial,sans-serif;margin:2rem\"><h1>{html.escape(title)}</h1>"
            f"<p class=\"cjw-no-data\"><strong>No data in this period.</strong> {html.escape(cur.label)} ({cur.start} "
            f"to {cur.end}) has no events and no feedback answers in {html.escape(db.name)}. The database holds "
            f"{span}.</p></body></html>\n", encoding="utf-8")
    return [{"name": n, "title": t, "html": f"{n}.html", "seconds": 0.0} for n, t in titles.items()]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _keep_failed(out: Path, cur: Window, f: Path, executed: Path, exc: Exception) -> str:
    keep = out / FAILED / cur.label
    keep.mkdir(parents=True, exist_ok=True)
    what = _failure(exc, executed)
    kept = keep / f"{f.stem}.ipynb"
    if executed.is_file():
        os.replace(executed, kept)
        return (f"Notebook '{f.name}' failed in {what}. The executed notebook is kept at {kept}; earlier "
                f"reports in {out} are unchanged.")
    return f"Notebook '{f.name}' failed in {what}. Earlier reports in {out} are unchanged."


def _manifest(db: Path, period: str, cur: Window, entries: list[dict], *, no_data: bool = False) -> dict:
    from .version import __version__

    return {"label": cur.label, "period": period, "start_date": str(cur.start), "end_date": str(cur.end),
            "database": db.name, "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cjworkbench_version": __version__, "no_data": no_data, "notebooks": entries}


def _swap(build: Path, target: Path) -> None:
    """Put `build` at `target`; an existing `target` is moved aside first and removed after."""
    old = None
    if target.exists():
        old = target.with_name(f".old-{target.name}-{uuid.uuid4().hex}")   # unique, even for two threads
        os.replace(target, old)
    try:
        os.replace(build, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_index(out) -> Path:
    """`out/index.html`: one row per period (newest first), one link per notebook report."""
    out = Path(out)
    reports = []
    for d in sorted(out.iterdir(), reverse=True):
        if d.is_dir() and not d.name.startswith((".", "_")) and (d / MANIFEST).is_file():
            reports.append(json.loads((d / MANIFEST).read_text(encoding="utf-8")))
    esc = html.escape

    def links(r: dict) -> str:
        return "".join(f"<li><a href=\"{esc(r['label'])}/{esc(n['html'])}\">{esc(n['title'])}</a></li>"
                       for n in r["notebooks"])

    rows = "\n".join(f"<tr><th>{esc(r['label'])}</th><td>{esc(r['start_date'])} – {esc(r['end_date'])}"
                     f"{'<br><em>no data in this period</em>' if r.get('no_data') else ''}</td>"
                     f"<td><ul>{links(r)}</ul></td><td>{esc(r['generated'])}</td></tr>" for r in reports)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cjworkbench reports</title>
<style>body{{font-family:Helvetica,Arial,sans-serif;margin:2rem;color:#333}}table{{border-collapse:collapse}}
th,td{{text-align:left;padding:.4rem .8rem;border-bottom:1px solid #ddd;vertical-align:top;white-space:nowrap}}
ul{{margin:0;padding-left:1.1rem}}li{{margin:.15rem 0}}a{{color:#4c78a8}}</style>
</head><body><h1>Customer-journey reports</h1>
<p>{len(reports)} period(s). Each report opens without a network connection.</p>
<table><thead><tr><th>Period</th><th>Dates</th><th>Reports</th><th>Generated</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
    tmp = out / f".index-{uuid.uuid4().hex}.html.tmp"   # a name no other run uses
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out / "index.html")
    return out / "index.html"
