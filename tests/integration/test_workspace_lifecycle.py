"""A workspace's lifecycle, as a platform engineer met it with `trimtab sandbox up` (a new port each start):
the same Databricks workspace added under a second name must not take over jobs another workspace's
projects manage; `workspace set NAME --host URL` re-points a workspace (refused when the new host is
another workspace); `workspace remove NAME` (refused while projects are attached); a status nothing
polls says so; `--token-env` given the token itself never echoes it.

Real parts: the sandbox workspace emulator over HTTP through the real databricks-sdk (stopped and
started again on its state dir, as `sandbox up` does), a real Trimtab server (gRPC on 127.0.0.1:0)
driven through the CLI, SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace, start_workspace
from server.databricks import DatabricksGateway
from server.onboard import PROJECT_TAG
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT

Trimtab = Callable[..., tuple[int, str, str]]


def _tag(gateway: DatabricksGateway, job_id: int, cluster_key: str) -> str | None:
    spec = find_cluster_spec(gateway.get_job(job_id)["settings"], cluster_key) or {}
    return (spec.get("custom_tags") or {}).get(PROJECT_TAG)


def _add(trimtab: Trimtab, name: str, host: str, *extra: str) -> tuple[int, str, str]:
    return trimtab("workspace", "add", name, "--host", host, "--token-env", "TT_DBX_TOKEN", "--cloud", "aws", *extra)


@pytest.fixture
def sbx(trimtab: Trimtab, store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway,
        job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The emulator added as "sbx" and its first job imported, through the CLI; the job ids."""
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    code, _, err = _add(trimtab, "sbx", emulator.host)
    assert code == 0, err
    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_ids[0]))
    assert code == 0, err
    return job_ids


@pytest.fixture
def other_workspace(tmp_path: Path, emulator: RunningWorkspace) -> Iterator[RunningWorkspace]:
    """Another Databricks workspace with the same job ids (none onboarded) that takes the same token."""
    running = start_workspace(tmp_path / "other", speed=20000)
    running.seed_jobs()
    with running.workspace.store.lock:
        running.workspace.store.data["tokens"].append(emulator.token)
    try:
        yield running
    finally:
        running.stop()


def test_the_same_workspace_under_a_second_name_does_not_take_over_managed_jobs(
        trimtab: Trimtab, store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway,
        sbx: list[int]) -> None:
    job = sbx[0]
    owner = store.projects.get_by_key("sbx", job, "main")
    assert owner is not None and _tag(gateway, job, "main") == str(owner.id)
    # At the same host it is refused outright (review creds: a second name's import took every agent of
    # the first name's runs); at another name of the host, which the check cannot see, its import skips
    # the managed job.
    code, _, err = _add(trimtab, "sb2", emulator.host + "/")
    assert code == 1 and f"is workspace 'sbx' already (added as {emulator.host})" in err, err
    code, _, err = _add(trimtab, "sb2", emulator.host.replace("127.0.0.1", "localhost"))
    assert code == 0, err

    for extra in (("--dry-run", "--job", str(job)), ("--job", str(job))):
        code, out, err = trimtab("workspace", "import", "sb2", *extra)
        assert code == 0, err
        assert "would create" not in out and f"sb2/{job}/main" not in out, out
        (line,) = [x for x in out.splitlines() if x.startswith("skipped") and f"job {job} " in x]
        assert (f"cluster 'main' carries {PROJECT_TAG}={owner.id}: it is managed by project sbx/{job}/main of "
                f"workspace sbx ({emulator.host})") in line
        assert "`trimtab workspace set sbx --host URL --token-env VAR`" in line
        # The job still belongs to the project that manages it.
        assert _tag(gateway, job, "main") == str(owner.id)
        assert store.projects.get_by_key("sb2", job, "main") is None
    # Importing its other jobs would write sb2's token into the secret sbx's agents read: refused, naming sbx.
    code, out, err = trimtab("workspace", "import", "sb2")
    assert code == 1 and "is the same Databricks workspace as 'sbx'" in err, err
    assert not [p for p in store.projects.list("sb2")]

    # Once the owner lets go (detach), the job is free to import under the other name (the secret holds
    # sbx's token, which nothing at this spelling of the host says is this database's: --take-over).
    code, _, err = trimtab("project", "detach", f"sbx/{job}/main")
    assert code == 0, err
    code, out, err = trimtab("workspace", "import", "sb2", "--job", str(job))
    assert code == 1 and "If it is workspace 'sbx' under another URL, use that name" in err, err
    code, out, err = trimtab("workspace", "import", "sb2", "--job", str(job), "--take-over")
    assert code == 0, err
    taken = store.projects.get_by_key("sb2", job, "main")
    assert taken is not None and _tag(gateway, job, "main") == str(taken.id)


def test_set_host_repoints_a_workspace_whose_emulator_came_back_on_another_port(
        trimtab: Trimtab, store: Store, emulator: RunningWorkspace, sbx: list[int], tmp_path: Path,
        other_workspace: RunningWorkspace) -> None:
    old_host = emulator.host
    emulator.stop()  # `trimtab sandbox up` again without --port: same state, another port
    again = start_workspace(tmp_path / "workspace", speed=20000)
    try:
        assert again.host != old_host
        # --replace keeps refusing a new host, and now says what to do instead.
        code, _, err = _add(trimtab, "sbx", again.host, "--replace")
        assert code == 1 and f"`trimtab workspace set sbx --host {again.host} --token-env VAR`" in err

        # Another workspace with the same job ids, taking the token: refused, nothing changed.
        code, _, err = trimtab("workspace", "set", "sbx", "--host", other_workspace.host, "--token-env", "TT_DBX_TOKEN")
        assert code == 1
        assert (f"workspace 'sbx' not re-pointed: {other_workspace.host} accepts the token but answers as "
                "another Databricks workspace") in err
        assert f"has {PROJECT_TAG}=(none)" in err
        assert store.workspaces.get("sbx").host == old_host

        # Bad input is refused before any call.
        code, _, err = trimtab("workspace", "set", "sbx", "--host", "ftp://x", "--token-env", "TT_DBX_TOKEN")
        assert code == 2 and "is not an http(s) URL" in err
        code, _, err = trimtab("workspace", "set", "sbx", "--host", old_host, "--token-env", "TT_DBX_TOKEN")
        assert code == 2 and f"workspace 'sbx' is at {old_host} already" in err
        code, _, err = trimtab("workspace", "set", "sbx", "--host", again.host, "--plan", "standard", "--token-env", "TT_DBX_TOKEN")
        assert code == 2 and "--host goes alone" in err

        code, out, err = trimtab("workspace", "set", "sbx", "--host", again.host + "/", "--token-env", "TT_DBX_TOKEN")
        assert code == 0, err
        assert f"host {old_host} -> {again.host}; checked: the token is accepted at {again.host}" in err
        assert f"1 of 1 attached project(s) checked (sbx/{sbx[0]}/main)" in err
        ws = store.workspaces.get("sbx")
        assert (ws.host, ws.status) == (again.host, "ok")
        # The workspace works at its new host: an import goes through and finds its project.
        code, out, err = trimtab("workspace", "import", "sbx", "--job", str(sbx[0]))
        assert code == 0, err
        assert out.startswith("exists"), out
    finally:
        again.stop()


def test_set_host_of_a_workspace_without_projects_says_nothing_tells(
        trimtab: Trimtab, store: Store, emulator: RunningWorkspace, other_workspace: RunningWorkspace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    assert _add(trimtab, "empty", emulator.host)[0] == 0
    code, out, err = trimtab("--json", "workspace", "set", "empty", "--host", other_workspace.host, "--token-env", "TT_DBX_TOKEN")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["host"] == other_workspace.host
    assert "has no attached project, so nothing tells whether it is the same Databricks workspace" in answer["note"]
    # A host that answers, but not as a Databricks workspace: refused, the host kept.
    code, _, err = trimtab("workspace", "set", "empty", "--host", emulator.host + "/nope", "--token-env", "TT_DBX_TOKEN")
    assert code == 1 and "workspace 'empty' not re-pointed: " in err, err
    assert store.workspaces.get("empty").host == other_workspace.host


def test_set_host_never_sends_the_stored_token(trimtab: Trimtab, store: Store, sbx: list[int],
                                               other_workspace: RunningWorkspace,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Review: re-pointing used the stored token, so anyone with an admin token could have the
    # workspace's Databricks token sent to a host of their own. The caller gives the token again.
    before = store.workspaces.get("sbx").host
    code, _, err = trimtab("workspace", "set", "sbx", "--host", other_workspace.host)
    assert code == 2 and "--host needs --token-env VAR" in err
    # Here the other host accepts only the real token: a made-up one is refused there, so the stored
    # token (which it would accept) was not what went.
    monkeypatch.setenv("TT_MADE_UP", "dapi0000000000000000000000000000made")
    code, _, err = trimtab("workspace", "set", "sbx", "--host", other_workspace.host, "--token-env", "TT_MADE_UP")
    assert code == 1 and "workspace 'sbx' not re-pointed" in err, err
    assert store.workspaces.get("sbx").host == before
    code, _, err = trimtab("workspace", "set", "sbx", "--plan", "standard", "--token-env", "TT_MADE_UP")
    assert code == 2 and "--token-env goes with --host" in err


def test_remove_is_refused_while_projects_are_attached_and_keeps_detached_ones(
        trimtab: Trimtab, store: Store, sbx: list[int]) -> None:
    job = sbx[0]
    code, _, err = trimtab("workspace", "remove", "sbx")
    assert code == 1
    assert (f"workspace 'sbx' not removed: it has 1 attached project(s) (sbx/{job}/main); `trimtab project detach "
            "<project>` puts each job back as it was") in err
    assert store.workspaces.get("sbx").name == "sbx"

    code, _, err = trimtab("project", "detach", f"sbx/{job}/main")
    assert code == 0, err
    assert [t.revoked for t in store.tokens.list() if t.workspace == "sbx"] == [False]  # the import's
    code, out, err = trimtab("workspace", "remove", "sbx")
    assert code == 0, err
    # Revoked with the workspace: live, it kept sending, and a workspace added again as sbx took it over.
    assert out == "removed workspace sbx; revoked 1 agent token(s) bound to it\n"
    assert [t.revoked for t in store.tokens.list() if t.workspace == "sbx"] == [True]
    assert f"1 detached or orphaned project(s) (sbx/{job}/main)" in err
    code, out, _ = trimtab("--json", "workspace", "list")
    assert code == 0 and json.loads(out) == []
    # Its history stays: the project is still there, detached.
    kept = store.projects.get_by_key("sbx", job, "main")
    assert kept is not None and kept.detached
    code, _, err = trimtab("workspace", "remove", "sbx")
    assert code == 1 and "workspace 'sbx' not found" in err


def test_a_status_nothing_polls_says_so(trimtab: Trimtab, emulator: RunningWorkspace, gateway: DatabricksGateway,
                                        job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    assert _add(trimtab, "sbx", emulator.host)[0] == 0
    code, out, err = trimtab("workspace", "list")
    assert code == 0, err
    (row,) = [line for line in out.splitlines() if line.startswith("sbx")]
    assert "ok (not polled)" in row
    assert "workspace(s) sbx: no attached project and auto-import off, so the collector does not poll it" in err
    code, out, _ = trimtab("workspace", "show", "sbx")
    assert "status:      ok (not polled)" in out.splitlines()
    code, out, _ = trimtab("--json", "workspace", "show", "sbx")
    assert json.loads(out).get("watched", False) is False

    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_ids[0]))
    assert code == 0, err
    code, out, err = trimtab("workspace", "list")
    (row,) = [line for line in out.splitlines() if line.startswith("sbx")]
    assert " ok " in f"{row} " and "not polled" not in row and "not poll" not in err
    code, out, _ = trimtab("--json", "workspace", "show", "sbx")
    assert json.loads(out)["watched"] is True


def test_token_env_given_the_token_never_echoes_it(trimtab: Trimtab, emulator: RunningWorkspace,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "dapi483f0c1d2e3f4a5b6c7d8e9f0a1b9d57"
    code, out, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", secret,
                             "--cloud", "aws")
    assert code == 2
    assert "--token-env takes the name of an environment variable (the value given looks like a token)" in err
    assert secret not in err + out and "483f" not in err + out
    monkeypatch.setenv("TT_EMPTY", "")
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_EMPTY",
                           "--cloud", "aws")
    assert code == 2 and "environment variable TT_EMPTY is set but empty" in err
    monkeypatch.delenv("TT_UNSET", raising=False)
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_UNSET",
                           "--cloud", "aws")
    assert code == 2 and "environment variable TT_UNSET is not set" in err
    credentials: dict[str, Any] = {"role_arn": "arn:aws:iam::1:role/x"}
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "aws", "--cloud-credentials-env", json.dumps(credentials))
    assert code == 2 and "--cloud-credentials-env takes the name of an environment variable" in err
    assert "arn:aws" not in err


def test_add_of_an_existing_name_points_at_replace_and_set_host(
        trimtab: Trimtab, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    assert _add(trimtab, "sbx", emulator.host)[0] == 0
    code, _, err = _add(trimtab, "sbx", emulator.host)
    assert code == 1
    assert ("workspace 'sbx' already exists: `trimtab workspace add sbx ... --replace` rotates its token, "
            "`trimtab workspace set sbx --host URL --token-env VAR` re-points it") in err
    # The same token again with --replace: said, not claimed as replaced.
    code, _, err = _add(trimtab, "sbx", emulator.host, "--replace")
    assert code == 0 and "workspace sbx: token unchanged (the one given is the one stored)" in err
    new = emulator.add_token()
    monkeypatch.setenv("TT_DBX_TOKEN", new)
    code, _, err = _add(trimtab, "sbx", emulator.host, "--replace")
    assert code == 0 and "replaced the token of workspace sbx" in err


def test_set_host_checks_the_token_given_as_add_does(trimtab: Trimtab, store: Store, sbx: list[int],
                                                      other_workspace: RunningWorkspace,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    before = store.workspaces.get("sbx").host
    monkeypatch.setenv("TT_LONG", "d" * 9000)
    code, _, err = trimtab("workspace", "set", "sbx", "--host", other_workspace.host, "--token-env", "TT_LONG")
    assert code == 2 and "token: longer than" in err, err
    monkeypatch.setenv("TT_CTRL", "dapi\x01x")
    code, _, err = trimtab("workspace", "set", "sbx", "--host", other_workspace.host, "--token-env", "TT_CTRL")
    assert code == 2 and "must be printable ASCII" in err and "dapi" not in err, err
    assert store.workspaces.get("sbx").host == before
