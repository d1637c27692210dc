"""Secrets at rest: Databricks tokens and cloud credentials, Fernet-encrypted.

The key comes from the server config (``TRIMTAB_SECRET_KEY``) or, when unset,
from ``<state_dir>/secret.key``, created on first use readable by its owner
only. Losing that file makes stored tokens unreadable (re-add the workspace).

`SecretBox.for_store` is how the server gets its key: it never makes a new key file
next to a database that already holds secrets (a second host or a redeploy pointing
``--db`` at the same PostgreSQL without the original state directory).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from server.errors import FailedPrecondition


class SecretBox:
    def __init__(self, key: str | bytes | None, *, missing: str = "", source: str = "the secret key") -> None:
        # key None: a server that has no key for the secrets its database holds (`for_store`);
        # every use of a secret fails with ``missing``, which says where the key should come from.
        # ``source`` names where the key came from, for the error when it is not a key.
        self._missing = missing
        self._fernet: Fernet | None = None
        if key is None:
            return
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise FailedPrecondition(f"{source} is not a valid Fernet key (32 url-safe base64 bytes)") from exc

    @classmethod
    def from_config(cls, secret_key: str, state_dir: Path, *, holds_secrets: bool | None = None) -> SecretBox:
        """The key of ``TRIMTAB_SECRET_KEY``, else of ``<state_dir>/secret.key`` (made when missing).

        ``holds_secrets`` (whether the database holds secrets, None when not known) shapes the advice
        when the key file is empty."""
        if secret_key:
            return cls(secret_key, source="TRIMTAB_SECRET_KEY")
        path = state_dir / "secret.key"
        if not path.exists():
            _create_key_file(path)
        key = path.read_bytes().strip()
        if not key:
            raise FailedPrecondition(_empty_key_file(path, holds_secrets))
        return cls(key, source=f"{path}")

    @classmethod
    def for_store(cls, secret_key: str, state_dir: Path, holds_secrets: bool) -> SecretBox:
        """The server's key; never a new one next to a database that already holds secrets.

        With no TRIMTAB_SECRET_KEY and no key file, a key is made only for a database without
        secrets. Otherwise the secrets were encrypted with a key that lives elsewhere (another
        --state-dir), which a new key could never read, and every token added would then be under
        a key that differs from the others: the box has no key, and each use of a secret says
        where to find it. The server still starts and logs an ERROR (`server.serve`): what needs
        no secret keeps working, and a lost key is replaced on purpose, never by accident."""
        path = state_dir / "secret.key"
        if not secret_key and not path.exists() and holds_secrets:
            return cls(None, missing=(
                f"this server has no secret key: the stored secrets were encrypted with a key that is not "
                f"here (no TRIMTAB_SECRET_KEY, no {path}): start with the original --state-dir or set "
                "TRIMTAB_SECRET_KEY to that key"))
        return cls.from_config(secret_key, state_dir, holds_secrets=holds_secrets)

    @property
    def has_key(self) -> bool:
        return self._fernet is not None

    def unreadable(self, stored: Iterable[tuple[str, str]]) -> list[str]:
        """What of ``stored`` (what, ciphertext) this key cannot decrypt."""
        return [what for what, ciphertext in stored if not self.can_decrypt(ciphertext)]

    def can_decrypt(self, ciphertext: str) -> bool:
        if self._fernet is None:
            return False
        try:
            self._fernet.decrypt(ciphertext.encode())
        except InvalidToken:
            return False
        return True

    def encrypt(self, plaintext: str) -> str:
        if self._fernet is None:
            raise FailedPrecondition(self._missing)
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        if self._fernet is None:
            raise FailedPrecondition(f"stored secret cannot be decrypted: {self._missing}")
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            # Mostly a server started with another key than the one that encrypted it: say so, since
            # a new token only helps when the original key is lost.
            raise FailedPrecondition("stored secret cannot be decrypted with this server's key: start the "
                                     "server with the key that encrypted it (its original --state-dir or "
                                     "TRIMTAB_SECRET_KEY), or add the token again if that key is lost") from exc


def _create_key_file(path: Path) -> None:
    """Write a new key to `path` whole or not at all.

    The key goes to a temporary file beside it, is synced, and only then linked to its name: a
    first start killed or out of disk space midway used to leave an empty secret.key that every
    later start refused. Linking never replaces a key another server process made meanwhile
    (that one is used).

    A file system without hard links (some FUSE and network mounts) refuses the link: the key is
    then written as before linking existed, to the name created exclusively, and that name is
    removed again if the write fails."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # a new state directory: owner only
    key = Fernet.generate_key()
    fd, tmp = tempfile.mkstemp(prefix=".secret.key.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return
        except OSError:
            _write_exclusive(path, key)
            return
        _sync_dir(path.parent)
    finally:
        os.unlink(tmp)


def _write_exclusive(path: Path, key: bytes) -> None:
    """Create `path` (failing if it exists: another server's key is used) holding `key`, synced."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        # Not an empty or partial secret.key that every later start would refuse.
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    """Make a new name in `directory` survive a crash (not every file system can sync a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _empty_key_file(path: Path, holds_secrets: bool | None) -> str:
    said = (f"secret key file {path} is empty (a first start killed or out of disk space before the key was "
            "written)")
    if holds_secrets is False:
        return (f"{said}: this database holds no secrets yet, so delete {path} and start again to make a new "
                "key")
    if holds_secrets:
        return (f"{said}, and the database holds secrets encrypted with another key: put that key in {path} "
                "or set TRIMTAB_SECRET_KEY to it (if it is lost: docs/operations.md, 'The secret key')")
    return (f"{said}: if the database holds no secrets yet, delete {path} and start again to make a new key; "
            "otherwise put the original key in it or set TRIMTAB_SECRET_KEY")


def mask(secret: str) -> str:
    """``dapi…1f2e``: enough to recognise a token, not to use it."""
    if len(secret) <= 8:
        return "…" if secret else ""
    return f"{secret[:4]}…{secret[-4:]}"
