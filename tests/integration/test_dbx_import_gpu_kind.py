"""Whether a DATA_SECURITY_MODE_AUTO cluster runs in standard access depends on whether its node type has
GPUs ("Auto defaults to Standard unless ... a GPU instance type ... is selected"), and whether it has GPUs
is the price catalog's word where its entry states it (`server.hardware.node_kind`), as the planner and the
apply read it. Import read the name only: a gr6 (NVIDIA L4, a name the rules read as a CPU type) job on
AUTO was skipped as standard access though Databricks runs it dedicated, and a type the catalog states has
no GPU was onboarded as dedicated though it runs standard (where a workspace or DBFS init script never runs)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.workspace.seed import aws_cluster
from server.costing.catalog import PriceCatalog, load_catalog
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.onboard import ImportTarget, qualify
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING

SOURCE = {"source": "test catalog (a node type's GPUs stated against its name)", "date": "2026-12-07"}


def _catalog() -> PriceCatalog:
    """The shipped catalog with gr6.4xlarge (1 GPU, NVIDIA L4: its name reads as a CPU type). The emulator
    knows no gr6, so for the import through it i3.xlarge is stated with a GPU and g4dn.xlarge with none,
    each against its name: the catalog's word is what moves the outcome."""
    shipped = load_catalog()
    i3 = {**(shipped.entry("node_types", "aws", "i3.xlarge") or {}), "gpus": 1, **SOURCE}
    g4dn = {**(shipped.entry("node_types", "aws", "g4dn.xlarge") or {}), "gpus": 0, **SOURCE}
    gr6 = {"cloud": "aws", "node_type": "gr6.4xlarge", "family": "gr6", "vcpus": 16, "memory_gb": 128,
           "local_disk_gb": 600, "dbus_per_hour": 2.72, "gpus": 1, "arch": "x86_64", **SOURCE}
    return shipped.with_entries("node_types", [i3, g4dn, gr6], "test")


CATALOG = _catalog()


def _auto(node_type: str) -> dict[str, Any]:
    return {**aws_cluster(node_type, 2), "spark_version": "15.4.x-scala2.12",
            "data_security_mode": "DATA_SECURITY_MODE_AUTO"}


def _job(job_id: int, spec: dict[str, Any], name: str = "auto") -> dict[str, Any]:
    return {"job_id": job_id, "settings": {
        "name": name, "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main",
                   "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]}}


def _into(catalog: PriceCatalog | None) -> ImportTarget:
    if catalog is None:
        return ImportTarget("sbx", "https://h", "aws")
    return ImportTarget("sbx", "https://h", "aws", listed=lambda t: catalog.entry("node_types", "aws", t))


@pytest.mark.parametrize(("node_type", "dedicated"), [("gr6.4xlarge", True), ("i3.xlarge", True),
                                                      ("g4dn.xlarge", False)])
def test_auto_access_mode_is_judged_on_the_catalogs_gpus(node_type: str, dedicated: bool) -> None:
    job = _job(1, _auto(node_type))
    # By name alone (no catalog) each is read the other way: the catalog's entry decides against it.
    assert bool(qualify(job, into=_into(None)).clusters) is not dedicated
    found = qualify(job, into=_into(CATALOG))
    assert bool(found.clusters) is dedicated
    if not dedicated:  # standard access: the default workspace-file script never runs there
        assert "DATA_SECURITY_MODE_AUTO, which is standard on this runtime" in found.skipped_reason


def test_import_judges_auto_access_mode_on_the_catalog(store: Store, secrets: SecretBox, connected: Workspace,
                                                       gateway: DatabricksGateway,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workspaces._integration, "catalog", CATALOG)  # the catalog the server runs on
    gpu = gateway.create_job(_job(0, _auto("i3.xlarge"), "stated-gpu")["settings"])
    cpu = gateway.create_job(_job(0, _auto("g4dn.xlarge"), "stated-cpu")["settings"])

    result = workspaces.import_jobs(store, secrets, "sbx", [gpu, cpu], wiring=WIRING)

    # Was: the reverse (the names read: i3 standard, so skipped over its DBFS script; g4dn dedicated, onboarded).
    assert [p.project.job_id for p in result.projects] == [gpu]
    (skipped,) = result.skipped
    assert skipped.job_id == cpu and "standard on this runtime" in skipped.reason
