"""`trimtab project set` refuses a driver type or instance family the server's price catalog does not
know for the project's cloud, at once and with close names, and saves nothing of that call (real gRPC
server on port 0, SQLite and PostgreSQL); a name saved before the catalog dropped it does not block
other changes. Then the pure check itself."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from server.cli.main import main
from server.config import ServerConfig
from server.costing.catalog import PriceCatalog, load_catalog
from server.domain import Project, ProjectSettings, Workspace
from server.errors import InvalidArgument
from server.serve import start_server
from server.services.projects import catalog_names_to_check, check_catalog_names
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.2xlarge", "num_workers": 12,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
AZURE_SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_D8s_v5", "num_workers": 4}
SAVED = ProjectSettings(sla_seconds=2700.0, allowed_families=("m5", "r5"), learning_budget=4)
MEGA_REFUSED = ("settings.driver_node_type_id: 'm5.mega' is not an aws node type in the price catalog "
                "(close: m5.xlarge, m5d.xlarge, m5.8xlarge)")


@pytest.fixture
def cli_store(any_store: Store) -> Store:
    """The server's store on both engines (the folder's fixture is SQLite only), with an AWS and an
    Azure workspace."""
    any_store.workspaces.add(Workspace(name="prod", host="http://x", cloud="aws", plan="premium"), "enc")
    any_store.workspaces.add(Workspace(name="az", host="http://y", cloud="azure", plan="premium"), "enc")
    return any_store


def _project(store: Store, workspace: str = "prod", spec: dict[str, object] = SPEC,
             settings: ProjectSettings = SAVED) -> int:
    added = store.projects.add(Project(workspace=workspace, job_id=42, cluster_key="main", job_name="nightly",
                                       current_spec=spec, original_spec=spec, settings=settings))
    return int(added.id or 0)


def _refused(trimtab: Trimtab, store: Store, pid: int, *args: str) -> str:
    """`project set` is refused as a failure (exit 1: the server checked it, as for min > max
    workers), says why in one line and prints nothing else; the saved settings are as they were."""
    before = store.projects.get(pid).settings
    code, out, err = trimtab("project", "set", str(pid), *args)
    assert (code, out) == (2, ""), err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: settings.")
    assert err.rstrip().endswith(" (INVALID_ARGUMENT)")
    assert store.projects.get(pid).settings == before
    return err.strip().removeprefix("error: ").removesuffix(" (INVALID_ARGUMENT)")


def test_an_unknown_driver_type_is_refused_with_close_names(trimtab: Trimtab, cli_store: Store) -> None:
    pid = _project(cli_store)
    # The SLA given in the same call is not saved either: the call is refused as a whole.
    assert _refused(trimtab, cli_store, pid, "--driver-type", "m5.mega", "--sla", "1h") == MEGA_REFUSED
    assert _refused(trimtab, cli_store, pid, "--driver-type", "M5.XLARGE") == (
        "settings.driver_node_type_id: 'M5.XLARGE' is not an aws node type in the price catalog "
        "(close: m5.xlarge, m5d.xlarge, m5.8xlarge)")
    code, out, err = trimtab("--json", "project", "show", str(pid))
    assert code == 0, err
    assert json.loads(out)["settings"].get("driver_node_type_id", "") == ""


def test_an_unknown_family_is_refused_with_close_names(trimtab: Trimtab, cli_store: Store) -> None:
    pid = _project(cli_store)
    assert _refused(trimtab, cli_store, pid, "--allowed-families", "m5,m55", "--learning-budget", "9") == (
        "settings.allowed_families: 'm55' is not an aws instance family in the price catalog "
        "(close: m5, m5d, r5)")
    assert _refused(trimtab, cli_store, pid, "--allowed-families", "zz,x9") == (
        "settings.allowed_families: 'zz' is not an aws instance family in the price catalog (none close; "
        "`trimtab prices show --cloud aws` lists the node types it prices); 'x9' is not an aws instance "
        "family in the price catalog (none close; `trimtab prices show --cloud aws` lists the node types "
        "it prices)")
    assert cli_store.projects.get(pid).settings == SAVED


def test_known_names_are_saved(trimtab: Trimtab, cli_store: Store) -> None:
    pid = _project(cli_store)
    code, out, err = trimtab("--json", "project", "set", str(pid), "--driver-type", "r5.xlarge",
                             "--allowed-families", "r5,m5d")
    assert code == 0, err
    assert json.loads(out)["settings"]["driver_node_type_id"] == "r5.xlarge"
    assert cli_store.projects.get(pid).settings == dataclasses.replace(
        SAVED, driver_node_type_id="r5.xlarge", allowed_families=("r5", "m5d"))
    # auto and any mean "let Trimtab choose": nothing to check.
    code, _, err = trimtab("project", "set", str(pid), "--driver-type", "auto", "--allowed-families", "any")
    assert code == 0, err
    # Cleared (clear_driver_node_type_id), as --sla none clears the SLA: "" was stored as a driver set to nothing.
    assert cli_store.projects.get(pid).settings == ProjectSettings(sla_seconds=2700.0, learning_budget=4)


def test_names_are_checked_against_the_projects_cloud(trimtab: Trimtab, cli_store: Store) -> None:
    pid = _project(cli_store, workspace="az", spec=AZURE_SPEC, settings=ProjectSettings())
    assert _refused(trimtab, cli_store, pid, "--driver-type", "m5.xlarge") == (
        "settings.driver_node_type_id: 'm5.xlarge' is not an azure node type in the price catalog "
        "(none close; `trimtab prices show --cloud azure` lists the node types it prices)")
    assert _refused(trimtab, cli_store, pid, "--driver-type", "standard_d4s_v5") == (
        "settings.driver_node_type_id: 'standard_d4s_v5' is not an azure node type in the price catalog "
        "(close: Standard_D4s_v5, Standard_D4ds_v5, Standard_E4s_v5)")
    code, _, err = trimtab("project", "set", str(pid), "--driver-type", "Standard_D4s_v5",
                           "--allowed-families", "Dsv5,Esv5")
    assert code == 0, err
    stored = cli_store.projects.get(pid).settings
    assert (stored.driver_node_type_id, stored.allowed_families) == ("Standard_D4s_v5", ("Dsv5", "Esv5"))


def test_a_saved_type_the_catalog_dropped_does_not_block_other_changes(trimtab: Trimtab, cli_store: Store) -> None:
    pid = _project(cli_store)
    # Written through the store, below `update_settings`' check: how a catalog update that dropped
    # the type leaves a project whose owner set it while the catalog still knew it.
    cli_store.projects.update_settings(pid, dataclasses.replace(SAVED, driver_node_type_id="m5.mega",
                                                                allowed_families=("m5", "m4")))
    code, out, err = trimtab("--json", "project", "set", str(pid), "--sla", "1h", "--allowed-families", "m4,m5,r5")
    assert code == 0, err
    assert json.loads(out)["settings"]["sla_seconds"] == 3600
    stored = cli_store.projects.get(pid).settings
    assert (stored.sla_seconds, stored.driver_node_type_id, stored.allowed_families) == \
        (3600.0, "m5.mega", ("m4", "m5", "r5"))
    # Naming the saved type again changes nothing, so it is not checked again either ...
    code, _, err = trimtab("project", "set", str(pid), "--driver-type", "m5.mega", "--learning-budget", "2")
    assert code == 0, err
    assert cli_store.projects.get(pid).settings.learning_budget == 2
    # ... but a new unknown name still is, and the fix the planner's problem asks for goes through.
    assert _refused(trimtab, cli_store, pid, "--allowed-families", "m4,m55") == (
        "settings.allowed_families: 'm55' is not an aws instance family in the price catalog "
        "(close: m5, m5d, r5)")
    code, _, err = trimtab("project", "set", str(pid), "--driver-type", "m5.xlarge")
    assert code == 0, err
    assert cli_store.projects.get(pid).settings.driver_node_type_id == "m5.xlarge"


def test_a_project_without_a_connected_workspace_is_not_checked(trimtab: Trimtab, cli_store: Store) -> None:
    """No workspace, no cloud to check against; planning that project fails on the workspace."""
    pid = _project(cli_store, workspace="gone")
    code, _, err = trimtab("project", "set", str(pid), "--allowed-families", "m55")
    assert code == 0, err
    assert cli_store.projects.get(pid).settings.allowed_families == ("m55",)


def test_the_server_checks_against_its_active_catalog(cli_store: Store, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A catalog in <state-dir>/prices (what `trimtab prices update` writes) is the one the server
    plans with, so it is the one `project set` is checked against."""
    shipped = load_catalog()
    mega = {**(shipped.entry("node_types", "aws", "m5.xlarge") or {}), "node_type": "m5.mega"}
    shipped.with_entries("node_types", [mega], "test-with-m5.mega").write(tmp_path / "state" / "prices")
    pid = _project(cli_store)
    _, token = cli_store.tokens.create("cli", "admin")
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state"), cli_store)
    try:
        capsys.readouterr()
        code = main(["--server", running.address, "--token", token, "project", "set", str(pid),
                     "--driver-type", "m5.mega"])
        err = capsys.readouterr().err
        assert code == 0, err
        code = main(["--server", running.address, "--token", token, "project", "set", str(pid),
                     "--driver-type", "m5.giga"])
        err = capsys.readouterr().err
        assert code == 2 and "'m5.giga' is not an aws node type in the price catalog (close: m5.mega," in err
    finally:
        running.stop(0)
    assert cli_store.projects.get(pid).settings.driver_node_type_id == "m5.mega"


# ------------------------------------------------------------------ the pure check


def _check(before: ProjectSettings, after: ProjectSettings, cloud: str = "aws",
           catalog: PriceCatalog | None = None) -> str | None:
    """The refusal's message, or None when the change passes."""
    try:
        check_catalog_names(before, after, load_catalog() if catalog is None else catalog, cloud)
    except InvalidArgument as exc:
        return exc.message
    return None


def test_the_check_names_the_field_the_value_the_cloud_and_close_names() -> None:
    assert _check(ProjectSettings(), ProjectSettings(driver_node_type_id="m5.mega")) == MEGA_REFUSED
    assert _check(ProjectSettings(), ProjectSettings(allowed_families=("m5", "r55", "r5", "m55"))) == (
        "settings.allowed_families: 'r55' is not an aws instance family in the price catalog (close: r5, r5d, m5); "
        "'m55' is not an aws instance family in the price catalog (close: m5, m5d, r5)")
    assert _check(ProjectSettings(), ProjectSettings(allowed_families=("dsv5",)), cloud="azure") == (
        "settings.allowed_families: 'dsv5' is not an azure instance family in the price catalog "
        "(close: Dsv5, Edsv5, Ddsv5)")
    assert _check(ProjectSettings(), ProjectSettings(driver_node_type_id="r5.xlarge"), cloud="azure") is not None


def test_the_check_passes_known_names_and_empty_settings() -> None:
    assert _check(ProjectSettings(), ProjectSettings(driver_node_type_id="c6id.xlarge",
                                                     allowed_families=("c6id", "m7gd", "i4i"))) is None
    assert _check(ProjectSettings(), ProjectSettings(driver_node_type_id="Standard_E8ds_v5",
                                                     allowed_families=("Edsv5", "Lsv3")), cloud="azure") is None
    # Clearing names nothing, even for a cloud the catalog has no types for.
    cleared = ProjectSettings(driver_node_type_id="", allowed_families=())
    assert _check(ProjectSettings(driver_node_type_id="m5.mega", allowed_families=("m55",)), cleared,
                  cloud="gcp") is None
    assert catalog_names_to_check(ProjectSettings(), ProjectSettings(driver_node_type_id=None)) == {}


def test_only_names_the_change_brings_in_are_checked() -> None:
    saved = ProjectSettings(driver_node_type_id="m5.mega", allowed_families=("m4", "m5"))
    assert catalog_names_to_check(saved, dataclasses.replace(saved, sla_seconds=60.0)) == {}
    assert catalog_names_to_check(saved, dataclasses.replace(saved, allowed_families=("m5", "r5", "m4", "r5"))) == \
        {"allowed_families": ("r5",)}
    assert catalog_names_to_check(saved, dataclasses.replace(saved, driver_node_type_id="m5.xlarge")) == \
        {"driver_node_type_id": ("m5.xlarge",)}
    assert _check(saved, dataclasses.replace(saved, sla_seconds=60.0, allowed_families=("m4", "r5"))) is None
    assert _check(saved, dataclasses.replace(saved, allowed_families=("m4", "r55"))) == (
        "settings.allowed_families: 'r55' is not an aws instance family in the price catalog (close: r5, r5d, m5)")


def test_a_type_a_newer_catalog_dropped_is_refused_as_a_new_setting() -> None:
    shipped = load_catalog()
    newer = PriceCatalog(shipped.version + "-no-r5", shipped.currency, shipped.hours_per_month, {
        **shipped.entries,
        "node_types": tuple(e for e in shipped.entries["node_types"]
                            if not (e["cloud"] == "aws" and e["family"] == "r5"))})
    assert _check(ProjectSettings(), ProjectSettings(driver_node_type_id="r5.xlarge"), catalog=shipped) is None
    assert _check(ProjectSettings(), ProjectSettings(driver_node_type_id="r5.xlarge"), catalog=newer) == (
        "settings.driver_node_type_id: 'r5.xlarge' is not an aws node type in the price catalog "
        "(close: r5d.xlarge, r5d.8xlarge, r5d.4xlarge)")
    # The nearest first; after it, families as near as each other (m5, c5, g5...) in catalog order.
    said = _check(ProjectSettings(), ProjectSettings(allowed_families=("r5",)), catalog=newer)
    assert said is not None and said.startswith(
        "settings.allowed_families: 'r5' is not an aws instance family in the price catalog (close: r5d, m5, ")
