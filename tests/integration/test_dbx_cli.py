"""`trimtab workspace ...` and `trimtab recommendation ...` through a real server and the emulator."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Recommendation
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: the engine does not matter here (import, cycle and collection run on both)."""
    return sqlite_store



def test_workspace_commands_and_recommendation_apply(
        trimtab, store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway,  # type: ignore[no-untyped-def]
        job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_NOT_SET",
                           "--cloud", "aws")
    assert code == 2 and "TT_NOT_SET is not set" in err
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    code, out, _ = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "aws", "--region", "us-east-1")
    assert code == 0 and "sbx" in out
    code, out, _ = trimtab("workspace", "show", "sbx")
    assert code == 0 and "status:      ok" in out and emulator.token not in out and emulator.token[:4] in out
    code, out, _ = trimtab("workspace", "list")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["NAME", "HOST", "CLOUD"]

    code, out, _ = trimtab("workspace", "import", "sbx", "--dry-run")
    assert code == 0 and "would create" in out and '+    "trimtab:project-id"' in out
    assert "skipped" in out and "existing_cluster_id" in out and store.projects.list() == []

    code, out, _ = trimtab("workspace", "import", "sbx", "--job", str(job_ids[0]))
    assert code == 0 and "created" in out
    (project,) = store.projects.list()

    code, _, err = trimtab("recommendation", "show", str(project.id))
    assert code == 1 and "no recommendation yet" in err and "NOT_FOUND" in err
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), reason="fewer, larger nodes",
                                             config=ClusterConfig(node_type_id="m5d.2xlarge", num_workers=2)))
    code, out, _ = trimtab("recommendation", "show", project.name)
    assert code == 0 and "m5d.2xlarge x 2 workers" in out and "pending" in out
    code, out, _ = trimtab("recommendation", "apply", project.name, "--dry-run")
    assert code == 0 and '+  "num_workers": 2' in out and "dry run: nothing changed" in out
    assert find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")["num_workers"] == 4
    code, out, _ = trimtab("recommendation", "apply", project.name)
    assert code == 0 and "applied recommendation" in out
    assert find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")["num_workers"] == 2
    code, out, _ = trimtab("--json", "recommendation", "revert", project.name)
    assert code == 0 and '"applied": true' in out
    assert find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")["num_workers"] == 4

    # Detach puts back the spec found at import: no agent, no Trimtab tags.
    code, out, _ = trimtab("project", "detach", project.name)
    assert code == 0 and "detached" in out
    assert find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main") == project.original_spec

    # A revoked token: one clear line, and the workspace shows it.
    emulator.revoke_token(emulator.token)
    code, out, err = trimtab("workspace", "import", "sbx")
    (line,) = [e for e in err.splitlines() if e.startswith("error:")]  # one clear line
    assert code == 1 and "refused the token" in line
    # ... and what gives it a working one.
    assert ("; a new token (or the permission the error names): `trimtab workspace add sbx --host URL --token-env VAR "
            "--replace`") in line, line
    assert "FAILED_PRECONDITION" in err and "Traceback" not in err
    code, out, _ = trimtab("workspace", "show", "sbx")
    assert "status:      error" in out and "refused the token" in out
