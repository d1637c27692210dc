"""Secrets at rest: Databricks tokens and cloud credentials, Fernet-encrypted.

The key comes from the server config (``TRIMTAB_SECRET_KEY``) or, when unset,
from ``<state_dir>/secret.key``, created on first use readable by its owner
only. Losing that file makes stored tokens unreadable (re-add the workspace).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from server.errors import FailedPrecondition


class SecretBox:
    def __init__(self, key: str | bytes) -> None:
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

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise FailedPrecondition("stored secret cannot be decrypted with this server's key") from exc


def mask(secret: str) -> str:
    """``dapi…1f2e``: enough to recognise a token, not to use it."""
    if len(secret) <= 8:
        return "…" if secret else ""
    return f"{secret[:4]}…{secret[-4:]}"
