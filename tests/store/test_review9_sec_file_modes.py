"""The SQLite database and a new state directory are readable by their owner alone (security review,
ninth session): they were created 0644 / 0755, and the database holds every job cluster's spec, whose
spark_conf and spark_env_vars may carry credentials."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from server.services.secrets import SecretBox
from server.store import open_store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_directory_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, under which they came out world-readable
    try:
        db = tmp_path / "state" / "trimtab.db"
        store = open_store(f"sqlite:///{db}")
        try:
            store.tokens.create("cli", "admin")  # a write, so the -wal file exists
            files = [p for p in db.parent.iterdir() if p.name.startswith("trimtab.db")]
            assert {p.name for p in files} >= {"trimtab.db", "trimtab.db-wal"}
            assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
            assert _mode(db.parent) == 0o700
        finally:
            store.close()
        SecretBox.from_config("", tmp_path / "other")  # the key file's state directory
        assert _mode(tmp_path / "other") == 0o700
    finally:
        os.umask(old)


def test_an_older_database_readable_by_others_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "trimtab.db"
    open_store(f"sqlite:///{db}").close()
    db.chmod(0o644)  # as an older server left it
    caplog.set_level(logging.WARNING, logger="server.store.store")
    open_store(f"sqlite:///{db}").close()
    assert any(f"database {db} is readable by other users (mode 644)" in r.getMessage() for r in caplog.records)
    assert _mode(db) == 0o644  # left as it is: the owner may have meant it (a group that runs backups)
