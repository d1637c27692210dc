"""A job whose cluster runs every node on demand is imported with spot not allowed, and the import and
`project show` say so and how to allow it (review spot, finding 2).

Import left spot allowed for every job, and the next recommendation moved an on-demand job onto spot
(SPOT_WITH_FALLBACK) with no word of it: moving a job the owner keeps on demand onto spot is theirs to
decide. Real parts: the `trimtab` CLI against the real gRPC server, the sandbox workspace emulator over
HTTP through the real databricks-sdk, the real store."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import LOG_CONF, SPARK_VERSION, aws_cluster
from server.databricks import DatabricksGateway
from server.store import Store
from tests.cli.conftest import shown
from tests.integration.conftest import NOOP_INIT, etl_job

Trimtab = Callable[..., tuple[int, str, str]]


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: the engine does not matter here (import's settings are stored as any settings are)."""
    return sqlite_store


def _add(trimtab: Trimtab, emulator: RunningWorkspace, gateway: DatabricksGateway, name: str, cloud: str,
         monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    code, _, err = trimtab("workspace", "add", name, "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", cloud)
    assert code == 0, err


def test_an_on_demand_job_is_imported_with_spot_off_and_says_how_to_allow_it(
        trimtab: Trimtab, store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _add(trimtab, emulator, gateway, "sbx", "aws", monkeypatch)
    on_demand = gateway.create_job(etl_job(aws_cluster("m5d.xlarge", 4, availability="ON_DEMAND"), "od"))
    on_spot = gateway.create_job(etl_job(aws_cluster("m5d.xlarge", 4), "spot"))
    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(on_demand), "--job", str(on_spot), "--dry-run")
    assert code == 0, err
    note = f"spot is not allowed for project sbx/{on_demand}/main (`trimtab project set sbx/{on_demand}/main --spot on`"
    assert note in out and f"sbx/{on_spot}/main (`trimtab" not in out
    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(on_demand), "--job", str(on_spot))
    assert code == 0, err
    assert note in out and out.count("spot is not allowed") == 1
    settings = {p.job_id: p.settings.spot_allowed for p in store.projects.list()}
    assert settings == {on_demand: False, on_spot: True}  # was True for both
    code, out, _ = trimtab("project", "show", f"sbx/{on_demand}/main")
    assert shown(out, "spot") == [f"not allowed (`trimtab project set sbx/{on_demand}/main --spot on` allows it)"]
    code, out, _ = trimtab("project", "show", f"sbx/{on_spot}/main")
    assert shown(out, "spot") == ["allowed"]
    # The command it names does allow it.
    code, _, err = trimtab("project", "set", f"sbx/{on_demand}/main", "--spot", "on")
    assert code == 0, err
    code, out, _ = trimtab("project", "show", f"sbx/{on_demand}/main")
    assert shown(out, "spot") == ["allowed"]
    # Imported again, the owner's setting stays theirs (only a new project takes the cluster's).
    code, out, _ = trimtab("workspace", "import", "sbx", "--job", str(on_demand))
    assert code == 0 and "spot is not allowed" not in out
    assert {p.job_id: p.settings.spot_allowed for p in store.projects.list()}[on_demand]


def test_an_azure_cluster_leaving_availability_unset_runs_on_demand_and_is_imported_so(
        trimtab: Trimtab, store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _add(trimtab, emulator, gateway, "az", "azure", monkeypatch)
    # Databricks runs an Azure cluster without an availability on demand (ON_DEMAND_AZURE).
    unset = {"spark_version": SPARK_VERSION, "node_type_id": "Standard_D4s_v5", "num_workers": 4,
             "cluster_log_conf": LOG_CONF}
    spot = {**unset, "azure_attributes": {"availability": "SPOT_WITH_FALLBACK_AZURE", "first_on_demand": 1}}
    jobs = {gateway.create_job(etl_job(unset, "unset")): False, gateway.create_job(etl_job(spot, "spot")): True}
    code, out, err = trimtab("workspace", "import", "az", *[a for j in jobs for a in ("--job", str(j))])
    assert code == 0, err
    assert {p.job_id: p.settings.spot_allowed for p in store.projects.list()} == jobs
