"""A damaged SQLite file, or a state directory Trimtab cannot write, is one line naming the file and
what to do, for every command and for `server start`. Before: `(sqlite3.DatabaseError) file is not a
database` (no path, no next step), `database unavailable: unable to open database file`, and
`server start` a bare `[Errno 30] Read-only file system: '.../trimtab.db.server.lock'`."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.cli.main import main
from server.errors import Unavailable
from server.server_lock import claim
from server.store import open_store
from tests.cli_process_env import cli_process_env
from tests.conftest import _require

REPO = Path(__file__).resolve().parents[2]
COMMANDS = [("db", "status"), ("token", "list"), ("token", "create", "--name", "t", "--scope", "admin")]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err.strip().splitlines()[-1]


def _real_database(state: Path) -> Path:
    state.mkdir(parents=True)
    db_file = state / "trimtab.db"
    open_store(f"sqlite:///{db_file}").close()
    # One file (no -wal), as a backup copied elsewhere would be.
    with contextlib.closing(sqlite3.connect(db_file)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    return db_file


@pytest.mark.parametrize(("damage", "reason"), [
    ("garbage", "file is not a database"),
    ("truncated", "database disk image is malformed"),
])
def test_a_damaged_database_is_named_with_what_to_do(damage: str, reason: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIMTAB_DB", raising=False)
    state = tmp_path / "state"
    db_file = _real_database(state)
    if damage == "garbage":
        db_file.write_bytes(os.urandom(10_000))
    else:
        os.truncate(db_file, db_file.stat().st_size // 2)
    for command in COMMANDS:
        code, line = _run(capsys, *command, "--state-dir", str(state))
        assert code == 1, command
        assert line == (f"error: database {db_file} is damaged ({reason}): restore it from a backup "
                        "(docs/operations.md, 'A damaged or unwritable SQLite database'); Trimtab cannot read "
                        "it as it is"), command
    with pytest.raises(Unavailable, match=rf"^database {db_file} is damaged \({reason}\)"):
        open_store(f"sqlite:///{db_file}")


@contextlib.contextmanager
def _read_only(directory: Path) -> Iterator[str]:
    """``directory`` made read-only for this process: a read-only bind mount as root (root writes
    through any mode), else mode 0500. Yields the words the message gives for it."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield f"no permission to write in {directory} as user {os.geteuid()}"
        finally:
            directory.chmod(0o700)
        return
    mounted = subprocess.run(["mount", "--bind", str(directory), str(directory)], capture_output=True)
    if mounted.returncode != 0:
        # In CI a refused mount fails (tests/conftest.py `_require`): never a silent skip there.
        _require(f"a bind mount of a state directory ({mounted.stderr.decode().strip()})")
    try:
        remount = subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)], capture_output=True)
        if remount.returncode != 0:
            _require(f"a read-only remount of a state directory ({remount.stderr.decode().strip()})")
        yield f"{directory} is on a read-only file system"
    finally:
        # Lazy: a connection this process still holds on the file must not keep the mount.
        subprocess.run(["umount", "--lazy", str(directory)], check=True)


def test_a_read_only_state_directory_is_named_with_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIMTAB_DB", raising=False)
    state = tmp_path / "state"
    db_file = _real_database(state)
    empty = tmp_path / "empty"
    empty.mkdir()
    with _read_only(state) as why, _read_only(empty) as why_empty:
        for command in COMMANDS:
            code, line = _run(capsys, *command, "--state-dir", str(state))
            assert code == 1, command
            assert line.startswith(f"error: cannot open {db_file}: {why}"), (command, line)
            assert "--state-dir or --db" in line
        # A new database in it (`token create --create-database` makes one where the user named a place), and a state
        # directory to be made inside it.
        for where in (empty, empty / "sub"):
            code, line = _run(capsys, "token", "create", "--name", "t", "--scope", "admin", "--state-dir", str(where),
                              "--create-database")
            assert code == 1 and line.startswith(f"error: cannot open {where / 'trimtab.db'}: {why_empty}"), line
        # The server's claim on the file, which comes first at `server start`.
        with pytest.raises(Unavailable, match=rf"^cannot open {db_file}: "):
            claim(f"sqlite:///{db_file}")


def test_server_start_on_a_damaged_database_says_so_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    db_file = _real_database(state)
    db_file.write_bytes(b"not a database" * 1000)
    env = cli_process_env(tmp_path)
    out = subprocess.run([sys.executable, "-m", "server.cli.main", "server", "start", "--listen", "127.0.0.1:0",
                          "--state-dir", str(state)], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert out.returncode == 1 and "listening on" not in out.stdout
    assert out.stderr.strip().splitlines()[-1].startswith(
        f"error: database {db_file} is damaged (file is not a database): restore it from a backup"), out.stderr


def test_the_section_the_messages_name_exists() -> None:
    from server.store.sqlite_files import DOCS

    page, _, heading = DOCS.partition(", ")
    assert f"\n## {heading.strip(chr(39))}\n" in (REPO / page).read_text()
