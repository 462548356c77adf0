"""The database file an ingest replaces: one ingest at a time, no writer, no stale WAL, no debris.

Building aside and `os.replace`-ing over the target is atomic for readers, but DuckDB keeps
committed changes of an open or crashed writer in `<db>.wal` and replays that file on the next
open of `<db>` -- even read-only, even on top of a different file (stack-notes). So before a
swap:

* `ingest_lock` -- `flock` on `.<db>.lock`: concurrent ingests of one database queue for a
  bounded time, then stop with a clear error;
* `remove_debris` -- the half-built files and spill folders of killed runs are removed;
* `hold_target` -- a shared OFD lock on `<db>` (it conflicts with DuckDB's own write lock, not
  with read-only dashboards): a writer holding the file is refused, and none can open it until
  the swap is done. Any `<db>.wal` then belongs to no live writer; it is moved aside, never
  replayed onto the new file.
"""

from __future__ import annotations

import errno
import os
import shutil
import struct
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..errors import DatabaseError, WorkbenchError
from ..model import SCRATCH

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locks, the swap is still atomic
    fcntl = None

_FLOCK = "hhqqi4x"  # struct flock on Linux x86-64/arm64: type, whence, start, len, pid


def lock_path(db: Path) -> Path:
    return db.with_name(f".{db.name}.lock")


def build_path(db: Path, pid: int | None = None) -> Path:
    return db.with_name(f".{db.name}.building-{pid if pid is not None else os.getpid()}")


def spill_dir(db: Path) -> Path:
    """The run's scratch folder: DuckDB's spill files and the staging database (`STAGING`)."""
    return Path(str(build_path(db)) + ".tmp")


STAGING = f"{SCRATCH}.duckdb"   # inside `spill_dir`: removed with it, and as debris after a kill
# disk an ingest may use per byte of input, and the spill of its sorts and windows (at most
# limits.temp_limit). Measured on the benchmark CSV at 10 M events (0.72 GB): new database 0.61,
# staging database at its largest 0.49, spill 0.26 (0.79 GB together at the peak); the margin is
# for spill that grows faster than the input once a sort no longer fits in memory_limit.
DISK_PER_INPUT_BYTE = 2.0
SPILL_PER_INPUT_BYTE = 2.0


def _bytes(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def check_free_disk(folder: Path, input_bytes: int, temp_limit: int, copy_bytes: int = 0) -> None:
    """Stop before reading a row when the disk holding `folder` cannot take the run: the staged and
    the new database (`DISK_PER_INPUT_BYTE` x the input), the spill (capped by `temp_limit`) and,
    for a refresh, the copy of the database (`copy_bytes`)."""
    spill = min(temp_limit, int(SPILL_PER_INPUT_BYTE * input_bytes))
    need = int(DISK_PER_INPUT_BYTE * input_bytes) + spill + copy_bytes
    free = free_bytes(folder)
    if free < need:
        copy = f", the copy of the database {_bytes(copy_bytes)}" if copy_bytes else ""
        raise DatabaseError(
            f"Not enough free disk in '{folder}' for this ingest: {_bytes(free)} free, about {_bytes(need)} "
            f"needed ({_bytes(input_bytes)} of input: staging and the new database "
            f"{_bytes(DISK_PER_INPUT_BYTE * input_bytes)}, spill up to {_bytes(spill)} (limits.temp_limit){copy}). "
            f"Free space on that disk, or write the database to a folder on a "
            f"larger disk. Nothing was changed.")


@contextmanager
def ingest_lock(db: Path, *, wait: float, note, poll: float = 0.2):
    """Hold `.<db>.lock` (flock) for the body; wait up to `wait` seconds for another ingest."""
    if fcntl is None:
        yield
        return
    path = lock_path(db)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DatabaseError(f"Cannot create the ingest lock '{path}' ({exc}). Is the folder writable?") from None
    try:
        deadline, told = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if time.monotonic() >= deadline:
                    raise DatabaseError(
                        f"Another ingest{holder} is writing '{db}' and did not finish within "
                        f"{wait:g} s. Wait for it and run again, or raise limits.lock_wait_seconds "
                        f"in the config.") from None
                if not told:
                    note(f"waiting for another ingest{holder} of {db.name} to finish (at most {wait:g} s)")
                    told = True
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def _holder(path: Path) -> str:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return ""
    return f" (PID {pid})"


def remove_debris(db: Path, note) -> None:
    """Remove what killed runs left beside `db` (call with the ingest lock held: no other
    ingest of `db` is running, so every building file but ours is a dead run's)."""
    mine = build_path(db)
    found = []
    for path in db.parent.glob(f".{_glob_escape(db.name)}.building-*"):
        if path == mine or str(path).startswith(str(mine) + "."):
            continue
        size = _size(path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        found.append((path.name, size))
    if found:
        pids = sorted({n.split(".building-")[1].split(".")[0] for n, _ in found})
        note(f"removed {len(found)} file(s) left by interrupted ingest(s) (PID {', '.join(pids)}; "
             f"{sum(s for _, s in found):,} bytes): {', '.join(sorted(n for n, _ in found))}")


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _size(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0


@contextmanager
def hold_target(db: Path, note):
    """Refuse a writer holding `db`; keep writers out until the body (the swap) is done; move a
    stale `<db>.wal` aside first."""
    fd = None
    if fcntl is not None and db.exists():
        try:
            fd = os.open(db, os.O_RDONLY)
        except OSError as exc:
            raise DatabaseError(f"Cannot open '{db}' to replace it ({exc}).") from None
        try:
            _shared_lock(fd)
        except OSError as exc:
            pid = _writer_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise DatabaseError(f"Cannot lock '{db}' ({exc}).") from None
            raise DatabaseError(
                f"'{db}' is open for writing by another process{f' (PID {pid})' if pid else ''}. "
                f"Close that connection (notebooks and dashboards must open the database "
                f"read-only) and run the ingest again; nothing was changed.") from None
    try:
        _set_aside_wal(db, note)
        yield
    finally:
        if fd is not None:
            os.close(fd)


def _shared_lock(fd: int) -> None:
    """A shared open-file-description lock: it conflicts with DuckDB's write lock (a POSIX
    record lock) but with neither read-only readers nor DuckDB handles in this process."""
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack(_FLOCK, fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0))


def _writer_pid(fd: int) -> int | None:
    try:
        kind, _w, _s, _l, pid = struct.unpack(_FLOCK, fcntl.fcntl(
            fd, fcntl.F_OFD_GETLK, struct.pack(_FLOCK, fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0)))
    except OSError:
        return None
    return pid if kind == fcntl.F_WRLCK and pid > 0 else None


def _set_aside_wal(db: Path, note) -> None:
    wal = Path(str(db) + ".wal")
    if not wal.exists():
        return
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = wal.with_name(f"{wal.name}.stale-{stamp}-{os.getpid()}")
    os.replace(wal, aside)
    os.chmod(aside, 0o600)
    note(f"moved a stale write-ahead log aside ({aside.stat().st_size:,} bytes; left by a writer that "
         f"is no longer running, or copied from another database): {aside.name}. It is never replayed "
         f"onto the new database; delete it once you know nothing in it is needed.")


def copy_aside(db: Path, build: Path) -> None:
    """A refresh works on a private copy of the database (readers keep the original until the swap)."""
    shutil.copyfile(db, build)
    os.chmod(build, 0o600)


def disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT from Python, or DuckDB's wording of it."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("no space left on device", "disk full", "disk quota exceeded",
                                   "not enough space"))


def swap_in(build: Path, db_path: Path) -> None:
    """The checkpointed file, private to its owner, replaces the target in one rename."""
    wal = Path(str(build) + ".wal")
    if wal.exists() and wal.stat().st_size:
        raise WorkbenchError(f"Internal error: the new database kept a write-ahead log ({wal}) after its "
                             f"checkpoint; it was not swapped in.")
    wal.unlink(missing_ok=True)
    os.chmod(build, 0o600)
    fd = os.open(build, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(build, db_path)
    fd = os.open(db_path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def out_of_memory(exc: BaseException, limits) -> str:
    text = first_line(exc)
    if "max_temp_directory_size" in text or "temp" in text.lower():
        return (f"DuckDB ran out of room for temporary files (limits.temp_limit = {limits.temp_limit:,} bytes, "
                f"limits.memory_limit = {limits.memory_limit:,} bytes): {text}. Raise them in the config's "
                f"`limits:` block if the disk has room. Nothing was changed.")
    return (f"DuckDB ran out of memory while staging (limits.memory_limit = {limits.memory_limit:,} bytes): "
            f"{text}. Raise limits.memory_limit in the config's `limits:` block if the machine has the "
            f"memory. Nothing was changed.")


def remove_build(path: Path) -> None:
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)
