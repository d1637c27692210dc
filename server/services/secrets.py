"""Secrets at rest: Databricks tokens and cloud credentials, Fernet-encrypted.

The key comes from the server config (``TRIMTAB_SECRET_KEY``) or, when unset,
from ``<state_dir>/secret.key``, created on first use readable by its owner
only. Losing that file makes stored tokens unreadable (re-add the workspace).

`SecretBox.for_store` is how the server gets its key: it never makes a new key file
next to a database that already holds secrets (a second host or a redeploy pointing
``--db`` at the same PostgreSQL without the original state directory).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from server.errors import FailedPrecondition


class SecretBox:
    def __init__(self, key: str | bytes | None, *, missing: str = "") -> None:
        # key None: a server that has no key for the secrets its database holds (`for_store`);
        # every use of a secret fails with ``missing``, which says where the key should come from.
        self._missing = missing
        self._fernet: Fernet | None = None
        if key is None:
            return
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise FailedPrecondition("secret key is not a valid Fernet key (32 url-safe base64 bytes)") from exc

    @classmethod
    def from_config(cls, secret_key: str, state_dir: Path) -> SecretBox:
        if secret_key:
            return cls(secret_key)
        path = state_dir / "secret.key"
        if not path.exists():
            state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

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
        return cls.from_config(secret_key, state_dir)

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


def mask(secret: str) -> str:
    """``dapi…1f2e``: enough to recognise a token, not to use it."""
    if len(secret) <= 8:
        return "…" if secret else ""
    return f"{secret[:4]}…{secret[-4:]}"
