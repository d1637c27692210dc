"""A file path that is not valid UTF-8 is a valid POSIX name: the CLI opens it (review owndiff 3).

The refusal of values that are not UTF-8 (`server.cli.undecodable`) took in the paths too: `server start
--tls-cert $'/etc/caf\\xe9/rsa.crt'` was exit 2, and so were --state-dir and a sqlite: --db, which the
operating system opens as given. Values sent anywhere (a PostgreSQL URL, a name for the server) are still
refused. The bytes go through argv and the environment as an operator's shell passes them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inprocess_cli import run_cli
from tests.server.conftest import REPO
from tests.server.test_server_tls_files import _cert, _key

LATIN1 = b"caf\xe9"  # café in Latin-1: not UTF-8


@pytest.fixture
def odd_dir(tmp_path: Path) -> Path:
    """A directory whose name is not valid UTF-8, as Python names it (surrogateescape)."""
    path = tmp_path / os.fsdecode(LATIN1)
    path.mkdir()
    return path


pytestmark = pytest.mark.usefixtures("nothing_from_the_environment")


def test_server_start_serves_with_tls_files_and_state_dir_whose_path_is_not_utf8(odd_dir: Path) -> None:
    cert, key = odd_dir / "rsa.crt", odd_dir / "rsa.key"
    _cert(cert, _key(key))
    env: dict[bytes, bytes] = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()
                               if not k.startswith("TRIMTAB_")}
    env.update({b"PYTHONPATH": os.fsencode(REPO), b"TRIMTAB_COLLECT": b"0",
                b"TRIMTAB_TLS_KEY": os.fsencode(key)})  # the variable, as the option, is a path
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli.main", "server", "start", "--listen", "127.0.0.1:0", "--http", "",
         b"--state-dir", os.fsencode(odd_dir / "state"), b"--tls-cert", os.fsencode(cert)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("listening on "), (line, proc.stderr.read() if proc.stderr else "")
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert (odd_dir / "state" / "trimtab.db").is_file()


@pytest.mark.parametrize("where", ["--state-dir", "--db"])
def test_store_commands_open_a_database_whose_path_is_not_utf8(odd_dir: Path, capsys: pytest.CaptureFixture[str],
                                                              where: str) -> None:
    option = [where, str(odd_dir)] if where == "--state-dir" else [where, f"sqlite:///{odd_dir / 'trimtab.db'}"]
    code, out, err = run_cli(capsys, "--json", "token", "create", "--name", "me", "--scope", "admin", *option,
                             "--create-database")
    assert code == 0, err
    created = json.loads(out)["token_id"]
    assert err.startswith(f"database: sqlite:///{odd_dir.parent}/caf%E9/")  # shown percent-encoded, as é is
    code, out, err = run_cli(capsys, "--json", "token", "list", *option)
    assert code == 0, err
    assert [t["token_id"] for t in json.loads(out)] == [created]
    code, out, err = run_cli(capsys, "db", "status", *option)
    assert code == 0 and "up to date" in out, err
    assert (odd_dir / "trimtab.db").is_file()


def test_a_postgresql_url_that_is_not_utf8_is_still_refused(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://root@/" + os.fsdecode(LATIN1) + "?host=/var/run/postgresql"
    code, out, err = run_cli(capsys, "token", "list", "--db", url)
    assert (code, out) == (2, "")
    assert err.startswith("error: Invalid value for '--db': the byte 0xe9 in it is not valid UTF-8")
