"""A workspace that cannot be reached must not stall collection for the others.

Real HTTP throughout: a healthy workspace is the sandbox emulator; an unreachable one is
an emulator that was stopped (its port refuses connections) and may be started again on
the same port and state, as a workspace that went down and came back. The gateways are
the real ones, built by the real `gateway_for`; the test only shortens their retry budget
and hands them a FakeClock, so the SDK's retries cost fake time and no test waits.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.workspace import RunningWorkspace, start_workspace
from server.clock import Clock, FakeClock, SystemClock
from server.collect import Collector
from server.collect.health import BACKOFF_CAP_S, UNREACHABLE
from server.databricks import DatabricksGateway, DatabricksUnavailable, GatewayConfig
from server.databricks.gateway import PROBE_BUDGET_S
from server.domain import Project, Workspace
from server.errors import FailedPrecondition, InvalidArgument
from server.serve import RunningServer
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

RETRY_S = 30  # each call's retry budget, in fake seconds
POLL_S = 60.0


def _free_port() -> int:
    """A port nobody listens on (bound, noted, closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def clock(integration_clock: FakeClock) -> FakeClock:
    return integration_clock


@pytest.fixture
def built(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Real gateways with a short retry budget; counts how many were built for each host."""
    counts: Counter[str] = Counter()

    def factory(config: GatewayConfig, gateway_clock: Clock) -> DatabricksGateway:
        counts[config.host] += 1
        short = dataclasses.replace(config, retry_timeout_s=min(config.retry_timeout_s, RETRY_S))
        return DatabricksGateway(short, clock=gateway_clock)

    monkeypatch.setattr(workspaces._integration, "gateway_factory", factory)
    return counts


@dataclasses.dataclass
class Down:
    """A workspace with jobs imported, then stopped: its host refuses connections."""

    name: str
    host: str
    port: int
    state_dir: Path
    job_ids: list[int]
    token: str
    running: RunningWorkspace | None = None

    def start_again(self) -> RunningWorkspace:
        self.running = start_workspace(self.state_dir, speed=20000, port=self.port)
        return self.running


@pytest.fixture
def down(store: Store, secrets: SecretBox, built: Counter[str], tmp_path: Path) -> Iterator[Down]:
    state_dir = tmp_path / "down"
    running = start_workspace(state_dir, speed=20000)
    try:
        running.seed_jobs()
        gateway = DatabricksGateway(GatewayConfig(running.host, running.token, retry_timeout_s=20),
                                    clock=SystemClock())
        gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
        # Listed first (workspaces are polled by name), before the healthy "sbx".
        workspaces.add_workspace(store, secrets, "a-down", running.host, running.token, "aws")
        result = workspaces.import_jobs(store, secrets, "a-down", [], wiring=WIRING)
        job_ids = sorted({p.project.job_id for p in result.projects})
        assert len(job_ids) >= 2  # so "tried once" differs from "tried once per job"
        host, token = running.host, running.token
    finally:
        running.stop()
    port = int(host.rsplit(":", 1)[1])
    found = Down("a-down", host, port, state_dir, job_ids, token)
    try:
        yield found
    finally:
        if found.running is not None:
            found.running.stop()


@pytest.fixture
def healthy(store: Store, secrets: SecretBox, built: Counter[str], emulator: RunningWorkspace,
            gateway: DatabricksGateway, job_ids: list[int]) -> Project:
    """The emulator as workspace "sbx", one job imported."""
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    return imported.project


def _collector(store: Store, secrets: SecretBox, clock: FakeClock) -> Collector:
    return Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock,
                     poll_interval_s=POLL_S)


def _run(emulator: RunningWorkspace, job_id: int) -> int:
    gateway = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20),
                                clock=SystemClock())
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    return run_id


def _warnings_about(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "server.collect.collector" and r.levelno >= logging.WARNING and name in r.getMessage()]


# ------------------------------------------------------------------ the gateway


def test_building_a_gateway_on_a_refusing_host_makes_no_call() -> None:
    """The SDK's host-metadata probe (real sleeps, the whole retry budget) must stay off: if an
    SDK upgrade brings it back, building this gateway takes seconds and this test fails."""
    host = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    gateway = DatabricksGateway(GatewayConfig(host, "dapi-x", retry_timeout_s=5), clock=SystemClock())
    assert time.monotonic() - started < 1.0
    # The first call is where an unreachable host shows, with one clear message, in fake time.
    clock = FakeClock()
    start = clock.monotonic()
    gateway = DatabricksGateway(GatewayConfig(host, "dapi-x", retry_timeout_s=5), clock=clock)
    with pytest.raises(DatabricksUnavailable) as raised:
        gateway.check_token()
    message = raised.value.message
    assert message.startswith(f"GET /api/2.2/jobs/list: cannot reach {host}: ")
    assert "Connection refused" in message and message.endswith("the next try would come after the 5s retry budget)")
    assert "HTTPConnectionPool" not in message and "\n" not in message
    # The SDK retried on our clock, until its next wait would have ended past the budget.
    spent = clock.monotonic() - start
    assert 2 < spent <= 5 and f"(gave up after {spent:.1f}s:" in message, (spent, message)


def test_adding_a_workspace_on_a_wrong_host_fails_at_once_and_clearly(
        store: Store, secrets: SecretBox, clock: FakeClock) -> None:
    host = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(FailedPrecondition) as raised:
        workspaces.add_workspace(store, secrets, "gone", host, "dapi-x", "aws")
    assert time.monotonic() - started < 5.0  # the retries wait on the injected clock, nothing else waits
    message = raised.value.message
    assert message.startswith(f"workspace 'gone' not added: GET /api/2.2/jobs/list: cannot reach {host}: ")
    assert "Connection refused" in message and message.count("cannot reach") == 1
    assert f"the next try would come after the {workspaces.ADD_CHECK_TIMEOUT_S}s retry budget" in message
    for bad in ("http://127.0.0.1:99999", "http://[::1", "https://"):
        with pytest.raises(InvalidArgument, match="host: .* is not a valid URL"):
            workspaces.add_workspace(store, secrets, "bad", bad, "dapi-x", "aws")
    assert store.workspaces.list() == []


# ------------------------------------------------------------------ the collector


def test_a_dead_workspace_listed_first_costs_one_try_and_the_others_are_collected(
        store: Store, secrets: SecretBox, clock: FakeClock, built: Counter[str], down: Down,
        healthy: Project, emulator: RunningWorkspace, caplog: pytest.LogCaptureFixture) -> None:
    run_id = _run(emulator, healthy.job_id)
    collector = _collector(store, secrets, clock)
    built.clear()
    caplog.set_level(logging.INFO, logger="server.collect.collector")

    before = clock.monotonic()
    (run,) = collector.poll_once()
    assert (run.databricks_run_id, run.project_id) == (run_id, healthy.id)
    ws = store.workspaces.get("a-down")
    assert ws.status == UNREACHABLE
    assert ws.last_error.startswith(f"GET /api/2.2/jobs/get: cannot reach {down.host}: ")
    assert "Connection refused" in ws.last_error and "\n" not in ws.last_error
    assert store.workspaces.get("sbx").status == "ok"
    # Its jobs were tried once in all, not once each: at most one call's retry budget was spent (its
    # retries stop at the wait that would end past it), not one per job.
    spent = clock.monotonic() - before
    assert PROBE_BUDGET_S < spent <= RETRY_S, spent
    assert built[down.host] == 1
    (warning,) = _warnings_about(caplog, "a-down")
    assert "unreachable" in warning and "Connection refused" in warning
    assert not any(f"job {j}" in warning for j in down.job_ids)


def test_an_unreachable_workspace_rests_longer_each_time_and_the_others_keep_their_cadence(
        store: Store, secrets: SecretBox, clock: FakeClock, built: Counter[str], down: Down,
        healthy: Project, emulator: RunningWorkspace, caplog: pytest.LogCaptureFixture) -> None:
    collector = _collector(store, secrets, clock)
    caplog.set_level(logging.DEBUG, logger="server.collect.collector")
    collector.poll_once()
    assert store.workspaces.get("a-down").status == UNREACHABLE
    tries = 1
    for polls, rest in enumerate([POLL_S, 2 * POLL_S, 4 * POLL_S, 8 * POLL_S, 16 * POLL_S,
                                  BACKOFF_CAP_S, BACKOFF_CAP_S]):
        built.clear()
        clock.advance(rest - 1)
        before = clock.monotonic()
        assert collector.poll_once() == []
        # Resting: not tried (no gateway, no retries on the clock); the healthy workspace was polled.
        assert (built[down.host], built[emulator.host]) == (0, 1), (polls, rest)
        assert clock.monotonic() == before
        clock.advance(1)
        collector.poll_once()
        tries += 1
        assert (built[down.host], built[emulator.host]) == (1, 2), (polls, rest)
        assert store.workspaces.get("a-down").status == UNREACHABLE
    # One warning when it became unreachable, none for each failed try after.
    assert len(_warnings_about(caplog, "a-down")) == 1

    # It comes back by itself: the next try after its rest finds it, collects, and marks it ok.
    back = down.start_again()
    run_id = _run(back, down.job_ids[0])
    clock.advance(BACKOFF_CAP_S)
    collected = collector.poll_once()
    assert run_id in {r.databricks_run_id for r in collected}
    ws = store.workspaces.get("a-down")
    assert (ws.status, ws.last_error) == ("ok", "")
    assert any("reachable again after" in r.getMessage() and f"{tries} failed polls" in r.getMessage()
               for r in caplog.records if r.name == "server.collect.collector")
    # Healthy again: polled on every poll, no rest.
    built.clear()
    collector.poll_once()
    assert built[down.host] == 1


def test_a_try_at_a_resting_workspace_costs_the_probe_budget_not_a_calls_retry_budget(
        store: Store, secrets: SecretBox, clock: FakeClock, built: Counter[str], down: Down,
        healthy: Project, emulator: RunningWorkspace) -> None:
    collector = _collector(store, secrets, clock)
    before = clock.monotonic()
    collector.poll_once()  # found unreachable: one call's retries (within its budget), as for a blip
    assert clock.monotonic() - before > PROBE_BUDGET_S
    assert PROBE_BUDGET_S < RETRY_S  # else this test could not tell them apart
    for rest in (POLL_S, 2 * POLL_S, 4 * POLL_S):
        clock.advance(rest)
        before = clock.monotonic()
        collector.poll_once()
        spent = clock.monotonic() - before
        # The try is the probe alone: its short budget, and no call of the workspace's jobs after it.
        assert 0 < spent <= PROBE_BUDGET_S, (rest, spent)
        ws = store.workspaces.get("a-down")
        assert ws.status == UNREACHABLE and ws.last_error.startswith(f"GET /api/2.2/jobs/list: cannot reach {down.host}")

    # Back: the probe passes and the real calls follow in the same poll.
    back = down.start_again()
    run_id = _run(back, down.job_ids[0])
    clock.advance(8 * POLL_S)
    assert run_id in {r.databricks_run_id for r in collector.poll_once()}
    assert store.workspaces.get("a-down").status == "ok"


def test_replacing_the_token_tries_a_resting_workspace_at_once(
        store: Store, secrets: SecretBox, clock: FakeClock, built: Counter[str], down: Down,
        healthy: Project) -> None:
    collector = _collector(store, secrets, clock)
    collector.poll_once()
    clock.advance(POLL_S)
    collector.poll_once()  # the second failure in a row: it rests for two intervals
    built.clear()
    collector.poll_once()
    assert built[down.host] == 0

    back = down.start_again()
    run_id = _run(back, down.job_ids[-1])
    assert collector.poll_once() == [] and built[down.host] == 0  # still resting: the collector cannot know
    # `trimtab workspace add a-down ... --replace` checks the token with a real call and sets ok:
    # the next poll tries the workspace at once, without waiting out its rest.
    workspaces.add_workspace(store, secrets, "a-down", down.host, back.token, "aws", replace=True)
    (run,) = collector.poll_once()
    assert run.databricks_run_id == run_id
    assert store.workspaces.get("a-down").status == "ok"


def test_an_unexpected_error_in_one_workspace_spares_the_others(
        store: Store, secrets: SecretBox, clock: FakeClock, healthy: Project, emulator: RunningWorkspace,
        caplog: pytest.LogCaptureFixture) -> None:
    # A row `workspace add` would refuse now (the SDK raises ValueError for the port), as an older
    # server may have stored it: its gateway cannot even be built.
    store.workspaces.add(Workspace(name="a-broken", host="http://127.0.0.1:99999", cloud="aws"),
                         secrets.encrypt("dapi-x"))
    store.projects.add(Project(workspace="a-broken", job_id=1, cluster_key="main"))
    run_id = _run(emulator, healthy.job_id)
    collector = _collector(store, secrets, clock)
    (run,) = collector.poll_once()
    assert run.databricks_run_id == run_id
    assert any(r.name == "server.collect.collector" and "a-broken" in r.getMessage() and r.exc_info
               for r in caplog.records)


def test_workspace_show_and_list_say_it_is_unreachable(
        store: Store, secrets: SecretBox, clock: FakeClock, down: Down, healthy: Project,
        server: RunningServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from server.cli.main import main

    monkeypatch.setattr(workspaces._integration, "clock", clock)  # starting the server set its own
    _collector(store, secrets, clock).poll_once()
    _, token = store.tokens.create("cli", "admin")

    def trimtab(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--server", server.address, "--token", token, *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = trimtab("workspace", "show", "a-down")
    lines = out.splitlines()
    assert code == 0 and "status:      unreachable" in lines
    (error,) = [line for line in lines if line.startswith("error:")]
    assert f"cannot reach {down.host}" in error and "Connection refused" in error
    assert "tries again less and less often" in out and "workspace add a-down ... --replace" in out
    code, out, err = trimtab("workspace", "list")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert code == 0 and "unreachable" in rows["a-down"] and "ok" in rows["sbx"]
    assert "not collecting from workspace(s) a-down" in err
    code, out, err = trimtab("workspace", "show", "sbx")
    assert "status:      ok" in out and "error:" not in out and "--replace" not in out
