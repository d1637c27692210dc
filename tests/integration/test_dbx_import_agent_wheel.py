"""Onboarded clusters install the agent from its wheel, as on Databricks.

Databricks fetches the init script alone, so import puts the agent's wheel (built from this
repository) beside an init script it uploads, in a Unity Catalog volume through the Files API,
and writes TRIMTAB_AGENT_WHEEL into the cluster's spark_env_vars. The emulator hands such a
cluster no agent of its own: the init script creates a venv with the node's runtime Python and
pip-installs the wheel. Where no wheel can be put beside the script, import refuses, saying what
to set, instead of onboarding clusters that would start without the agent."""

from __future__ import annotations

import zipfile

import pytest

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.errors import FailedPrecondition
from server.onboard import AGENT_WHEEL_ENV, AgentWiring, init_script_info, onboard_spec
from server.services import agent_install, workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store

SCRIPT = "/Volumes/main/ops/trimtab/trimtab-init.sh"


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: the engine plays no part in where the wheel goes."""
    return sqlite_store


def test_the_wheel_goes_beside_a_volume_script_and_the_cluster_installs_it(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    wiring = AgentWiring(server_address="127.0.0.1:50999", init_script=init_script_info(SCRIPT))
    workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=wiring)
    name = agent_install.agent_wheel_name()
    live = find_cluster_spec(gateway.get_job(job_ids[0])["settings"], "main") or {}
    assert live["spark_env_vars"][AGENT_WHEEL_ENV] == f"/Volumes/main/ops/trimtab/{name}"
    uploaded = emulator.workspace.state_dir / "volumes" / "Volumes" / "main" / "ops" / "trimtab" / name
    with zipfile.ZipFile(uploaded) as wheel:
        assert "agent/__init__.py" in wheel.namelist()

    run_id = gateway.run_now(job_ids[0])
    assert emulator.wait_idle(120)
    assert gateway.get_run(run_id)["state"].get("result_state") == "SUCCESS"
    cluster_id = gateway.get_run(run_id)["tasks"][0]["cluster_instance"]["cluster_id"]
    home = emulator.workspace.driver_root(cluster_id) / "databricks" / "trimtab"
    said = (home / "init.log").read_text()
    assert "the runtime's interpreter" in said and "agent started" in said, said
    assert (home / "venv" / "bin" / "trimtab-agent").is_file()  # installed by pip from the wheel
    installed = list((home / "venv" / "lib").glob("python3*/site-packages/agent/__init__.py"))
    assert installed, "the agent runs from the wheel's copy, not the emulator's"


def test_import_refuses_when_clusters_would_have_no_wheel(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int]) -> None:
    before = store.projects.list()
    in_s3 = AgentWiring(server_address="127.0.0.1:50999", init_script=init_script_info("s3://ops/trimtab/init.sh"))
    with pytest.raises(FailedPrecondition, match="TRIMTAB_AGENT_WHEEL") as err:
        workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=in_s3)
    assert "could not install the agent" in err.value.message and "cloud storage" in err.value.message
    unreadable = AgentWiring(server_address="127.0.0.1:50999", agent_wheel="s3://ops/trimtab.whl")
    with pytest.raises(FailedPrecondition, match="pip, which cannot read"):
        workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=unreadable)
    assert store.projects.list() == before


def test_an_explicit_wheel_location_is_written_as_it_is() -> None:
    wiring = AgentWiring(server_address="h:1", agent_wheel="https://pkgs.example.com/trimtab-0.1.0-py3-none-any.whl")
    spec = onboard_spec({"num_workers": 2}, project_id="1", wiring=wiring)
    assert spec["spark_env_vars"][AGENT_WHEEL_ENV] == wiring.agent_wheel
    assert agent_install.agent_wheel_plan(wiring) == (wiring, None)  # nothing uploaded
