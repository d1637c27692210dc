"""Onboarded clusters install the agent from its wheel, as on Databricks.

Databricks fetches the init script alone, so import puts the agent's wheel (built from this
repository) beside an init script it uploads, in a Unity Catalog volume through the Files API,
and writes TRIMTAB_AGENT_WHEEL into the cluster's spark_env_vars. The emulator hands such a
cluster no agent of its own: the init script creates a venv with the node's runtime Python and
pip-installs the wheel. Where no wheel can be put beside the script, import refuses, saying what
to set, instead of onboarding clusters that would start without the agent."""

from __future__ import annotations

import zipfile
from pathlib import Path

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


def test_importing_again_replaces_an_older_servers_wheel(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, connected: Workspace, job_ids: list[int]) -> None:
    # What docs/operations.md and `trimtab agent list` tell an upgraded server's operator: an import
    # of jobs already imported uploads this server's wheel over the one an older server put there.
    wiring = AgentWiring(server_address="127.0.0.1:50999", init_script=init_script_info(SCRIPT))
    workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=wiring)
    uploaded = (emulator.workspace.state_dir / "volumes" / "Volumes" / "main" / "ops" / "trimtab"
                / agent_install.agent_wheel_name())
    uploaded.write_bytes(b"an older server's wheel")
    workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=wiring)
    assert uploaded.read_bytes() == agent_install.agent_wheel_file().read_bytes()


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


# Databricks ("What files can I reference in an init script?"): files in a Unity Catalog volume are
# readable only by an init script stored in a volume, other workspace files by one in workspace
# files; an https URL by any. A wheel the script cannot read was accepted, and pip found no file.
WHEEL_NAME = "trimtab-0.1.0-py3-none-any.whl"
SCRIPTS = {"volumes": "/Volumes/main/ops/trimtab/trimtab-init.sh", "workspace": "/Shared/trimtab/trimtab-init.sh",
           "s3": "s3://ops/trimtab/trimtab-init.sh", "abfss": "abfss://init@acct.dfs.core.windows.net/trimtab-init.sh",
           "gcs": "gs://ops/trimtab/trimtab-init.sh", "dbfs": "dbfs:/trimtab/trimtab-init.sh"}
WHEELS = {"volumes": f"/Volumes/main/ops/trimtab/{WHEEL_NAME}", "workspace": f"/Workspace/Shared/trimtab/{WHEEL_NAME}",
          "https": f"https://pkgs.example.com/{WHEEL_NAME}"}


@pytest.mark.parametrize("script_kind", sorted(SCRIPTS))
@pytest.mark.parametrize("wheel_kind", sorted(WHEELS))
def test_a_wheel_is_accepted_only_where_the_init_script_can_read_it(script_kind: str, wheel_kind: str) -> None:
    script = init_script_info(SCRIPTS[script_kind])
    assert next(iter(script)) == script_kind
    wiring = AgentWiring(server_address="h:1", init_script=script, upload_init_script=False,
                         agent_wheel=WHEELS[wheel_kind])
    if wheel_kind in ("https", script_kind):
        assert agent_install.agent_wheel_plan(wiring) == (wiring, None)
        return
    with pytest.raises(FailedPrecondition) as err:
        agent_install.agent_wheel_plan(wiring)
    said = err.value.message
    assert "readable only by an init script stored in" in said and SCRIPTS[script_kind] in said, said
    assert "https URL" in said


@pytest.mark.parametrize("script_kind", ["s3", "abfss", "gcs", "dbfs"])
def test_the_refusal_for_a_script_elsewhere_recommends_only_what_it_can_read(script_kind: str) -> None:
    wiring = AgentWiring(server_address="h:1", init_script=init_script_info(SCRIPTS[script_kind]),
                         upload_init_script=False)
    with pytest.raises(FailedPrecondition, match="TRIMTAB_AGENT_WHEEL_LOCATION") as err:
        agent_install.agent_wheel_plan(wiring)
    said = err.value.message
    assert "/Volumes/<catalog>/<schema>/<volume>/....whl" not in said, said
    assert "an https URL" in said and "cannot read files in Unity Catalog volumes or workspace files" in said
    # A volume script managed elsewhere may be given a wheel in its volume.
    in_volume = AgentWiring(server_address="h:1", init_script=init_script_info(SCRIPTS["volumes"]),
                            upload_init_script=False)
    with pytest.raises(FailedPrecondition, match=r"or a /Volumes/\.\.\.\.whl path"):
        agent_install.agent_wheel_plan(in_volume)


def test_import_refuses_a_volume_wheel_for_a_workspace_script(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int]) -> None:
    before = store.projects.list()
    wiring = AgentWiring(server_address="127.0.0.1:50999", init_script=init_script_info(SCRIPTS["workspace"]),
                         agent_wheel=WHEELS["volumes"])
    with pytest.raises(FailedPrecondition, match="readable only by an init script stored in a volume"):
        workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=wiring)
    assert store.projects.list() == before


def test_import_refuses_when_this_installation_has_no_init_script_to_upload(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: Workspace, job_ids: list[int],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An installed server whose wheel did not carry init_scripts/ (a reviewer's, given
    # TRIMTAB_AGENT_WHEEL_LOCATION as its error said): import onboarded the job pointing at
    # /Shared/trimtab/trimtab-init.sh without putting it there, logging that clusters "will start
    # without the agent"; Databricks fails such a cluster at start (INIT_SCRIPT_FAILURE).
    missing = tmp_path / "site-packages" / "init_scripts" / "trimtab-init.sh"
    monkeypatch.setattr(agent_install, "INIT_SCRIPT", missing)
    before = store.projects.list()
    settings = gateway.get_job(job_ids[0])["settings"]
    wiring = AgentWiring(server_address="127.0.0.1:50999", agent_wheel=WHEELS["workspace"])
    for dry_run in (True, False):
        with pytest.raises(FailedPrecondition) as err:
            workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], dry_run=dry_run, wiring=wiring)
        said = err.value.message
        assert str(missing) in said and "/Shared/trimtab/trimtab-init.sh" in said, said
        assert "INIT_SCRIPT_FAILURE" in said and "without the agent" not in said, said
    assert store.projects.list() == before
    assert gateway.get_job(job_ids[0])["settings"] == settings  # not onboarded
    assert not gateway.has_secret(wiring.secret_scope, wiring.secret_key)  # nothing written at all
