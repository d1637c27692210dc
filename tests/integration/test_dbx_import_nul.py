"""Text Databricks sends with a NUL character (JSON ``\\u0000``) in it: PostgreSQL text columns cannot
hold NUL (SQLite can), so a job named so stopped a whole `workspace import` on PostgreSQL only ("a value
the database cannot store", no other job imported). Text from Databricks is stored with NUL made U+FFFD
on both engines (`server.store.convert`), as ingest stores an agent's text; a cluster key with NUL,
a key Databricks must find again, is refused, and that job alone fails while the others import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from server.collect.listings import followed
from server.databricks import DatabricksGateway
from server.domain import Project, Run, Workspace
from server.onboard import PROJECT_TAG
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, etl_job

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "r5d.2xlarge", "num_workers": 2,
        "cluster_log_conf": {"dbfs": {"destination": "dbfs:/cluster-logs"}}}


def test_a_job_named_with_nul_is_imported_on_both_engines(store: Store, secrets: SecretBox, connected: Workspace,
                                                         gateway: DatabricksGateway) -> None:
    nul = gateway.create_job(etl_job(dict(SPEC), name="nul\x00name"))
    plain = gateway.create_job(etl_job(dict(SPEC), name="plain"))

    result = workspaces.import_jobs(store, secrets, "sbx", [nul, plain], wiring=WIRING)

    # Was, on PostgreSQL: InvalidArgument "PostgreSQL text fields cannot contain NUL (0x00) bytes",
    # raised for the whole import, and job `plain` never imported.
    by_job = {p.project.job_id: p.project for p in result.projects}
    assert set(by_job) == {nul, plain} and not result.skipped
    assert store.projects.get(by_job[nul].id or 0).job_name == "nul\ufffdname"  # alike on both engines
    live = find_cluster_spec(gateway.get_job(nul)["settings"], "main")
    assert live is not None and live["custom_tags"][PROJECT_TAG] == str(by_job[nul].id)
    assert gateway.get_job(nul)["settings"]["name"] == "nul\x00name"  # the job itself is left as named

    updates: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE PROJECTS"):
            updates.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        again = workspaces.import_jobs(store, secrets, "sbx", [nul], wiring=WIRING)  # idempotent: nothing new
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    assert [p.created for p in again.projects] == [False] and len(store.projects.list()) == 2
    # The name as stored is the name as Databricks has it: no rename, so no row written again (it was, at
    # every import, "nul\x00name" read against the stored "nul\ufffdname").
    assert updates == []
    project = store.projects.get(by_job[nul].id or 0)
    # Nor by the collector following the job's settings (its name, its schedule) at each poll.
    assert followed(project, gateway.get_job(nul)["settings"]) == {}
    assert followed(project, {"name": "renamed\x00"}) == {"job_name": "renamed\x00"}


def test_a_cluster_key_with_nul_fails_that_job_alone(store: Store, secrets: SecretBox, connected: Workspace,
                                                     gateway: DatabricksGateway) -> None:
    settings = etl_job(dict(SPEC), name="odd-key")
    settings["job_clusters"][0]["job_cluster_key"] = "ma\x00in"
    settings["tasks"][0]["job_cluster_key"] = "ma\x00in"
    odd = gateway.create_job(settings)
    plain = gateway.create_job(etl_job(dict(SPEC), name="plain"))
    before = gateway.get_job(odd)["settings"]

    result = workspaces.import_jobs(store, secrets, "sbx", [odd, plain], wiring=WIRING)

    # A key is how the job's cluster is found again (in the job, and its project in the store): it is not
    # rewritten, so the job fails (on SQLite too, which could store it), and the next job is imported.
    assert [p.project.job_id for p in result.projects] == [plain]
    (failed,) = result.skipped
    assert failed.job_id == odd and failed.failed and failed.job_name == "odd-key"
    assert "NUL" in failed.reason and failed.reason.startswith("import failed: ")
    assert gateway.get_job(odd)["settings"] == before  # nothing written to the job
    assert [p.job_id for p in store.projects.list()] == [plain]


def test_a_run_message_with_nul_is_stored_on_both_engines(store: Store) -> None:
    project = store.projects.add(Project(workspace="sbx", job_id=5, cluster_key="main", job_name="j",
                                         current_spec=SPEC, original_spec=SPEC))
    run = store.runs.add(Run(project_id=project.id or 0, databricks_run_id=7, cluster_id="c-1", start_ms=0,
                             end_ms=60_000, runtime_s=60.0, outcome="failed",
                             message="init script said: no\x00such package"))
    assert store.runs.get(run.id or 0).message == "init script said: no\ufffdsuch package"


def test_workspace_import_over_the_server_imports_a_job_named_with_nul(
        trimtab: Callable[..., tuple[int, str, str]], cli_workspace: str, gateway: DatabricksGateway) -> None:
    """The reviewer's repro, through the CLI and the real gRPC server: `workspace import` exited 2 on
    PostgreSQL ("error: a value the database cannot store: ... NUL (0x00) bytes (INVALID_ARGUMENT)")."""
    nul = gateway.create_job(etl_job(dict(SPEC), name="nul\x00name"))
    plain = gateway.create_job(etl_job(dict(SPEC), name="plain"))

    code, out, err = trimtab("workspace", "import", cli_workspace)

    assert code == 0, err
    assert f"{cli_workspace}/{nul}/main  (nul\ufffdname)" in out and f"{cli_workspace}/{plain}/main  (plain)" in out


def test_workspace_import_exits_1_naming_a_job_whose_import_failed(
        trimtab: Callable[..., tuple[int, str, str]], cli_workspace: str, gateway: DatabricksGateway) -> None:
    """A job whose import failed is not imported: the CLI exited 0, so a script never saw it
    (SkippedJob.failed, proto field 5); the jobs beside it are imported all the same."""
    settings = etl_job(dict(SPEC), name="odd-key")
    settings["job_clusters"][0]["job_cluster_key"] = "ma\x00in"
    settings["tasks"][0]["job_cluster_key"] = "ma\x00in"
    odd = gateway.create_job(settings)
    plain = gateway.create_job(etl_job(dict(SPEC), name="plain"))

    code, out, err = trimtab("workspace", "import", cli_workspace)

    assert code == 1, (out, err)
    assert f"{cli_workspace}/{plain}/main  (plain)" in out
    assert f"the import of job {odd} failed (the reason is listed above)" in err
    code, out, err = trimtab("--json", "workspace", "import", cli_workspace, "--job", str(odd))
    assert code == 1 and '"failed": true' in out, (out, err)
