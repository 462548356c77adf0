"""Faults and hostile input at ingest (issue #12): nothing lost, nothing leaked.

One test (or a few) per finding of the probe; each failed on the code before the fix:
1. a stale or foreign WAL replayed onto the swapped-in file, a writer holding the target,
   concurrent ingests; 2. the pseudonymisation key (atomic creation, empty/weak keys,
   fingerprint per run, file modes); 3. debris of killed runs and a full disk; 4. one bad line
   refusing a whole file (over-long lines, NUL bytes, odd JSON keys); 5. no limits (gzip bombs,
   huge and very wide files, DuckDB's memory and spill).
Hostile files run through the real CLI in a fresh process that reports its peak memory.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import duckdb
import pytest

from cjworkbench.cli import main
from cjworkbench.config import load_config
from cjworkbench.errors import ConfigError
from cjworkbench.ingest import pipeline, run_ingest, target
from cjworkbench.ingest.pseudonym import load_key

from .conftest import ROOT, write_config

PY = sys.executable
COLS = {"customer_id": "c", "event_ts": "t", "activity": "a"}


# --- helpers ---------------------------------------------------------------------------------

def _rows(n: int, seed: int = 0) -> str:
    rnd = random.Random(seed)
    return "".join(f"C{i % 997},2024-01-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00,act{rnd.randrange(9)}\n"
                   for i in range(n))


def _setup(folder: Path, n: int = 30, *, seed: int = 0, limits: dict | None = None, name: str = "e.csv",
           text: str | None = None, **over) -> Path:
    (folder / name).write_text("c,t,a\n" + _rows(n, seed) if text is None else text)
    top = {"limits": limits} if limits else {}
    return write_config(folder, [{"name": "e", "kind": "events", "path": name, "columns": COLS, **over}], **top)


def _ingest(cfg: Path, db: Path, *extra: str) -> tuple[int, str, str]:
    """`cjw ingest --quiet` in this process: (exit code, stdout, stderr); notes still show."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["ingest", "--quiet", "--json", "--config", str(cfg), "--db", str(db), *extra])
    return code, out.getvalue(), err.getvalue()


def _count(db: Path, table: str = "events") -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".building-" in p.name)


def _leave_wal(db: Path) -> int:
    """A writer deletes a third of the events and dies before any checkpoint: `<db>.wal` stays."""
    code = (f"import duckdb, os\nc = duckdb.connect({str(db)!r})\n"
            "c.execute(\"SET checkpoint_threshold = '10GB'\")\n"
            "c.execute('DELETE FROM events WHERE seq % 3 = 0')\nos._exit(0)\n")
    subprocess.run([PY, "-c", code], check=True, timeout=60)
    wal = Path(str(db) + ".wal")
    assert wal.stat().st_size > 0
    return wal.stat().st_size


def _gzip_repeat(head: bytes, block: bytes, n: int, *, tail_member: bytes = b"") -> bytes:
    """A gzip of head + block * n built in well under a second (every full-flushed block
    compresses to the same bytes); `tail_member` appends a second, small member, so the
    trailer's size field no longer tells the real size."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    piece = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    end = c.flush()
    crc = zlib.crc32(head)
    for _ in range(n):
        crc = zlib.crc32(block, crc)
    size = len(head) + n * len(block)
    data = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first + piece * n + end
            + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return data + (gzip.compress(tail_member) if tail_member else b"")


# --- 1. WAL, writers, concurrent ingests -------------------------------------------------------

@pytest.mark.parametrize("origin", ["stale", "foreign"])
def test_a_leftover_wal_is_set_aside_never_replayed(tmp_path, origin):
    """Probe: an ingest that exited 0 then showed 95,552 of 143,328 events (the old WAL was
    replayed on top of the new file); a WAL of another database removed 47,776."""
    db = tmp_path / "db.duckdb"
    cfg = _setup(tmp_path, 300)
    assert _ingest(cfg, db)[0] == 0
    if origin == "stale":
        wal_size = _leave_wal(db)
    else:  # a WAL written for another database with the same tables, copied beside ours
        other = tmp_path / "other"
        other.mkdir()
        run_ingest(_setup(other, 300, seed=1), other / "db.duckdb")
        wal_size = _leave_wal(other / "db.duckdb")
        os.replace(str(other / "db.duckdb") + ".wal", str(db) + ".wal")
    code, _out, err = _ingest(cfg, db)
    assert code == 0, err
    assert "moved a stale write-ahead log aside" in err
    assert not Path(str(db) + ".wal").exists()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("db.duckdb.wal.stale-")]
    assert len(aside) == 1 and aside[0].stat().st_size == wal_size
    assert stat.S_IMODE(aside[0].stat().st_mode) == 0o600
    assert _count(db) == 300                                  # not 200: nothing replayed
    assert _count(db) == 300                                  # and again on a second open


def test_a_writer_holding_the_database_is_refused(tmp_path):
    """Probe: a writer holding the target only produced a 'note'; its WAL would later be
    replayed onto the swapped-in file."""
    db = tmp_path / "db.duckdb"
    cfg = _setup(tmp_path, 50)
    assert _ingest(cfg, db)[0] == 0
    digest = _sha(db)
    writer = subprocess.Popen([PY, "-c", f"import duckdb, sys, time\nc = duckdb.connect({str(db)!r})\n"
                               "c.execute('CREATE TABLE scratch AS SELECT 42 AS x')\nprint('ready', flush=True)\n"
                               "time.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        wal_before = Path(str(db) + ".wal").read_bytes() if Path(str(db) + ".wal").exists() else None
        more = _setup(tmp_path, 80, seed=2, name="more.csv")
        code, _out, err = _ingest(more, db)
        assert code == 2, err
        assert err.startswith("error: ") and f"open for writing by another process (PID {writer.pid})" in err
        assert "Traceback" not in err and "internal error" not in err
        assert _sha(db) == digest                                    # untouched
        wal_after = Path(str(db) + ".wal").read_bytes() if Path(str(db) + ".wal").exists() else None
        assert wal_after == wal_before                               # the live writer's WAL is left alone
        assert _leftovers(tmp_path) == []
    finally:
        writer.kill()
        writer.wait()
    code, _out, err = _ingest(more, db)                              # writer gone: the ingest runs
    assert code == 0, err
    assert _count(db) == 80


_RACE = ("import os, sys, time\nfrom cjworkbench.cli import main\nprint('ready', flush=True)\n"
         "while not os.path.exists(sys.argv[1]):\n    time.sleep(0.002)\nsys.exit(main(sys.argv[2:]))\n")


def test_concurrent_ingests_queue_and_every_run_is_recorded(tmp_path):
    """Probe: two ingests at once both exited 0 and `ingest_runs` listed a run whose data was
    discarded (each carried over the history it saw before the other swapped)."""
    db = tmp_path / "db.duckdb"
    cfg = _setup(tmp_path, 5_000)
    first = run_ingest(cfg, db).run_id
    go = tmp_path / "go"
    procs = [subprocess.Popen([PY, "-c", _RACE, str(go), "ingest", "--json", "--config", str(cfg), "--db", str(db)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:                                   # both imported: start them at the same instant
        assert p.stdout.readline().strip() == "ready"
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-800:] for o in outs]
    runs = {json.loads(o[0])["run_id"] for o in outs}
    with duckdb.connect(str(db), read_only=True) as con:
        recorded = {r[0] for r in con.execute("SELECT DISTINCT run_id FROM ingest_runs").fetchall()}
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 5_000
    assert len(runs) == 2 and recorded == runs | {first}                   # no run lost from the history
    assert sum("waiting for another ingest" in o[1] for o in outs) == 1      # one queued behind the other


def test_an_ingest_waits_a_bounded_time_then_refuses(tmp_path):
    db = tmp_path / "db.duckdb"
    cfg = _setup(tmp_path, 20, limits={"lock_wait_seconds": 0.5})
    fd = os.open(tmp_path / ".db.duckdb.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"4242\n")
        t0 = time.perf_counter()
        code, _out, err = _ingest(cfg, db)
        waited = time.perf_counter() - t0
    finally:
        os.close(fd)
    assert code == 2, err
    assert "error: Another ingest (PID 4242) is writing" in err and "limits.lock_wait_seconds" in err
    assert 0.4 < waited < 10
    assert not db.exists() and _leftovers(tmp_path) == []
    assert _ingest(cfg, db)[0] == 0                                   # lock released: it runs


# --- 2. the pseudonymisation key ---------------------------------------------------------------

def test_key_file_appears_whole_to_processes_starting_together(tmp_path, monkeypatch):
    """Probe: created then written, the key file was read empty by processes starting
    together (98 of 200 trials with 4 processes), and the empty key was used."""
    monkeypatch.delenv("CJW_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("CJW_PSEUDONYM_KEY_FILE", str(tmp_path / "keys" / "pseudonym.key"))
    token_hex = secrets.token_hex

    def slow(n=None):  # widen the window between creating the file and writing the key
        time.sleep(0.3)
        return token_hex(n)

    monkeypatch.setattr(secrets, "token_hex", slow)
    got: dict[str, object] = {}

    def load(name):
        try:
            got[name] = load_key()
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            got[name] = exc

    first = threading.Thread(target=load, args=("first",))
    second = threading.Thread(target=load, args=("second",))
    first.start()
    time.sleep(0.1)
    second.start()
    first.join()
    second.join()
    assert isinstance(got["first"], bytes) and len(got["first"]) == 64, got
    assert got["second"] == got["first"]
    assert (tmp_path / "keys" / "pseudonym.key").read_bytes() == got["first"]
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["pseudonym.key"]   # no temp file left


def test_key_file_and_folder_are_private(tmp_path, monkeypatch):
    monkeypatch.delenv("CJW_PSEUDONYM_KEY", raising=False)
    key_file = tmp_path / "cfg" / "cjworkbench" / "pseudonym.key"
    monkeypatch.setenv("CJW_PSEUDONYM_KEY_FILE", str(key_file))
    key = load_key()
    assert len(key) == 64 and load_key() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("kind, value, message", [
    ("file", b"", "is empty"),
    ("file", b"\n  \n", "is empty"),
    ("env", "", "is empty"),
    ("env", "k1", "too weak: 2 bytes"),
    ("env", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "too weak: 32 bytes, 1 distinct"),
])
def test_empty_or_weak_key_is_refused(tmp_path, monkeypatch, kind, value, message):
    if kind == "file":
        key_file = tmp_path / "pseudonym.key"
        key_file.write_bytes(value)
        key_file.chmod(0o600)
        monkeypatch.delenv("CJW_PSEUDONYM_KEY", raising=False)
        monkeypatch.setenv("CJW_PSEUDONYM_KEY_FILE", str(key_file))
    else:
        monkeypatch.setenv("CJW_PSEUDONYM_KEY", value)
    with pytest.raises(ConfigError, match=message):
        load_key()
    db = tmp_path / "db.duckdb"
    code, _out, err = _ingest(_setup(tmp_path, 5, personal=["c"]), db)
    assert code == 2 and err.startswith("error: The pseudonymisation key") and message in err, err
    assert not db.exists()


def _fingerprint(key: str) -> str:
    return hmac.new(key.encode(), b"cjworkbench-fingerprint", hashlib.sha256).hexdigest()[:16]


def test_key_fingerprint_recorded_and_a_changed_key_needs_new_key(tmp_path, monkeypatch):
    """A changed key silently changed every pseudonymised id."""
    db = tmp_path / "db.duckdb"
    cfg = _setup(tmp_path, 10, personal=["c"])
    key_a, key_b = "first-key-0123456789abcdef", "second-key-0123456789abcdef"
    monkeypatch.setenv("CJW_PSEUDONYM_KEY", key_a)
    assert _ingest(cfg, db)[0] == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT DISTINCT key_fingerprint FROM ingest_runs").fetchall() == [(_fingerprint(key_a),)]
        ids_a = con.execute("SELECT customer_id FROM events ORDER BY seq").fetchall()
    digest = _sha(db)
    monkeypatch.setenv("CJW_PSEUDONYM_KEY", key_b)
    code, _out, err = _ingest(cfg, db)
    assert code == 2, err
    assert f"key fingerprint {_fingerprint(key_b)}, recorded {_fingerprint(key_a)}" in err and "--new-key" in err
    assert key_a not in err and key_b not in err
    assert _sha(db) == digest
    code, _out, err = _ingest(cfg, db, "--new-key")
    assert code == 0, err
    assert "new pseudonymisation key" in err
    with duckdb.connect(str(db), read_only=True) as con:
        fps = con.execute("SELECT key_fingerprint FROM ingest_runs ORDER BY finished_ts").fetchall()
        ids_b = con.execute("SELECT customer_id FROM events ORDER BY seq").fetchall()
    assert fps == [(_fingerprint(key_a),), (_fingerprint(key_b),)]
    assert len(ids_b) == len(ids_a) == 10 and not set(ids_a) & set(ids_b)
    assert _ingest(cfg, db)[0] == 0                                   # the new key is now the recorded one


def test_database_file_is_private(tmp_path):
    db = tmp_path / "db.duckdb"
    old_umask = os.umask(0o022)
    try:
        assert _ingest(_setup(tmp_path, 5), db)[0] == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / ".db.duckdb.lock").stat().st_mode) == 0o600


# --- 3. debris and a full disk -----------------------------------------------------------------

def test_debris_of_a_killed_ingest_is_removed_by_the_next(tmp_path):
    """Probe: every killed ingest left `.<db>.building-<pid>` and its WAL, never cleaned."""
    db = tmp_path / "db.duckdb"
    cfg = _setup(tmp_path, 200_000)
    proc = subprocess.Popen([PY, "-m", "cjworkbench.cli", "ingest", "--quiet", "--config", str(cfg),
                             "--db", str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not _leftovers(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    debris = _leftovers(tmp_path)
    assert debris, "the ingest finished before it could be killed"
    assert all(f"building-{proc.pid}" in name for name in debris)
    code, _out, err = _ingest(_setup(tmp_path, 40, seed=3), db)
    assert code == 0, err
    assert re.search(rf"note: removed {len(debris)} file\(s\) left by interrupted ingest\(s\) \(PID {proc.pid};", err)
    assert _leftovers(tmp_path) == []
    assert _count(db) == 40


def _full_disk_case(folder: Path, db: Path) -> tuple[int, str, str]:
    (folder / "big.csv").write_text("c,t,a,x\n" + "".join(
        f"C{i},2024-01-01 10:00,a{random.getrandbits(64):x},{random.getrandbits(128):x}\n" for i in range(60_000)))
    big = write_config(folder, [{"name": "e", "kind": "events", "path": "big.csv", "columns": COLS}])
    return _ingest(big, db)


def test_small_inputs_stage_in_memory_big_ones_in_a_scratch_database(tmp_path, monkeypatch):
    """The staging place follows the input's size (`limits.stage_in_memory`, half of memory_limit);
    both places load the same rows, and neither leaves a file behind."""
    seen, real = [], pipeline._staging_connection

    def spy(*args, **kw):
        con = real(*args, **kw)
        seen.append((kw["on_disk"], con.execute("SELECT path FROM duckdb_databases() "
                                                 "WHERE database_name = 'staging'").fetchone()[0]))
        return con

    monkeypatch.setattr(pipeline, "_staging_connection", spy)
    results = {}
    for name, limits in (("memory", None), ("disk", {"stage_in_memory": 0}), ("small", {"stage_in_memory": "1kB"})):
        folder = tmp_path / name
        folder.mkdir()
        cfg = _setup(folder, 40, limits=limits)   # ~1.6 kB of CSV
        assert _ingest(cfg, folder / "db.duckdb")[0] == 0
        results[name] = _count(folder / "db.duckdb")
        assert _leftovers(folder) == []
    assert [on_disk for on_disk, _ in seen] == [False, True, True]
    assert seen[0][1] is None and seen[1][1].endswith("staging.duckdb")   # in memory: no path
    assert results["memory"] == results["disk"] == results["small"] == 40
    assert "limits.stage_in_memory must be a size" in str(pytest.raises(ConfigError, load_config, _setup(
        tmp_path / "memory", 5, limits={"stage_in_memory": -1})).value)


def test_too_little_free_disk_stops_before_reading_with_the_folder_and_the_need(tmp_path, monkeypatch):
    """The free-disk check names the folder, what is free and what the run needs; nothing changes."""
    db = tmp_path / "db.duckdb"
    assert _ingest(_setup(tmp_path, 5), db)[0] == 0
    digest = _sha(db)
    (tmp_path / "big.csv").write_text("c,t,a,x\n" + "".join(f"C{i:05d},2024-01-01 10:00,a,b\n" for i in range(20_000)))
    assert (tmp_path / "big.csv").stat().st_size == 560_008
    big = write_config(tmp_path, [{"name": "e", "kind": "events", "path": "big.csv", "columns": COLS}])
    monkeypatch.setattr(target, "free_bytes", lambda folder: 1_500_000)
    code, _out, err = _ingest(big, db)
    assert code == 2, err
    # staging and database 2 x 560,008 bytes, spill 2 x 560,008 (under temp_limit) -> 2,240,032 needed
    assert err == (f"error: Not enough free disk in '{tmp_path}' for this ingest: 1.5 MB free, about 2.2 MB "
                   f"needed (0.6 MB of input: staging and the new database 1.1 MB, spill up to 1.1 MB "
                   f"(limits.temp_limit)). Free space on that disk, or write the database to a folder on a "
                   f"larger disk. Nothing was changed.\n")
    assert _sha(db) == digest and _leftovers(tmp_path) == []
    monkeypatch.setattr(target, "free_bytes", lambda folder: 2_240_032)   # just enough: it loads
    assert _ingest(big, db)[0] == 0 and _count(db) == 20_000


def test_a_full_disk_is_one_clear_error_and_the_old_database_stays(tmp_path, monkeypatch):
    """Probe: a full disk reported 'internal error ... please report' with exit 3. The free-disk
    check refuses this run first; with the check fooled the disk fills during the build."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 3 MB tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        db = mnt / "db.duckdb"
        assert _ingest(_setup(tmp_path, 5), db)[0] == 0
        digest = _sha(db)
        random.seed(5)
        code, _out, err = _full_disk_case(tmp_path, db)
        assert code == 2 and err.startswith(f"error: Not enough free disk in '{mnt}'"), err
        assert _sha(db) == digest and sorted(os.listdir(mnt)) == [".db.duckdb.lock", "db.duckdb"]
        monkeypatch.setattr(target, "free_bytes", lambda folder: 10**12)
        code, _out, err = _full_disk_case(tmp_path, db)
        assert code == 2, err
        assert err.startswith(f"error: The disk holding '{mnt}' is full") and "No space left on device" in err
        assert "internal error" not in err and err.count("\n") == 1
        assert _sha(db) == digest and _count(db) == 5
        assert sorted(os.listdir(mnt)) == [".db.duckdb.lock", "db.duckdb"]   # half-built file removed
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


@pytest.mark.parametrize("failure", [
    duckdb.IOException('IO Error: Could not write file "x.duckdb": No space left on device'),
    OSError(28, "No space left on device"),
])
def test_a_full_disk_anywhere_in_the_build_is_exit_2(tmp_path, monkeypatch, failure):
    """The same without a tmpfs: the build fails with ENOSPC in the middle."""
    db = tmp_path / "db.duckdb"
    assert _ingest(_setup(tmp_path, 5), db)[0] == 0
    digest = _sha(db)

    def full(*_a, **_k):
        raise failure

    monkeypatch.setattr(pipeline, "build_derived", full)
    code, _out, err = _ingest(_setup(tmp_path, 50, seed=4), db)
    assert code == 2, err
    assert err.startswith(f"error: The disk holding '{tmp_path}' is full") and "internal error" not in err
    assert _sha(db) == digest and _leftovers(tmp_path) == []


# --- 4. one bad line must not refuse the file --------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "jsonl"])
def test_an_over_long_line_is_one_reject_on_its_own_line(tmp_path, fmt):
    """Probe: a line over ~2 MB refused the whole file, with a wrong line number."""
    lines = [("C1", "2024-01-01 10:00", "a"), ("C2", "2024-01-02 10:00", "b"), ("C3", "2024-01-03 10:00", "c"),
             ("C4", "2024-01-04 10:00", "x" * 2_500_000), ("C5", "never", "e"), ("C6", "2024-01-06 10:00", "f")]
    if fmt == "jsonl":
        text = "".join(json.dumps({"c": c, "t": t, "a": a}) + "\n" for c, t, a in lines)
        first, name = 1, "e.jsonl"
    else:
        text = "c,t,a\n" + "".join(f"{c},{t},{a}\n" for c, t, a in lines)
        first, name = 2, "e.csv"
    if fmt == "csv.gz":
        (tmp_path / "e.csv.gz").write_bytes(gzip.compress(text.encode()))
        name = "e.csv.gz"
    else:
        (tmp_path / name).write_text(text)
    cfg = write_config(tmp_path, [{"name": "e", "kind": "events", "path": name, "columns": COLS}])
    db = tmp_path / "db.duckdb"
    code, out, err = _ingest(cfg, db)
    assert code == 0, err
    src = json.loads(out)["sources"][0]
    assert (src["rows_read"], src["rows_loaded"]) == (6, 4)
    assert src["reasons"] == {"line too long": 1, "unparseable timestamp": 1}
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT line, reason FROM rejects ORDER BY line").fetchall() == [
            (first + 3, "line too long"), (first + 4, "unparseable timestamp")]
        detail = con.execute("SELECT detail FROM rejects WHERE reason = 'line too long'").fetchone()[0]
        assert "limits.max_line_bytes is 2,000,000" in detail
        assert con.execute("SELECT customer_id FROM events ORDER BY seq").fetchall() == [
            ("C1",), ("C2",), ("C3",), ("C6",)]


def test_a_stray_nul_byte_rejects_its_row_not_the_file(tmp_path):
    """Probe: one NUL byte inside a value refused a ten-line CSV as 'binary'."""
    rows = [f"C{i},2024-01-{i + 1:02d} 10:00,act{i}" for i in range(10)]
    rows[6] = "C6,2024-01-07 10:00,ac\x00t6"
    db = tmp_path / "db.duckdb"
    code, out, err = _ingest(_setup(tmp_path, text="c,t,a\n" + "\n".join(rows) + "\n"), db)
    assert code == 0, err
    assert json.loads(out)["sources"][0]["reasons"] == {"NUL byte": 1}
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute('SELECT line, "column", reason, value FROM rejects').fetchall() == [
            (8, "a", "NUL byte", "ac\\0t6")]
        assert con.execute("SELECT count(*) FROM events WHERE contains(activity, chr(0))").fetchone()[0] == 0
    assert _count(db) == 9
    (tmp_path / "e.jsonl").write_bytes(b'{"c": "C1", "t": "2024-01-01", "a": "x"}\n{"c": "C2", "t": "2024-01-01", '
                                       b'"a": "y\x00"}\n{"c": "C3", "t": "2024-01-01", "a": "z"}\n')
    code, out, err = _ingest(write_config(tmp_path, [{"name": "e", "kind": "events", "path": "e.jsonl",
                                                      "columns": COLS}]), db)
    assert code == 0, err
    assert json.loads(out)["sources"][0]["reasons"] == {"NUL byte": 1} and _count(db) == 2
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 40)        # real binary is still refused
    code, _out, err = _ingest(write_config(tmp_path, [{"name": "e", "kind": "events", "path": "bin.csv",
                                                      "columns": COLS}]), db)
    assert code == 2 and "looks binary" in err


def test_odd_json_keys_load_as_attributes(tmp_path):
    """Probe: a JSON key '*' gave an internal BinderException, a key ending in a backslash a
    JSON path error."""
    odd = {"*": "star", "odd\\": "backslash", 'q"uo.te[0]$': "path chars", "": "empty", "Note": "upper",
           "note": "lower"}
    lines = [{"c": "C1", "t": "2024-01-01 10:00", "a": "open"}, {"c": "C2", "t": "2024-01-02 10:00", "a": "x", **odd}]
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    db = tmp_path / "db.duckdb"
    code, out, err = _ingest(write_config(tmp_path, [{"name": "e", "kind": "events", "path": "e.jsonl",
                                                      "columns": COLS}]), db)
    assert code == 0, err
    assert json.loads(out)["sources"][0]["rows_loaded"] == 2
    with duckdb.connect(str(db), read_only=True) as con:
        (attrs,) = con.execute("SELECT attributes FROM events WHERE customer_id = 'C2'").fetchone()
    assert dict(attrs) == {"*": "star", "odd\\": "backslash", 'q"uo.te[0]$': "path chars", "column6": "empty",
                           "Note": "upper", "note_1": "lower"}


# --- 5. limits ---------------------------------------------------------------------------------

_CASES = """
import contextlib, io, json, resource, sys, time
# VmHWM: this process image's own peak (ru_maxrss keeps the peak of the process it was forked
# from across exec, so a child of a large pytest would report the parent's size)
peak = lambda: int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
from cjworkbench.cli import main
import cjworkbench.ingest
out = {"baseline": {"peak_mb": peak()}}
for name, *args in json.loads(sys.argv[1]):
    err, t0 = io.StringIO(), time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    out[name] = {"code": code, "stderr": err.getvalue(), "seconds": time.perf_counter() - t0, "peak_mb": peak()}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Four hostile files ingested by the real CLI in one fresh process (one import for all);
    per case: exit code, stderr, seconds and the process's peak RSS so far (MB)."""
    folder = tmp_path_factory.mktemp("hostile")
    bomb = b"x" * (1 << 20)
    wide_row = ",".join(["C1", "2024-01-01 10:00", "a"] + ["7"] * 9_997) + "\n"
    files = {  # 0.5 GB from 0.5 MB: once with an honest gzip trailer, once with a second member hiding it
        "bomb_declared": ("bomb1.csv.gz", _gzip_repeat(b"c,t,a\n", bomb, 512), {"max_decompressed_bytes": "100MB"}),
        "bomb_hidden": ("bomb2.csv.gz", _gzip_repeat(b"c,t,a\n", bomb, 512, tail_member=b"y\n"),
                        {"max_decompressed_bytes": "100MB"}),
        # 2 M valid rows (56 MB) from a 146 KB gzip
        "valid_rows": ("rows.csv.gz", _gzip_repeat(b"c,t,a\n", b"C1,2024-01-01 10:00:00,open\n" * 10_000, 200),
                       {"max_rows_per_source": 100_000}),
        # 10,000 columns x 30 rows, default limits
        "wide": ("wide.csv", ("c,t,a," + ",".join(f"x{i}" for i in range(9_997)) + "\n" + wide_row * 30).encode(),
                 None),
    }
    cases = []
    for name, (fname, data, limits) in files.items():
        sub = folder / name
        sub.mkdir()
        (sub / fname).write_bytes(data)
        cfg = write_config(sub, [{"name": "e", "kind": "events", "path": fname, "columns": COLS}],
                           **({"limits": limits} if limits else {}))
        cases.append([name, "ingest", "--quiet", "--config", str(cfg), "--db", str(sub / "db.duckdb")])
    r = subprocess.run([PY, "-c", _CASES, json.dumps(cases)], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for name in files:
        out[name]["folder"] = folder / name
    return out


@pytest.mark.parametrize("trailer", ["declared", "hidden"])
def test_a_gzip_bomb_is_refused_with_bounded_memory(hostile, trailer):
    """Probe: a 1 MB gzip that expands to 1 GB took 2.3 GB of memory to refuse. Here 0.5 GB
    from 0.5 MB; 'hidden' adds a small second member so the gzip trailer understates the size."""
    case = hostile[f"bomb_{trailer}"]
    assert case["code"] == 2, case["stderr"]
    assert case["stderr"].startswith("error: Source 'e', file")
    assert "expands to more than 100,000,000 bytes (limits.max_decompressed_bytes)" in case["stderr"]
    assert case["peak_mb"] < 600 and case["seconds"] < 20, case
    assert not (case["folder"] / "db.duckdb").exists() and _leftovers(case["folder"]) == []


def test_a_gzip_of_valid_rows_past_the_row_limit_is_refused_early(hostile):
    """Probe: a 2.4 MB gzip of valid CSV that expands to 1 GB became 35.7 M rows and a 15.6 GB
    peak. Here 2 M rows from a 146 KB gzip, with max_rows_per_source: 100000."""
    case = hostile["valid_rows"]
    assert case["code"] == 2, case["stderr"]
    assert ("has more than 100,000 lines, and a source may read at most 100,000 rows "
            "(limits.max_rows_per_source)") in case["stderr"]
    assert case["peak_mb"] < 600 and case["seconds"] < 20, case
    assert not (case["folder"] / "db.duckdb").exists()


def test_a_very_wide_file_is_refused_before_duckdb_sniffs_it(hostile):
    """Probe: a 10,000-column CSV of 1,000 rows took 120 s and 3 GB. Here 10,000 x 30 rows
    under the default limit of 1,000 columns."""
    case = hostile["wide"]
    assert case["code"] == 2, case["stderr"]
    assert "has 10,000 columns, more than 1,000 (limits.max_columns)" in case["stderr"]
    assert case["peak_mb"] < 600 and case["seconds"] < 10, case


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_row_and_column_limits_hold_for_every_format(tmp_path, fmt):
    import pandas as pd

    frame = pd.DataFrame({"c": [f"C{i}" for i in range(300)], "t": "2024-01-01 10:00", "a": "x"})
    if fmt == "jsonl":
        frame.to_json(tmp_path / "e.jsonl", orient="records", lines=True)
    else:
        frame.to_parquet(tmp_path / "e.parquet")
    src = [{"name": "e", "kind": "events", "path": f"e.{fmt}", "columns": COLS}]
    db = tmp_path / "db.duckdb"
    code, _out, err = _ingest(write_config(tmp_path, src, limits={"max_rows_per_source": 299}), db)
    assert code == 2 and "limits.max_rows_per_source" in err and "299" in err, err
    code, _out, err = _ingest(write_config(tmp_path, src, limits={"max_columns": 2}), db)
    assert code == 2 and "more than 2 (limits.max_columns)" in err, err
    code, _out, err = _ingest(write_config(tmp_path, src, limits={"max_rows_per_source": 300, "max_columns": 3}), db)
    assert code == 0, err
    assert _count(db) == 300


def test_duckdb_memory_and_spill_are_capped_from_the_limits(tmp_path, monkeypatch):
    seen = {}
    real = pipeline.build_derived

    def spy(backend, *customers):   # customers: a refresh rebuilds only theirs
        con = backend.con
        seen.update(dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                     "('memory_limit', 'max_temp_directory_size', 'temp_directory')").fetchall()))
        return real(backend, *customers)

    monkeypatch.setattr(pipeline, "build_derived", spy)
    cfg = _setup(tmp_path, 20, limits={"memory_limit": "300MB", "temp_limit": "1GB"})
    assert _ingest(cfg, tmp_path / "db.duckdb")[0] == 0
    assert seen["memory_limit"] == "286.1 MiB" and seen["max_temp_directory_size"] == "953.6 MiB"
    assert seen["temp_directory"] == str(tmp_path / f".db.duckdb.building-{os.getpid()}.tmp")
    assert not Path(seen["temp_directory"]).exists()                  # spill folder removed with the run
    cfg = _setup(tmp_path, 20)
    seen.clear()
    assert _ingest(cfg, tmp_path / "db.duckdb")[0] == 0
    assert seen["memory_limit"] == "3.7 GiB" and seen["max_temp_directory_size"] == "18.6 GiB"   # defaults


@pytest.mark.parametrize("limits, message", [
    ({"max_rows": 5}, "Unknown limit 'max_rows'. Expected one of: max_decompressed_bytes"),
    ({"memory_limit": "lots"}, "limits.memory_limit must be a size such as 500MB or 4GB"),
    ({"memory_limit": "8MB"}, "limits.memory_limit must be at least 64MB"),
    ({"max_columns": 0}, "limits.max_columns must be a whole number (at least 1), got 0"),
    ({"max_columns": "10"}, "limits.max_columns must be a whole number"),
    ({"lock_wait_seconds": -1}, "limits.lock_wait_seconds must be a number of seconds >= 0"),
    ("4GB", "'limits' must be a mapping"),
])
def test_limits_block_is_validated(tmp_path, limits, message):
    (tmp_path / "e.csv").write_text("c,t,a\n")
    cfg = write_config(tmp_path, [{"name": "e", "kind": "events", "path": "e.csv", "columns": COLS}], limits=limits)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert message in str(err.value)


def test_limits_parse_sizes_and_keep_defaults(tmp_path):
    (tmp_path / "e.csv").write_text("c,t,a\n")
    cfg = write_config(tmp_path, [{"name": "e", "kind": "events", "path": "e.csv", "columns": COLS}],
                       limits={"max_decompressed_bytes": "2GiB", "max_line_bytes": 5000, "memory_limit": "1.5GB"})
    lim = load_config(cfg).limits
    assert (lim.max_decompressed_bytes, lim.max_line_bytes, lim.memory_limit) == (2 * 2**30, 5000, 1_500_000_000)
    assert (lim.max_rows_per_source, lim.max_columns, lim.temp_limit) == (20_000_000, 1_000, 20 * 10**9)


def test_readme_documents_limits_lock_wal_and_new_key():
    from cjworkbench.config import LIMITS

    readme = (ROOT / "README.md").read_text()
    ingest = readme[readme.index("## Ingest"):readme.index("## Python and the query layer")]
    for key in LIMITS:
        assert f"`{key}`" in ingest, key
    for phrase in ("--new-key", "key_fingerprint", ".<db>.lock", "<db>.wal", ".<db>.building-", "limits:"):
        assert phrase in ingest, phrase
    contract = readme[readme.index("## The data contract"):readme.index("## Ingest")]
    assert "`key_fingerprint`" in contract
