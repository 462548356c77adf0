"""Keyed hashing of personal columns, so raw names, e-mails and phone numbers never reach a table.

HMAC-SHA256 with a local secret: the same value always gives the same pseudonym (joins across
sources still work, ingests stay idempotent) while nobody without the key can test a guess.
The key comes from $CJW_PSEUDONYM_KEY, else from a file created once with mode 0600 in a folder
with mode 0700. The file appears atomically (written aside, fsync'd, then hard-linked into
place), so processes starting together all read the same complete key; an empty or weak key is
refused. Each run records the key's fingerprint, never the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from ..errors import ConfigError

KEY_ENV = "CJW_PSEUDONYM_KEY"
KEY_FILE_ENV = "CJW_PSEUDONYM_KEY_FILE"
DEFAULT_KEY_FILE = Path.home() / ".config" / "cjworkbench" / "pseudonym.key"
MIN_KEY_BYTES = 16
MIN_DISTINCT_BYTES = 8


def load_key(key_file: Path | None = None) -> bytes:
    """The local secret; created on first use when neither the variable nor the file exists."""
    if os.environ.get(KEY_ENV) is not None:
        return _checked(os.environ[KEY_ENV].encode(), f"${KEY_ENV}")
    key_file = Path(os.environ.get(KEY_FILE_ENV) or key_file or DEFAULT_KEY_FILE)
    if not key_file.exists():
        _create(key_file)
    if key_file.parent == DEFAULT_KEY_FILE.parent:
        _private_folder(key_file.parent)
    try:
        mode = key_file.stat().st_mode
        key = key_file.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"Cannot read the pseudonymisation key file '{key_file}' ({exc}).") from None
    if mode & stat.S_IROTH:
        raise ConfigError(f"The pseudonymisation key file '{key_file}' is readable by every user "
                          f"(mode {stat.S_IMODE(mode):04o}). Run `chmod 600 {key_file}`.")
    return _checked(key, f"key file '{key_file}'")


def key_fingerprint(key: bytes) -> str:
    """16 hex characters that identify a key without revealing it (recorded per ingest run)."""
    return hmac.new(key, b"cjworkbench-fingerprint", hashlib.sha256).hexdigest()[:16]


def _checked(key: bytes, where: str) -> bytes:
    if not key:
        raise ConfigError(f"The pseudonymisation key ({where}) is empty. Set it to a long random secret, "
                          f"e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`, or unset "
                          f"{KEY_ENV} to use the key file.")
    if len(key) < MIN_KEY_BYTES or len(set(key)) < MIN_DISTINCT_BYTES:
        raise ConfigError(f"The pseudonymisation key ({where}) is too weak: {len(key)} bytes, "
                          f"{len(set(key))} distinct; at least {MIN_KEY_BYTES} bytes with "
                          f"{MIN_DISTINCT_BYTES} distinct are needed. Use a long random secret, e.g. "
                          f"`python -c 'import secrets; print(secrets.token_hex(32))'`.")
    return key


def _create(key_file: Path) -> None:
    """Write a new key aside (0600, fsync'd) and hard-link it into place: the first link wins,
    and no reader can ever see a partial file."""
    tmp = key_file.with_name(f".{key_file.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        if not key_file.parent.is_dir():
            key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(key_file.parent, 0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            pass  # another process created it first: use theirs
        _fsync_dir(key_file.parent)
    except OSError as exc:
        raise ConfigError(f"Cannot create the pseudonymisation key file '{key_file}' ({exc}). "
                          f"Set {KEY_ENV} instead.") from None
    finally:
        tmp.unlink(missing_ok=True)


def _private_folder(folder: Path) -> None:
    """Our own config folder is 0700 (an older version created it 0755)."""
    try:
        if stat.S_IMODE(folder.stat().st_mode) & 0o077 and folder.stat().st_uid == os.getuid():
            os.chmod(folder, 0o700)
    except OSError:
        pass


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pseudonymiser(key: bytes):
    """A function value -> 'p_' + 20 hex characters of HMAC-SHA256 (None stays None)."""

    def pseudonym(value: str | None) -> str | None:
        if value is None or value == "":
            return value
        return "p_" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:20]

    return pseudonym
