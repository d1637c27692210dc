"""A restart while Spark starts up: its log ends after the driver's ExecutorAdded and before the
ApplicationStart that names the application (Spark writes them in that order). The parser holds
such events until it knows the id; a checkpoint in that window resumes at the first held line, so
what it records as emitted must not include the held events, or the re-read line is taken for an
emitted one and never sent (the driver's executor-added was lost after a kill -9 or a clean stop)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.agent.conftest import AgentThread, IngestServer, agent_config
from tests.agent.expected import events_of, expected_summary, stored_summary
from tests.agent.test_agent_faults import _agent_process, _app, _until

pytestmark = pytest.mark.spark


@pytest.fixture
def plain_log(spark_logs: Path) -> Path:
    return next(p for p in spark_logs.iterdir() if p.is_file() and "." not in p.name)


def _start_up_cut(plain_log: Path) -> tuple[list[bytes], int]:
    """The log's lines and the index of its ApplicationStart, after the driver's ExecutorAdded."""
    lines = plain_log.read_bytes().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if b'"SparkListenerApplicationStart"' in line)
    assert any(b'"SparkListenerExecutorAdded"' in line and b'"driver"' in line for line in lines[:start])
    return lines, start


def _held_in_checkpoint(state: Path) -> bool:
    """A checkpoint was written while the parser held the driver's executor back (no app id yet)."""
    try:
        apps = json.loads((state / "state.json").read_text())["apps"]
    except (OSError, ValueError, KeyError):
        return False
    return any(a.get("pos") and not a.get("parser", {}).get("app_id") for a in apps.values())


@pytest.mark.parametrize("how", ["stop", "kill-9"])
def test_restart_between_driver_executor_and_app_start_loses_nothing(plain_log: Path, ingest: IngestServer,
                                                                     tmp_path: Path, how: str):
    lines, start = _start_up_cut(plain_log)
    root, state = tmp_path / "logs", tmp_path / "state"
    root.mkdir()
    f = root / (plain_log.name + ".inprogress")
    f.write_bytes(b"".join(lines[:start]))
    s = ingest.servicer
    if how == "stop":  # a clean stop (SIGTERM in the init script's supervisor)
        with AgentThread(agent_config(root, state, ingest.address)) as run:
            assert _until(run, lambda: _held_in_checkpoint(state))
            run.stop()
    else:
        first = _agent_process(root, state, ingest.address)
        try:
            assert s.wait_for(lambda: _held_in_checkpoint(state), 30)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
    assert not s.stored, "nothing can be sent before the application id is known"
    with f.open("ab") as out:
        out.write(b"".join(lines[start:]))
    f.rename(root / plain_log.name)
    with AgentThread(agent_config(root, state, ingest.address)) as run:
        assert s.wait_for(lambda: s.keys("application_end"), 30)
        run.stop()
    want = expected_summary(events_of(plain_log))
    assert "executor-added/driver" in want
    assert stored_summary(list(s.stored.values()), _app(s)) == want
    assert (_app(s), "app-start") in s.stored
