"""secret.key on a file system without hard links (some FUSE and network mounts).

The key file is made by linking a synced temporary file to its name; where `os.link` is refused
(EPERM, ENOTSUP...), the first start failed, where creating the file exclusively had worked. It
now falls back to that, leaving no temporary file and, when the write fails, no secret.key.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from server.services import secrets
from server.services.secrets import SecretBox


def _no_links(src: str, dst: str) -> None:
    raise OSError(errno.EPERM, "Operation not permitted")


def test_a_key_is_made_where_hard_links_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    with monkeypatch.context() as m:
        m.setattr(secrets.os, "link", _no_links)
        box = SecretBox.from_config("", state)
        again = SecretBox.from_config("", state)  # the next start reads the same key
    path = state / "secret.key"
    Fernet(path.read_bytes())  # a whole key
    assert path.stat().st_mode & 0o777 == 0o600
    assert os.listdir(state) == ["secret.key"]  # no temporary file left behind
    assert again.decrypt(box.encrypt("x")) == "x"


def test_a_key_file_made_meanwhile_is_used_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    theirs = Fernet.generate_key()

    def another_server_wins(src: str, dst: str) -> None:
        Path(dst).write_bytes(theirs)  # another server made it between our check and our write
        raise OSError(errno.ENOTSUP, "Operation not supported")

    with monkeypatch.context() as m:
        m.setattr(secrets.os, "link", another_server_wins)
        box = SecretBox.from_config("", state)
    assert (state / "secret.key").read_bytes() == theirs
    assert Fernet(theirs).decrypt(box.encrypt("x").encode()) == b"x"
    assert os.listdir(state) == ["secret.key"]


def test_a_failed_write_without_links_leaves_no_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    real_fsync = os.fsync
    calls: list[int] = []

    def second_fsync_fails(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:  # the temporary file synced; the key file's write runs out of space
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    with monkeypatch.context() as m:
        m.setattr(secrets.os, "link", _no_links)
        m.setattr(secrets.os, "fsync", second_fsync_fails)
        with pytest.raises(OSError, match="No space left"):
            SecretBox.from_config("", state)
    assert os.listdir(state) == []  # neither secret.key nor a temporary file
