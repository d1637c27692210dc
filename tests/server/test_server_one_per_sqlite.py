"""One server per SQLite file (server/server_lock.py): on SQLite the project locks live in one
server's memory, so a second server on the file would collect, plan and apply over the first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server.config import ServerConfig
from server.errors import FailedPrecondition
from server.serve import start_server
from server.store import open_store


def _config(state: Path) -> ServerConfig:
    return ServerConfig(listen="127.0.0.1:0", state_dir=state, collect=0)


def test_a_second_server_on_the_file_is_refused_until_the_first_stops(tmp_path: Path) -> None:
    first = start_server(_config(tmp_path))
    try:
        with pytest.raises(FailedPrecondition, match=rf"another Trimtab server \(process {os.getpid()}\) is serving "
                                                     rf"the SQLite database {tmp_path / 'trimtab.db'}: .*PostgreSQL"):
            start_server(_config(tmp_path))
        # Another database is another matter; a server given its store (the demo, tests) claims nothing.
        other = start_server(_config(tmp_path / "other"))
        other.stop(0)
        store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
        try:
            start_server(_config(tmp_path), store).stop(0)
        finally:
            store.close()
    finally:
        first.stop(0)
    start_server(_config(tmp_path)).stop(0)  # released at stop


def test_a_killed_server_leaves_no_claim_behind(tmp_path: Path) -> None:
    env = {**os.environ, "TRIMTAB_STATE_DIR": str(tmp_path), "TRIMTAB_LISTEN": "127.0.0.1:0", "TRIMTAB_COLLECT": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "server.cli.entry", "server", "start"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while "listening on" not in proc.stdout.readline():
            assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
        with pytest.raises(FailedPrecondition, match=rf"\(process {proc.pid}\)"):
            start_server(_config(tmp_path))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    start_server(_config(tmp_path)).stop(0)
