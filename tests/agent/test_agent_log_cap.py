"""agent.log (the agent's stderr under the init script, on the driver's disk) stays under a size cap.

It was never rotated. The supervisor opens it once in append mode and the agent, gRPC's C core
and the supervisor all write to that one file, so the cap keeps its newest half in place and
every writer goes on appending at the new end.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent.logcap import CappedStreamHandler
from tests.agent.conftest import REPO, TOKEN, IngestServer, RecordingIngest

CAP = 64 * 1024


def test_the_log_keeps_its_newest_half_and_other_writers_append_after_it(tmp_path: Path):
    path = tmp_path / "agent.log"
    other = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # the supervisor's `>>agent.log`
    stream = path.open("a")
    handler = CappedStreamHandler(stream, CAP)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.Logger("capped-test")
    logger.addHandler(handler)
    try:
        for i in range(5000):  # about 500 KB in all
            logger.warning("line %05d %s", i, "x" * 90)
            if i % 1000 == 0:
                os.write(other, f"supervisor line {i}\n".encode())
            assert path.stat().st_size <= CAP + 200
        os.write(other, b"supervisor line last\n")
    finally:
        os.close(other)
        stream.close()
    data = path.read_bytes()
    assert handler.cuts > 5
    assert b"\0" not in data  # no hole: every writer went on at the new end
    lines = data.decode().splitlines()
    assert "older lines were cut" in lines[0] and "TRIMTAB_AGENT_LOG_MAX_BYTES" in lines[0]
    assert lines[-2].startswith("line 04999") and lines[-1] == "supervisor line last"
    kept = [int(x.split()[1]) for x in lines[1:-1] if x.startswith("line ")]
    assert kept == list(range(kept[0], 5000))  # the newest, in order, none lost by the cap itself


def test_a_terminal_or_pipe_is_left_alone(tmp_path: Path):
    r, w = os.pipe()
    with os.fdopen(w, "w") as stream, os.fdopen(r, "rb") as reader:
        handler = CappedStreamHandler(stream, CAP)
        handler.emit(logging.makeLogRecord({"msg": "hello"}))
        stream.flush()
        assert handler.cuts == 0
        os.set_blocking(r, False)
        assert reader.read().strip() == b"hello"


def test_the_agent_caps_its_stderr_file_at_the_configured_size(tmp_path: Path):
    """The real process, its stderr an append-mode agent.log already over the cap (as the init script starts it)."""
    log_file = tmp_path / "agent.log"
    log_file.write_bytes(b"an old line from earlier starts of the agent\n" * 4000)  # 180 KB
    srv = IngestServer(RecordingIngest()).start()
    srv.stop()
    (tmp_path / "logs").mkdir()  # nothing to send: the agent starts, logs its start lines and stops
    env = dict(os.environ, PYTHONPATH=str(REPO), TRIMTAB_TOKEN=TOKEN, TRIMTAB_AGENT_LOG_MAX_BYTES=str(CAP))
    with log_file.open("ab") as out:
        agent = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--eventlog-dir", str(tmp_path / "logs"),
                                  "--server", srv.address, "--state-dir", str(tmp_path / "state")],
                                 cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=out)
    try:
        deadline = time.monotonic() + 20
        while b"connecting to the server" not in log_file.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
    data = log_file.read_bytes()
    assert len(data) <= CAP, len(data)
    assert b"older lines were cut" in data and b"connecting to the server" in data
    assert data.rstrip().splitlines()[-1].endswith(b"parked in " + bytes(tmp_path / "state" / "spool" / "parked"))
