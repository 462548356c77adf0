"""Keyed hashing of personal columns, so raw names, e-mails and phone numbers never reach a table.

HMAC-SHA256 with a local secret: the same value always gives the same pseudonym (joins across
sources still work, ingests stay idempotent) while nobody without the key can test a guess.
The key comes from $CJW_PSEUDONYM_KEY, else from a file created once with mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from ..errors import ConfigError

KEY_ENV = "CJW_PSEUDONYM_KEY"
DEFAULT_KEY_FILE = Path.home() / ".config" / "cjworkbench" / "pseudonym.key"


def load_key(key_file: Path | None = None) -> bytes:
    """The local secret; created on first use when neither the variable nor the file exists."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()
    key_file = Path(os.environ.get("CJW_PSEUDONYM_KEY_FILE", key_file or DEFAULT_KEY_FILE))
    if not key_file.exists():
        try:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        except FileExistsError:
            pass
        except OSError as exc:
            raise ConfigError(f"Cannot create the pseudonymisation key file '{key_file}' ({exc}). "
                              f"Set {KEY_ENV} instead.") from None
    return key_file.read_text().strip().encode()


def pseudonymiser(key: bytes):
    """A function value -> 'p_' + 20 hex characters of HMAC-SHA256 (None stays None)."""

    def pseudonym(value: str | None) -> str | None:
        if value is None or value == "":
            return value
        return "p_" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:20]

    return pseudonym
