"""secret.key is written whole or not at all, and a broken one is named with what to do.

A first start killed (or out of disk space) after creating secret.key but before writing the
key left a 0-byte file, and every later start failed with "secret key is not a valid Fernet
key", naming no file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from server.config import ServerConfig
from server.domain import Workspace
from server.errors import FailedPrecondition
from server.serve import start_server
from server.services import secrets
from server.services.secrets import SecretBox
from server.store import Store


def test_a_new_key_file_is_whole_and_owner_only(tmp_path: Path) -> None:
    box = SecretBox.from_config("", tmp_path / "state")
    path = tmp_path / "state" / "secret.key"
    key = path.read_bytes()
    Fernet(key)  # a whole key
    assert path.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path / "state") == ["secret.key"]  # no temporary file left behind
    assert SecretBox.from_config("", tmp_path / "state").decrypt(box.encrypt("x")) == "x"


def test_a_write_that_fails_midway_leaves_no_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(secrets.os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space left"):
            SecretBox.from_config("", tmp_path / "state")
    assert os.listdir(tmp_path / "state") == []  # neither secret.key nor a temporary file
    SecretBox.from_config("", tmp_path / "state")  # the next start makes the key
    Fernet((tmp_path / "state" / "secret.key").read_bytes())


def test_servers_starting_at_once_share_one_key(tmp_path: Path) -> None:
    boxes: list[SecretBox] = []
    go = threading.Barrier(8)

    def start() -> None:
        go.wait()
        boxes.append(SecretBox.from_config("", tmp_path / "state"))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    token = boxes[0].encrypt("x")
    assert all(b.decrypt(token) == "x" for b in boxes)
    assert os.listdir(tmp_path / "state") == ["secret.key"]


def test_an_empty_key_file_is_named_and_deletable_when_the_database_holds_no_secrets(
        any_store: Store, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "secret.key").write_bytes(b"")  # what a killed first start left
    config = ServerConfig(listen="127.0.0.1:0", state_dir=state, collect=0)
    with pytest.raises(FailedPrecondition) as err:
        start_server(config, any_store)
    path = state / "secret.key"
    assert str(err.value) == (f"secret key file {path} is empty (a first start killed or out of disk space before "
                              f"the key was written): this database holds no secrets yet, so delete {path} and "
                              "start again to make a new key")
    path.unlink()  # as told
    start_server(config, any_store).stop(0)
    Fernet(path.read_bytes())


def test_an_empty_key_file_beside_a_database_holding_secrets_is_not_called_deletable(
        any_store: Store, tmp_path: Path) -> None:
    any_store.workspaces.add(Workspace(name="sb", host="https://adb-1.cloud.databricks.com", cloud="aws"),
                             SecretBox(Fernet.generate_key()).encrypt("dapi-secret"), "")
    state = tmp_path / "state"
    state.mkdir()
    (state / "secret.key").write_bytes(b"\n")
    with pytest.raises(FailedPrecondition) as err:
        start_server(ServerConfig(listen="127.0.0.1:0", state_dir=state, collect=0), any_store)
    message = str(err.value)
    assert message.startswith(f"secret key file {state / 'secret.key'} is empty")
    assert "holds secrets encrypted with another key" in message and "delete" not in message


def test_a_key_that_is_not_a_key_names_where_it_came_from(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_bytes(b"not-a-key")
    with pytest.raises(FailedPrecondition, match=f"^{tmp_path / 'secret.key'} is not a valid Fernet key"):
        SecretBox.from_config("", tmp_path)
    with pytest.raises(FailedPrecondition, match="^TRIMTAB_SECRET_KEY is not a valid Fernet key"):
        SecretBox.from_config("nope", tmp_path)
