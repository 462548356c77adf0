"""Issue #12, serving half: nothing lost, nothing leaked under faults and hostile input.

`cjw serve`: a flood of bare page loads never starts more kernels than the cap and the server
keeps answering; kernels no browser connects to are culled within seconds while an open tab keeps
its kernel; no secret reaches a kernel; a public address needs a token, and the token guards the
pages. `cjw report`: a period without data gives "no data in this period" pages; runs into one
folder take turns. One server (cap 3, idle timeout 8 s) on a 500-customer demo serves the module;
every GET goes to 127.0.0.1 and every loop is bounded.
"""

from __future__ import annotations

import concurrent.futures as cf
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from cjworkbench import cli, reports
from cjworkbench.reports import index as report_index
from cjworkbench.reports import REMOTE

from .test_browser import Server as ServeProcess

CAP, IDLE = 3, 8                     # the module server: at most 3 kernels, culled after 8 s without a tab
CULLED_WITHIN = IDLE + 1 + 12        # timeout + the 1 s cull interval + slack for a busy 2-core machine
KEY = "pseudonym-key-" + secrets.token_hex(8)
OTHER_SECRETS = {"CJW_TEST_API_TOKEN": "tok-" + secrets.token_hex(6), "SMTP_PASSWORD": "pw-" + secrets.token_hex(6),
                 "CJW_PSEUDONYM_KEY_FILE": "/nonexistent/pseudonym.key"}
CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOAD_MS = 300_000


@pytest.fixture(scope="module")
def small_db(tmp_path_factory) -> Path:
    from cjworkbench.demo import generate
    from cjworkbench.ingest import run_ingest

    folder = tmp_path_factory.mktemp("small")
    generate(folder, customers=500, seed=5)
    run_ingest(folder / "cjworkbench.yml", folder / "db.duckdb")
    return folder / "db.duckdb"


def _environ(pid: int) -> dict[bytes, bytes]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.partition(b"=")[::2] for item in raw if item)


def _processes(marker: bytes, kernels_only: bool = True) -> list[int]:
    """PIDs whose environment holds `marker` (CJW_DB=<this server's database>); kernels only:
    those running ipykernel, less a kernel's own short-lived fork (same command line, until it execs)."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "environ").read_bytes().split(b"\0") and (
                    not kernels_only or b"ipykernel" in (proc / "cmdline").read_bytes()):
                found[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return sorted(pid for pid, parent in found.items() if not kernels_only or parent not in found)


def _describe(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().split()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
        return f"ppid {stat[3]} state {stat[2]}: {command}"
    except OSError:
        return "gone"


class Server(ServeProcess):
    """`cjw serve --max-sessions CAP --idle-timeout IDLE` as a subprocess with secrets in its environment."""

    def __init__(self, db: Path, *args: str, env: dict | None = None):
        self.db, self.marker = db, b"CJW_DB=" + str(db.resolve()).encode()
        super().__init__(db, "--max-sessions", str(CAP), "--idle-timeout", str(IDLE), "--pool", "0", *args,
                         env={**os.environ, "CJW_PSEUDONYM_KEY": KEY, **OTHER_SECRETS, **(env or {})})

    def kernels(self) -> list[int]:
        return _processes(self.marker)

    def wait_kernels(self, at_most: int, timeout: float) -> float:
        """Seconds until no more than `at_most` kernels are alive; fails after `timeout`."""
        start = time.monotonic()
        while len(self.kernels()) > at_most:
            if time.monotonic() - start > timeout:
                pytest.fail(f"{len(self.kernels())} kernels alive after {timeout:.0f} s; log:\n{self.log[-3000:]}")
            time.sleep(0.25)
        return time.monotonic() - start

    def get(self, path: str, timeout: float = 120, headers: dict | None = None) -> tuple[int, str, str]:
        """(status, body, final URL) of a bare GET (no browser: nothing connects to the kernel)."""
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace"), r.url
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace"), e.url

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        for pid in _processes(self.marker, kernels_only=False):   # anything left behind: ours by its CJW_DB
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return code


@pytest.fixture(scope="module")
def server(small_db):
    srv = Server(small_db)
    yield srv
    assert srv.stop() == 0, srv.log[-3000:]
    assert srv.kernels() == []


# --- A: a cap on kernels, and culling of kernels no browser holds ---------------------------------

def test_a_page_load_flood_never_exceeds_the_kernel_cap(server):
    server.wait_kernels(0, timeout=CULLED_WITHIN)
    peak, stop, seen = [0], threading.Event(), {}

    def watch():
        while not stop.is_set():
            pids = server.kernels()
            peak[0] = max(peak[0], len(pids))
            for pid in pids:
                seen.setdefault(pid, _describe(pid))
            time.sleep(0.05)

    latencies = []

    def responsive():   # the file list (no kernel) stays quick while the flood runs
        while not stop.is_set():
            started = time.monotonic()
            status, _, _ = server.get("/", timeout=30)
            latencies.append((status, time.monotonic() - started))
            time.sleep(0.3)

    threads = [threading.Thread(target=watch, daemon=True), threading.Thread(target=responsive, daemon=True)]
    for t in threads:
        t.start()
    try:
        with cf.ThreadPoolExecutor(30) as pool:   # 30 bare GETs at once, each bounded by its timeout
            answers = list(pool.map(lambda _: server.get("/voila/render/index.ipynb"), range(30)))
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] * CAP + [503] * (30 - CAP)
    busy = [body for status, body, _ in answers if status == 503]
    assert all(f"all {CAP} sessions are in use." in b and "tries again by itself" in b for b in busy), busy[0][:2000]
    assert "Traceback" not in busy[0]
    assert peak[0] == CAP, "\n".join(f"{k}: {v}" for k, v in seen.items()) + server.log[-3000:]   # reached, not more
    assert len(server.kernels()) == CAP and server.proc.poll() is None
    assert latencies and all(status == 200 and seconds < 5 for status, seconds in latencies), latencies


def test_kernels_no_browser_holds_are_culled_and_free_their_place(server):
    assert len(server.kernels()) >= 1, "the flood test leaves its kernels"
    seconds = server.wait_kernels(0, timeout=CULLED_WITHIN)
    assert seconds <= CULLED_WITHIN
    status, body, _ = server.get("/voila/render/index.ipynb")   # the places are free again
    assert status == 200 and "Customer-journey workbench" in body
    assert len(server.kernels()) == 1


# --- B: no secret in a kernel ----------------------------------------------------------------------

def test_secrets_stay_out_of_dashboard_kernels(server):
    status, _, _ = server.get("/voila/render/index.ipynb")
    assert status in (200, 503)
    server_env = _environ(server.proc.pid)
    assert server_env[b"CJW_PSEUDONYM_KEY"] == KEY.encode()   # `cjw serve` itself has the key ...
    kernels = server.kernels()
    assert kernels, "a page load starts a kernel"
    for pid in [*kernels, *_processes(server.marker, kernels_only=False)]:   # ... Voilà and its kernels do not
        env = _environ(pid)
        assert env[b"CJW_DB"] == str(server.db.resolve()).encode()
        leaked = [k for k in (b"CJW_PSEUDONYM_KEY", *(n.encode() for n in OTHER_SECRETS)) if k in env]
        assert leaked == [], (pid, leaked)
        assert KEY.encode() not in Path(f"/proc/{pid}/environ").read_bytes()


# --- an open tab keeps its kernel -------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _chart(page) -> str:
    return page.eval_on_selector_all(".cjw-chart svg.marks", "els => els.map(e => e.outerHTML).join('')")


def test_an_open_tab_is_never_culled(server, browser):
    server.wait_kernels(CAP - 2, timeout=CULLED_WITHIN)   # room for the tab and one bare GET
    before = set(server.kernels())
    ctx = browser.new_context(viewport={"width": 1200, "height": 2400})
    try:
        page = ctx.new_page()
        page.goto(f"{server.base}/voila/render/overview.ipynb", wait_until="commit", timeout=LOAD_MS)
        page.wait_for_selector(".cjw-chart svg.marks", timeout=LOAD_MS)
        page.wait_for_load_state("load", timeout=LOAD_MS)
        rendered = time.monotonic()
        tab = set(server.kernels()) - before
        assert len(tab) == 1, (before, server.kernels())
        assert server.get("/voila/render/index.ipynb")[0] == 200
        bare = set(server.kernels()) - before - tab
        assert len(bare) == 1
        while set(server.kernels()) & bare or time.monotonic() - rendered < 2 * IDLE + 2:   # the bare GET's goes
            assert time.monotonic() - rendered < 2 * IDLE + CULLED_WITHIN, "the bare GET's kernel was not culled"
            time.sleep(0.5)
        assert tab <= set(server.kernels())                # the tab's kernel lives on, idle for 2 x the timeout
        old = _chart(page)
        select = page.locator(".cjw-panel select").first
        options = select.evaluate("s => [...s.options].map(o => o.value)")
        select.select_option(next(o for o in options if o != select.input_value()))
        page.wait_for_function("old => { const e = [...document.querySelectorAll('.cjw-chart svg.marks')]"
                               ".map(x => x.outerHTML).join(''); return e && e !== old; }", arg=old, timeout=120_000)
    finally:
        ctx.close()


def test_an_invalid_url_parameter_is_no_developer_error(server):
    server.wait_kernels(CAP - 1, timeout=CULLED_WITHIN)
    status, body, _ = server.get("/voila/render/overview.ipynb?renderer=bogus", timeout=300)
    assert status == 200
    assert "There was an error when executing cell" not in body and "Traceback" not in body
    assert body.count("application/vnd.jupyter.widget-view+json") >= 2   # the dashboard's widgets are on the page


# --- C: beyond localhost only with a token -----------------------------------------------------------

def test_serve_refuses_a_public_address_without_a_token(small_db, capsys, monkeypatch):
    monkeypatch.delenv("CJW_SERVE_TOKEN", raising=False)
    assert cli.main(["serve", "--db", str(small_db), "--ip", "0.0.0.0", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "Refusing to serve the dashboards on '0.0.0.0' without a token" in err and "CJW_SERVE_TOKEN" in err
    monkeypatch.setenv("CJW_SERVE_TOKEN", "short")
    assert cli.main(["serve", "--db", str(small_db), "--ip", "0.0.0.0", "--no-browser"]) == 2
    assert "is 5 characters long; use at least 16" in capsys.readouterr().err


def test_a_token_guards_the_dashboards(small_db, tmp_path):
    db = tmp_path / "token.duckdb"   # its own file, so only this server's processes carry its path
    shutil.copy(small_db, db)
    token = secrets.token_urlsafe(24)
    srv = Server(db, env={"CJW_SERVE_TOKEN": token})
    try:
        assert token not in srv.log and "?token=<the value of CJW_SERVE_TOKEN>" in srv.log
        for pid in _processes(srv.marker, kernels_only=False):   # not on a command line, not in Voilà's env
            assert token.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
            assert token.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
        status, body, url = srv.get("/voila/render/index.ipynb")
        assert "/login" in url and "Customer-journey workbench" not in body
        assert srv.kernels() == []                          # a stranger's page load starts no kernel
        status, body, _ = srv.get(f"/voila/render/index.ipynb?segment=Premium&token={token}")
        assert status == 200 and "Customer-journey workbench" in body
        (kernel,) = srv.kernels()
        env = _environ(kernel)   # Voilà hands the kernel the request URL: the token is taken out of it
        assert env[b"QUERY_STRING"] == b"segment=Premium" and b"token" not in env[b"VOILA_REQUEST_URL"]
        assert token.encode() not in Path(f"/proc/{kernel}/environ").read_bytes()
    finally:
        assert srv.stop() == 0


# --- D: reports --------------------------------------------------------------------------------------

TINY = ("# %% [markdown]\n# # Tiny report\n\n# %% tags=[\"parameters\"]\ndb = \"\"\nstart_date = \"\"\n"
        "end_date = \"\"\ninteractive = True\nrenderer = \"jupyter\"\n\n# %%\n"
        "print(f\"window {start_date} .. {end_date}\")\n")


def test_a_period_without_data_gives_no_data_pages(small_db, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["report", "--db", str(small_db), "--period", "month", "--as-of", "2020-01-31", "--out", str(out)])
    captured = capsys.readouterr()
    err = captured.err
    assert code == 0, err
    names = [p.stem for p in reports.report_notebooks()]
    assert f"{len(names)} report(s) for 2020-01 (no data in this period)" in captured.out
    with duckdb.connect(str(small_db), read_only=True) as con:
        first, last = con.execute("SELECT min(event_ts)::DATE::VARCHAR, max(event_ts)::DATE::VARCHAR "
                                  "FROM events").fetchone()
    assert first < "2025-01-01" < last                     # data on both sides of 2025, none in 2020
    folder = out / "2020-01"
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{n}.html" for n in names] + ["report.json"])
    for name in names:
        page = (folder / f"{name}.html").read_text()
        assert "No data in this period." in page and "2020-01 (2020-01-01 to 2020-01-31)" in page
        assert f"The database holds events from {first} to {last}." in page
        assert not REMOTE.findall(page)
    manifest = json.loads((folder / "report.json").read_text())
    assert manifest["no_data"] is True and [e["name"] for e in manifest["notebooks"]] == names
    assert "no data in this period" in (out / "index.html").read_text()
    assert not (out / "_failed").exists() and "KeyError" not in err


def test_the_empty_period_keyerror_is_fixed_at_its_source(small_db):
    """The KeyError came from `customer_features` pivoting no rows; clustering nobody now says so."""
    import cjworkbench as cjw
    from cjworkbench.analysis.segments.segments import customer_features
    from cjworkbench.db import connect
    from cjworkbench.errors import WorkbenchError

    con = connect(small_db)
    empty = {"start_date": "2020-01-01", "end_date": "2020-01-31"}
    df = customer_features(con, filters=empty)
    assert len(df) == 0 and {"n_events", "n_purchases", "recency_days", "tenure_days"} <= set(df.columns)
    personas = small_db.parent / "designed" / "personas.yml"
    table = cjw.personas_table(con, personas=personas, filters=empty)
    assert len(table) > 0 and (table.n_customers == 0).all()
    with pytest.raises(WorkbenchError, match="needs at least 4 customers with events in scope; the filters leave 0"):
        cjw.clusters_table(con, filters=empty)


def test_two_report_runs_into_one_folder_take_turns(small_db, tmp_path, monkeypatch):
    """Two runs at once: each reaches the index only when the other is not there (the barrier never
    meets), and both periods are kept. Before: both wrote `.index.html.tmp`, and one run failed."""
    nb = tmp_path / "nb"
    nb.mkdir()
    (nb / "tiny.py").write_text(TINY)
    out = tmp_path / "out"
    real_replace, meet, met = os.replace, threading.Barrier(2), []

    def replace(src, dst):
        if Path(dst).name == "index.html":     # hold each run here until the other one arrives too (or 10 s)
            try:
                meet.wait(timeout=10)
                met.append(True)
            except threading.BrokenBarrierError:
                met.append(False)
        return real_replace(src, dst)

    monkeypatch.setattr(report_index.os, "replace", replace)   # the index is written by reports.index
    with cf.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(reports.run_report, small_db, period="month", as_of=day, out=out, notebooks=[nb])
                for day in ("2026-05-31", "2026-06-30")]
        manifests = [r.result(timeout=600) for r in runs]
    assert [m["label"] for m in manifests] == ["2026-05", "2026-06"]
    assert met == [False, False]                          # never both at the index at once
    index = (out / "index.html").read_text()
    assert 'href="2026-05/tiny.html"' in index and 'href="2026-06/tiny.html"' in index
    assert "window 2026-05-01 .. 2026-05-31" in (out / "2026-05" / "tiny.html").read_text()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [reports.LOCK]


def test_a_report_run_waits_for_the_lock(small_db, tmp_path):
    nb = tmp_path / "nb"
    nb.mkdir()
    (nb / "tiny.py").write_text(TINY)
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / ".cjw-report.lock", os.O_RDWR | os.O_CREAT, 0o644)   # the documented lock file
    fcntl.flock(fd, fcntl.LOCK_EX)   # another run holds the folder
    proc = subprocess.Popen([sys.executable, "-m", "cjworkbench.cli", "report", "--db", str(small_db), "--as-of",
                             "2026-06-30", "--out", str(out), "--notebooks", str(nb)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
        deadline = time.monotonic() + 120
        while not any("waiting for another report run" in x for x in lines):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        time.sleep(2)
        assert proc.poll() is None and not (out / "2026-06").exists()   # it waits, and writes nothing
    finally:
        os.close(fd)   # the other run is done
    assert proc.wait(timeout=300) == 0, "".join(lines)
    assert "window 2026-06-01 .. 2026-06-30" in (out / "2026-06" / "tiny.html").read_text()
