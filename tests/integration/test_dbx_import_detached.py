"""A detached project stays detached through `workspace import` of every job and auto-import; only
an import naming the job re-attaches it, saying so with the diff; a named job that does not exist
fails the command (exit 1).

Real parts: the sandbox workspace emulator over HTTP through the real databricks-sdk, a real
Trimtab server (gRPC on 127.0.0.1:0) for the CLI, the real services, SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.collect.discovery import AutoImport
from server.databricks import DatabricksGateway
from server.domain import ImportLimits, ImportResult, Project, Workspace
from server.onboard import PROJECT_TAG
from server.services import recommendations, workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

Trimtab = Callable[..., tuple[int, str, str]]


def _settings(gateway: DatabricksGateway, job_id: int) -> dict[str, Any]:
    return dict(gateway.get_job(job_id)["settings"])


def _project(store: Store, job_id: int, cluster_key: str) -> Project:
    found = store.projects.get_by_key("sbx", job_id, cluster_key)
    assert found is not None
    return found


def _onboarded(spec: dict[str, Any] | None) -> bool:
    return spec is not None and PROJECT_TAG in (spec.get("custom_tags") or {})


@pytest.fixture
def imported(trimtab: Trimtab, store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway,
             job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The emulator added as "sbx" and every job imported, through the CLI and the real server."""
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "aws")
    assert code == 0, err
    code, _, err = trimtab("workspace", "import", "sbx")
    assert code == 0, err
    return job_ids


def test_an_import_of_every_job_leaves_a_detached_project_and_its_job_alone(
        trimtab: Trimtab, store: Store, gateway: DatabricksGateway, imported: list[int]) -> None:
    daily, pipeline = imported[0], imported[1]
    code, out, err = trimtab("project", "detach", f"sbx/{daily}/main")
    assert code == 0, err
    assert (f"note: sbx/{daily}/main detached: Trimtab's init script, TRIMTAB_* variables, tags and the log delivery it "
            f"added are gone from job {daily}'s cluster 'main'" in err and "back as imported" in err
            and f"`trimtab workspace import sbx --job {daily}` attaches it again" in err), err
    code, _, err = trimtab("project", "detach", f"sbx/{daily}/main")
    assert code == 0 and f"note: sbx/{daily}/main was detached already: nothing changed" in err, err
    # An orphaned project (its job gone) has nothing to put back, and its note says so.
    orphan = store.projects.get_by_key("sbx", pipeline, "report")
    assert orphan is not None
    store.projects.update(dataclasses.replace(orphan, orphaned=True))
    code, _, err = trimtab("project", "detach", f"sbx/{pipeline}/report")
    assert code == 0 and "so nothing was changed in Databricks" in err and "it was orphaned (" in err
    assert "attaches it again" not in err
    store.projects.update(dataclasses.replace(store.projects.get(int(orphan.id or 0)), detached=False,
                                              orphaned=False))
    # In a job with two clusters, only one detached: the other stays onboarded and managed.
    code, _, err = trimtab("project", "detach", f"sbx/{pipeline}/ingest")
    assert code == 0, err
    detached_job = _settings(gateway, daily)
    detached_pipeline = _settings(gateway, pipeline)
    assert not _onboarded(find_cluster_spec(detached_job, "main"))
    assert not _onboarded(find_cluster_spec(detached_pipeline, "ingest"))
    assert _onboarded(find_cluster_spec(detached_pipeline, "report"))

    for dry in ((), ("--dry-run",)):
        code, out, err = trimtab("workspace", "import", "sbx", *dry)
        assert code == 0, err
        lines = out.splitlines()
        (skip,) = [line for line in lines if line.startswith("skipped") and f"job {daily} " in line]
        assert (f"project sbx/{daily}/main is detached: left as it is (`trimtab workspace import sbx "
                f"--job {daily}` re-attaches it)") in skip
        (skip,) = [line for line in lines if line.startswith("skipped") and f"job {pipeline} " in line]
        assert f"project sbx/{pipeline}/ingest is detached" in skip
        # Not "exists", not re-attached: no line names the detached projects as imported.
        assert not [line for line in lines if not line.startswith("skipped")
                    and (f"sbx/{daily}/main" in line or f"sbx/{pipeline}/ingest" in line)]
        assert [line.split()[0] for line in lines if f"sbx/{pipeline}/report" in line] == ["exists"]
        assert "trimtab:project-id" not in out  # nothing to write: no diff anywhere
        assert _project(store, daily, "main").detached and _project(store, pipeline, "ingest").detached
        assert not _project(store, pipeline, "report").detached
        # The jobs in Databricks are exactly as the detach left them.
        assert _settings(gateway, daily) == detached_job
        assert _settings(gateway, pipeline) == detached_pipeline


def test_naming_the_job_re_attaches_its_detached_project_and_shows_the_diff(
        trimtab: Trimtab, store: Store, gateway: DatabricksGateway, imported: list[int]) -> None:
    daily = imported[0]
    project = _project(store, daily, "main")
    assert trimtab("project", "detach", project.name)[0] == 0
    detached_job = _settings(gateway, daily)

    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(daily), "--dry-run")
    assert code == 0, err
    assert out.splitlines()[0].split()[:4] == ["would", "re-attach", "project", str(project.id)]
    assert f'+    "{PROJECT_TAG}": "{project.id}"' in out and "TRIMTAB_SERVER" in out
    assert _project(store, daily, "main").detached and _settings(gateway, daily) == detached_job
    code, out, _ = trimtab("--json", "workspace", "import", "sbx", "--job", str(daily), "--dry-run")
    (item,) = json.loads(out)["projects"]
    assert code == 0 and item["reattached"] is True and not item.get("created")

    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(daily))
    assert code == 0, err
    assert out.splitlines()[0].split()[:4] == ["re-attached", "project", str(project.id), project.name]
    assert f'+    "{PROJECT_TAG}": "{project.id}"' in out  # the diff it wrote
    after = _project(store, daily, "main")
    live = find_cluster_spec(_settings(gateway, daily), "main")
    assert not after.detached and live is not None and live["custom_tags"][PROJECT_TAG] == str(project.id)
    assert after.current_spec == live and after.original_spec == project.original_spec
    # Recorded as a revert to the cluster as found (savings read "as found", not the recommendation
    # from before the detach), confirmed: the next apply need not wait for a run.
    pending = after.pending_apply or {}
    assert pending.get("recommendation_id") is None and pending.get("reattached") and pending.get("confirmed")
    assert pending.get("applied_spec") == live and "previous_spec" in pending

    # Attached again: a second import names it "exists" and writes nothing.
    code, out, _ = trimtab("workspace", "import", "sbx", "--job", str(daily))
    assert code == 0 and out.split()[:2] == ["exists", "project"] and "+" not in out


def test_a_job_named_with_job_that_does_not_exist_fails_the_import(
        trimtab: Trimtab, store: Store, imported: list[int]) -> None:
    code, out, err = trimtab("workspace", "import", "sbx", "--job", "999")
    assert code == 1
    assert "skipped         job 999: job not found in the workspace" in out.splitlines()
    assert err.splitlines()[-1] == "error: job 999 not found in workspace sbx"

    # The others named are still imported (or found); only the exit code says one was missing.
    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(imported[0]), "--job", "998",
                             "--job", "999")
    assert code == 1 and out.split()[0] == "exists" and "job 998, 999 not found in workspace sbx" in err

    code, out, err = trimtab("--json", "workspace", "import", "sbx", "--job", "999")
    assert code == 1 and "not found" in err
    (skipped,) = json.loads(out)["skipped"]
    assert skipped["not_found"] is True and skipped["job_id"] == 999

    # Skips of jobs the import found (an all-purpose cluster, ...) stay an answer, not a failure.
    assert trimtab("workspace", "import", "sbx")[0] == 0


def test_auto_import_never_re_attaches_a_detached_project(
        store: Store, secrets: SecretBox, connected: Workspace, gateway: DatabricksGateway,
        integration_clock: FakeClock) -> None:
    workspaces.import_jobs(store, secrets, "sbx", [], wiring=WIRING)
    project = store.projects.list("sbx")[0]
    recommendations.detach_project(store, secrets, project.name)
    detached_job = _settings(gateway, project.job_id)

    # The call auto-import makes (`server.collect.running`): job ids, never a re-attach.
    result = workspaces.import_jobs(store, secrets, "sbx", [project.job_id])
    assert result.projects == () and "is detached" in result.skipped[0].reason
    assert store.projects.get(int(project.id or 0)).detached
    assert _settings(gateway, project.job_id) == detached_job

    # A whole discovery pass over the workspace, with auto-import on.
    seen: list[int] = []

    def import_jobs(name: str, ids: list[int], *, limits: ImportLimits) -> ImportResult:
        seen.extend(ids)
        return workspaces.import_jobs(store, secrets, name, ids, limits=limits)

    auto = workspaces.update_workspace(store, "sbx", auto_import=True)
    AutoImport(store, import_jobs, clock=integration_clock).run(auto, workspaces.gateway_for(store, secrets, auto))
    assert project.job_id not in seen
    assert store.projects.get(int(project.id or 0)).detached
    assert _settings(gateway, project.job_id) == detached_job
