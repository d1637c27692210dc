"""Ctrl-C exits 130 with one line saying so (docs/operations.md, "Exit codes"), not 1 "Aborted.".

click turns a KeyboardInterrupt into its Abort, which `server.cli.main` answered with the status of an
operational failure: a script could not tell a person's Ctrl-C from a server that refused. The real
`trimtab` in a subprocess, waiting on a server that took the connection and never answers, sent SIGINT
as a terminal sends it on Ctrl-C.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.cli.main import INTERRUPTED_LINE
from tests.cli_process_env import REPO, cli_process_env
from tests.e2e.terminal import as_a_terminal_starts_it


@pytest.fixture
def silent_server() -> Iterator[tuple[str, threading.Event]]:
    """An address whose listener accepts connections and never answers, and an event set at the first."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return  # closed
            accepted.set()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.close()
        for conn in held:
            conn.close()


def test_ctrl_c_while_a_command_waits_exits_130_with_one_line(
        tmp_path: Path, silent_server: tuple[str, threading.Event]) -> None:
    address, accepted = silent_server
    env = {**cli_process_env(tmp_path), "TRIMTAB_TOKEN": "tt_x_y"}
    proc = subprocess.Popen([sys.executable, "-m", "server.cli.main", "--server", address, "project", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            cwd=REPO, env=env, preexec_fn=as_a_terminal_starts_it)
    try:
        assert accepted.wait(60), proc.communicate(timeout=60)  # the command is waiting for its answer
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, err)
    assert [line for line in err.splitlines() if line.strip()] == [INTERRUPTED_LINE], err
    assert out == ""
