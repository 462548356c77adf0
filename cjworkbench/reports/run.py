"""`run_report`: every report notebook for one period, run by papermill into `OUT/<label>/`.

Each notebook runs with `interactive=False`, `renderer="svg"`, the period's dates and the report
parameters its parameters cell declares. A notebook that fails does not stop the others: its
executed notebook is kept in `OUT/_failed/<label>/`, the index marks it with the reason, and its
page is the last good one of that period (said so) or a "this page could not be made" page. The
period's folder is swapped in whole once every notebook has run; when every notebook failed
nothing is swapped and earlier reports stay as they were. Runs into one `OUT` take turns (flock).
The notebooks of a run share one kernel, cleared between them (`kernel.py`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from ..backends import database
from ..periods import Window, period_window
from . import parameters as report_parameters
from .index import MANIFEST, manifest, write_index
from .kernel import shared_kernel
from .pages import ReportError, failed_page, headline_of, no_data_page, title, to_html

try:
    import fcntl
except ImportError:   # Windows: no flock, so runs into one folder do not take turns there
    fcntl = None

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
FAILED = "_failed"
LOCK = ".cjw-report.lock"
DEFAULT_TIMEOUT = 600


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


def failure(exc: Exception, nb_path: Path) -> str:
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


def execute(nb_file: Path, out_file: Path, parameters: dict, *, timeout: float, km=None) -> None:
    """Run one notebook with papermill (jupytext source converted first), writing `out_file`; in the
    started kernel `km` when given (`kernel.SharedKernel`), else in a kernel of its own."""
    import jupytext
    import nbformat
    import papermill as pm

    source = out_file.with_suffix(".source.ipynb")
    nbformat.write(jupytext.read(nb_file), source)
    try:
        pm.execute_notebook(source, out_file, parameters=parameters, kernel_name="python3", language="python",
                            progress_bar=False, execution_timeout=timeout, start_timeout=120, cwd=str(nb_file.parent),
                            **({"km": km} if km is not None else {}))
    finally:
        source.unlink(missing_ok=True)


def run_report(db, *, period: str = "month", as_of, out, notebooks=None, timeout: float = DEFAULT_TIMEOUT,
               parameters: dict | None = None, progress=None) -> dict:
    """Run the report notebooks for the period containing `as_of` into `out/<label>/` (see module doc).

    `parameters`: notebook parameter -> value (text from a command line is parsed by the registry).
    Returns the manifest written as `out/<label>/report.json`; its `failed` lists the notebooks that
    failed. Raises ReportError before anything runs for a bad argument, and after the run when every
    notebook failed. `timeout`: seconds per cell.
    """
    db = database(db)   # a `spark:` value stays as it is (cjworkbench/backends.py)
    if isinstance(db, Path) and not db.is_file():
        raise ReportError(f"Database '{db}' does not exist. Build it with `cjw ingest` (or `make demo`).")
    cur = period_window(period, as_of)   # checks period and as_of before anything runs
    files = report_notebooks(notebooks)
    run = {"db": str(db), "period": period, "as_of": str(cur.end), "start_date": str(cur.start),
           "end_date": str(cur.end), "interactive": False, "renderer": "svg"}
    params = report_parameters.per_notebook(dict(parameters or {}), files, run)   # checked before anything runs
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: None)
    with _locked(out, say):
        build = Path(tempfile.mkdtemp(prefix=f".build-{cur.label}-", dir=out))
        build.chmod(0o777 & ~_umask())   # mkdtemp makes it private; a report folder is as readable as any
        try:
            held = data_in_period(db, cur)
            no_data = not (held["events"] or held["feedback"])
            shutil.rmtree(out / FAILED / cur.label, ignore_errors=True)   # an older failure of this period is superseded
            entries = (_no_data_pages(files, build, db, cur, held, say) if no_data else
                       _run_notebooks(files, build, params, cur, out, timeout=timeout, say=say))
            made = manifest(db, period, cur, entries, no_data=no_data, parameters=dict(parameters or {}))
            if len(made["failed"]) == len(entries):
                raise ReportError(f"Every notebook failed; earlier reports in {out} are unchanged. "
                                  + " ".join(e["reason"] for e in entries))
            (build / MANIFEST).write_text(json.dumps(made, indent=2, default=str), encoding="utf-8")
            _swap(build, out / cur.label)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        write_index(out)
    return made


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
    from ..db import connect
    from ..scope import in_date_range

    con = connect(db)
    try:
        ev, fb = con.table("events"), con.table("feedback")
        span = ev.aggregate(first=ev.event_date.min().cast("string"), last=ev.event_date.max().cast("string"))
        return {"events": int(ev.filter(in_date_range(ev.event_date, cur.start, cur.end)).count().execute()),
                "feedback": int(fb.filter(in_date_range(fb.feedback_date, cur.start, cur.end)).count().execute()),
                **span.execute().iloc[0].to_dict()}
    finally:
        con.disconnect()


def _run_notebooks(files, build: Path, params: dict, cur: Window, out: Path, *, timeout, say) -> list[dict]:
    import jupytext

    entries = []
    with shared_kernel() as kernel:   # imports and the connection paid once per run (reports/kernel.py)
        for f in files:
            started = time.perf_counter()
            executed = build / f"{f.stem}.ipynb"
            heading = title(jupytext.read(f), f.stem)
            entry = {"name": f.stem, "title": heading, "html": f"{f.stem}.html"}
            try:
                execute(f, executed, params[f.stem], timeout=timeout, km=kernel.ready(f.parent))
                (build / entry["html"]).write_text(to_html(executed, heading), encoding="utf-8")
                entry["headline"] = headline_of(executed)   # for the index's summary across pages
                executed.unlink()
            except Exception as exc:  # noqa: BLE001  any failure of one notebook: keep it, say where, go on
                kernel.failed()
                entry.update(_keep_failed(out, cur, f, executed, exc, build, heading))
                say(f"report {cur.label}: {f.stem} FAILED: {entry['reason']}")
            else:
                say(f"report {cur.label}: {f.stem} done in {time.perf_counter() - started:.1f} s")
            entries.append({**entry, "seconds": round(time.perf_counter() - started, 1)})
    return entries


def _no_data_pages(files, build: Path, db: Path, cur: Window, held: dict, say) -> list[dict]:
    """One offline page per notebook saying the period holds no data, and which dates do."""
    import jupytext

    say(f"report {cur.label}: no events or feedback answers from {cur.start} to {cur.end}; no-data pages")
    span = f"events from {held['first']} to {held['last']}" if held["first"] else "no events at all"
    titles = {f.stem: title(jupytext.read(f), f.stem) for f in files}
    for name, heading in titles.items():
        (build / f"{name}.html").write_text(no_data_page(heading, cur.label, cur.start, cur.end, db.name, span),
                                            encoding="utf-8")
    return [{"name": n, "title": t, "html": f"{n}.html", "seconds": 0.0} for n, t in titles.items()]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _keep_failed(out: Path, cur: Window, f: Path, executed: Path, exc: Exception, build: Path,
                 heading: str) -> dict:
    """Keep the failed notebook in `out/_failed/<label>/`; the page becomes the period's last good one
    (from the published folder, said so) or a failure page. Returns the entry's failure fields."""
    what = failure(exc, executed)
    reason = f"Notebook '{f.name}' failed in {what}."
    if executed.is_file():
        keep = out / FAILED / cur.label
        keep.mkdir(parents=True, exist_ok=True)
        os.replace(executed, keep / f"{f.stem}.ipynb")
        reason += f" The executed notebook is kept at {keep / f'{f.stem}.ipynb'}."
    page, fields = f"{f.stem}.html", {"status": "failed", "reason": reason}
    published = out / cur.label
    earlier = _earlier(published, f.stem)
    if earlier:
        shutil.copy2(published / page, build / page)
        fields["stale_from"] = earlier
    else:
        (build / page).write_text(failed_page(heading, what), encoding="utf-8")
    return fields


def _earlier(published: Path, name: str) -> str | None:
    """When the published folder holds a good page of notebook `name`: when it was generated."""
    try:
        made = json.loads((published / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for e in made.get("notebooks", []):
        good = e.get("status") != "failed" or e.get("stale_from")   # a kept page stays the last good one
        if e.get("name") == name and good and (published / e["html"]).is_file():
            return e.get("stale_from") or made.get("generated")
    return None


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
