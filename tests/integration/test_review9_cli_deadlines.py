"""CLI deadlines on calls that reach Databricks (review 9): `trimtab project detach` on a workspace
that does not answer said ``error: Deadline Exceeded (DEADLINE_EXCEEDED)`` after 60 s, because it
waited the read deadline while the server's gateway retries each Databricks call for up to 60 s;
`recommendation apply` and `workspace import` waited 600 s and showed the server's own "cannot reach"
line. Every command whose RPC calls Databricks now waits as long, and a deadline passed anywhere says
the server may still finish the call and how to see whether it did.

The minute-scale budgets are scaled down (the CLI's deadlines, the gateway's retry budget) so the
test takes seconds; their order is the real one. Real server, real CLI, the workspace emulator
stopped so its port refuses."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.cli import context
from server.services import workspaces
from server.store import Store

Trimtab = Callable[..., tuple[int, str, str]]
# The gateway's retry budget here (60 s in production), and the CLI's read deadline shorter than it
# (60 s in production, where one detach makes several Databricks calls of up to 60 s each).
RETRY_S = 2
READ_DEADLINE_S = 0.5


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


@pytest.fixture
def short_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    real = workspaces._integration.gateway_factory

    def factory(config: Any, clock: Any) -> Any:
        return real(dataclasses.replace(config, retry_timeout_s=RETRY_S), clock)

    monkeypatch.setattr(workspaces._integration, "gateway_factory", factory)
    monkeypatch.setattr(context, "CALL_TIMEOUT_S", READ_DEADLINE_S)


@pytest.fixture
def imported(trimtab: Trimtab, cli_workspace: str, job_ids: list[int], store: Store,
             emulator: RunningWorkspace) -> str:
    """A project imported from the emulator, which is then stopped: its port refuses."""
    code, _, err = trimtab("workspace", "import", cli_workspace, "--job", str(job_ids[0]))
    assert code == 0, err
    (project,) = store.projects.list()
    emulator.stop()
    return str(project.id)


def test_every_databricks_method_gets_the_long_deadline() -> None:
    assert {"DetachProject", "UpdateProjectSettings", "ImportJobs", "AddWorkspace", "UpdateWorkspace",
            "ApplyRecommendation", "RevertRecommendation"} <= context.DATABRICKS_METHODS
    assert context.DATABRICKS_CALL_TIMEOUT_S == 600.0 and context.CALL_TIMEOUT_S == 60.0


def test_detach_of_an_unreachable_workspace_says_so_not_deadline_exceeded(
        trimtab: Trimtab, imported: str, short_retries: None, store: Store) -> None:
    code, out, err = trimtab("project", "detach", imported)
    assert code == 1 and out == ""
    assert "DEADLINE_EXCEEDED" not in err and "Deadline Exceeded" not in err, err
    assert f"the next try would come after the {RETRY_S}s retry budget" in err and "UNAVAILABLE" in err, err
    assert not store.projects.get(int(imported)).detached  # a failed restore leaves it managed


def test_a_deadline_passed_says_the_server_may_still_finish_and_how_to_check(
        trimtab: Trimtab, imported: str, short_retries: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "DATABRICKS_CALL_TIMEOUT_S", 0.3)
    code, out, err = trimtab("project", "detach", imported)
    (line,) = err.splitlines()
    assert code == 1 and out == ""
    assert line.startswith("error: `trimtab project detach`: no answer from the Trimtab server within 0.3 s"), line
    assert "the server may still finish the call" in line
    assert f"`trimtab project show {imported}` says whether it is detached" in line
    assert "Traceback" not in err


def test_a_read_past_its_deadline_says_to_try_again(store: Store, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # A server that takes the connection and never answers: the deadline passes whatever the machine's
    # load. (A 1 us deadline against the real server is rounded up to gRPC's millisecond timer, and a
    # loopback answer sometimes beat it: CI saw `project show` succeed.)
    from server.cli.main import main

    _, token = store.tokens.create("cli", "admin")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        monkeypatch.setattr(context, "CALL_TIMEOUT_S", 0.3)
        code = main(["--server", f"127.0.0.1:{silent.getsockname()[1]}", "--token", token, "project", "show", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "`trimtab project show`: no answer from the Trimtab server within 0.3 s" in err, err
    assert "may still finish the call: run the command again" in err


@pytest.mark.parametrize("method", ["ImportJobs", "ApplyRecommendation", "UpdateWorkspace"])
def test_the_hint_names_the_command_that_shows_the_outcome(method: str) -> None:
    from protos.trimtab.v1 import admin_pb2

    requests = {"ImportJobs": admin_pb2.ImportJobsRequest(workspace="prod east"),
                "ApplyRecommendation": admin_pb2.ApplyRecommendationRequest(project="prod/42/main"),
                "UpdateWorkspace": admin_pb2.UpdateWorkspaceRequest(name="prod")}
    hint = context.check_hint(method, requests[method])
    assert {"ImportJobs": "`trimtab project list --workspace 'prod east'`",
            "ApplyRecommendation": "`trimtab recommendation show prod/42/main` says whether it was applied",
            "UpdateWorkspace": "`trimtab workspace show prod`"}[method] in hint
