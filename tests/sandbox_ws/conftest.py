from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.workspace import RunningWorkspace, start_workspace
from sandbox.workspace.clock import Clock, FakeClock
from tests.sandbox_ws.fakes import FakeSimBackend, StepClock


@pytest.fixture(autouse=True)
def _no_databricks_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The SDK reads DATABRICKS_* and ~/.databrickscfg for anything not passed explicitly.
    import os

    for key in list(os.environ):
        if key.startswith("DATABRICKS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def client(ws: RunningWorkspace, token: str | None = None, retry_timeout: int = 10):  # noqa: ANN201
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    return WorkspaceClient(config=Config(host=ws.host, token=token or ws.token, auth_type="pat",
                                         retry_timeout_seconds=retry_timeout,
                                         http_timeout_seconds=10))


class Sandbox:
    """Starts workspaces on a state dir; stops all of them at the end of the test."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.running: list[RunningWorkspace] = []
        self.backend = FakeSimBackend()

    def start(self, *, clock: Clock | None = None, speed: float = 1.0,
              rate_limit: int | None = None, schedules: bool = False) -> RunningWorkspace:
        ws = start_workspace(self.state_dir, speed=speed, rate_limit=rate_limit,
                             clock=clock or FakeClock(), backend=self.backend,
                             schedules=schedules)
        self.running.append(ws)
        return ws

    def stop_all(self) -> None:
        for ws in self.running:
            ws.stop()
        self.running.clear()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    sb = Sandbox(tmp_path / "state")
    yield sb
    sb.stop_all()


@pytest.fixture
def ws(sandbox: Sandbox) -> RunningWorkspace:
    return sandbox.start()


@pytest.fixture
def step_clock() -> StepClock:
    return StepClock()
