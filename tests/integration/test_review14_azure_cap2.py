"""Azure's spot price cap follows the node types it was set for (review rev14h): the emulator through
the real databricks-sdk, the real store (SQLite and PostgreSQL).

F1: detach after the owner changed the node type by hand (the cap left at the -1 Trimtab wrote) put
the user's pre-apply cap onto the owner's new type: refused onto a smaller one (the project could
not be detached), a stale small cap onto a bigger one. F2: a cluster policy that fills the cap in
(fixed, or a default the spec asks for) while the spec leaves it out let the planner move to a
smaller type, onto which Databricks fills a cap above that type's on-demand price."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation, restore_original, revert
from server.databricks import DatabricksGateway, DatabricksRejected
from server.domain import ClusterConfig, Project
from server.errors import FailedPrecondition
from server.plan.policy import ClusterPolicy
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, recommended_spec
from server.store import Store
from tests.integration.conftest import admin_post
from tests.integration.test_review14_azure_spot_cap import (
    CAP,
    SMALLER,
    _import,
    _job,
    _live,
    _recommend,
    _spec,
)

# D16s_v5 -> D8s_v5: an apply that changes the node type, so it writes -1 over the user's 0.5 $/h.
D8 = ClusterConfig(node_type_id="Standard_D8s_v5", num_workers=6, availability="SPOT_WITH_FALLBACK",
                   first_on_demand=1)
CAP_PATH = "azure_attributes.spot_bid_max_price"


def _applied(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> Project:
    """A D16s_v5 job with the user's 0.5 $/h cap, Trimtab's D8s_v5 applied over it (cap -1)."""
    project = _import(store, secrets, emulator, gateway, _spec("Standard_D16s_v5", 4))
    _recommend(store, project, D8)
    assert apply_recommendation(store, gateway, int(project.id or 0)).applied
    assert _live(gateway, project)["azure_attributes"]["spot_bid_max_price"] == -1
    return project


def _owner_edits(gateway: DatabricksGateway, project: Project, **fields: Any) -> None:
    """The owner's own jobs/update of the cluster (``azure_attributes`` merged into the live one)."""
    settings = gateway.get_job(project.job_id)["settings"]
    spec = _live(gateway, project)
    for key, value in fields.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, spec))


# ------------------------------------------------------------------ F1: detach


@pytest.mark.parametrize("node", ["Standard_D4s_v5", "Standard_D32s_v5"])
def test_detach_keeps_no_cap_on_the_node_type_the_owner_chose(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway, node: str) -> None:
    project = _applied(store, secrets, emulator, gateway)
    _owner_edits(gateway, project, node_type_id=node)
    dry = restore_original(store, gateway, int(project.id or 0), dry_run=True)
    assert "spot_bid_max_price" not in dry.diff, dry.diff
    # Before the fix: 0.5 onto D4s_v5 (0.2304 $/h on demand) was refused and the project stayed attached;
    # onto D32s_v5 a cap of a sixth of its price was written.
    restore_original(store, gateway, int(project.id or 0))
    live = _live(gateway, project)
    assert (live["node_type_id"], live["azure_attributes"]["spot_bid_max_price"]) == (node, -1)
    assert store.projects.get(int(project.id or 0)).detached


def test_detach_without_an_edit_puts_the_cap_back_with_its_node_type(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    project = _applied(store, secrets, emulator, gateway)
    restore_original(store, gateway, int(project.id or 0))
    live = _live(gateway, project)
    assert (live["node_type_id"], live["num_workers"], live["azure_attributes"]["spot_bid_max_price"]) == \
        ("Standard_D16s_v5", 4, CAP)


def test_detach_after_the_owner_set_a_cap_and_a_node_type_keeps_both(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    project = _applied(store, secrets, emulator, gateway)
    _owner_edits(gateway, project, node_type_id="Standard_D4s_v5", azure_attributes={"spot_bid_max_price": 0.15})
    restore_original(store, gateway, int(project.id or 0))
    live = _live(gateway, project)
    assert (live["node_type_id"], live["azure_attributes"]["spot_bid_max_price"]) == ("Standard_D4s_v5", 0.15)


def test_detach_puts_no_cap_of_trimtabs_node_type_onto_the_imported_one(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # The owner capped Trimtab's D8s_v5 (0.4608 $/h on demand) at 0.3 and kept it: detach puts the
    # imported D16s_v5 back, for which 0.3 is no price the owner chose: -1, not a stale cap.
    project = _applied(store, secrets, emulator, gateway)
    _owner_edits(gateway, project, azure_attributes={"spot_bid_max_price": 0.3})
    restore_original(store, gateway, int(project.id or 0))
    live = _live(gateway, project)
    assert (live["node_type_id"], live["azure_attributes"]["spot_bid_max_price"]) == ("Standard_D16s_v5", -1)


def test_revert_after_the_owner_moved_the_node_type_writes_nothing(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # Revert writes the owned fields together (the cap with its node types) and refuses over an
    # owner's edit of one of them: the user's 0.5 never lands on the owner's D4s_v5.
    project = _applied(store, secrets, emulator, gateway)
    _owner_edits(gateway, project, node_type_id="Standard_D4s_v5")
    with pytest.raises(FailedPrecondition, match="node_type_id"):
        revert(store, gateway, int(project.id or 0))
    live = _live(gateway, project)
    assert (live["node_type_id"], live["azure_attributes"]["spot_bid_max_price"]) == ("Standard_D4s_v5", -1)


# ------------------------------------------------------------------ F2: a cap the policy fills in


FIXED = {CAP_PATH: {"type": "fixed", "value": CAP}}
DEFAULTED = {CAP_PATH: {"type": "range", "maxValue": 1, "defaultValue": CAP, "isOptional": True}}


def _capless(node: str, policy_id: str, **extra: Any) -> dict[str, Any]:
    """A spec leaving the cap to its policy (the usual API or Terraform job)."""
    spec = {**_spec(node, 4, cap=None), "policy_id": policy_id, **extra}
    assert "spot_bid_max_price" not in spec["azure_attributes"]
    return spec


def _policy(emulator: RunningWorkspace, gateway: DatabricksGateway, name: str,
            definition: dict[str, Any]) -> ClusterPolicy:
    policy_id = admin_post(emulator, "policies/clusters/create",
                           {"name": name, "definition": json.dumps(definition)})["policy_id"]
    return ClusterPolicy.from_api(gateway.get_cluster_policy(str(policy_id)))


@pytest.mark.parametrize("definition,extra", [(FIXED, {}), (DEFAULTED, {"apply_policy_default_values": True})],
                         ids=["fixed", "default"])
def test_a_cap_the_policy_fills_in_keeps_the_plan_on_its_node_type(
        emulator: RunningWorkspace, gateway: DatabricksGateway, definition: dict[str, Any],
        extra: dict[str, Any]) -> None:
    policy = _policy(emulator, gateway, "spot-cap", definition)
    base = _capless("Standard_D16s_v5", policy.policy_id, **extra)
    job_id = gateway.create_job(_job("capped-by-policy", base))
    refused = policy.config_refusals(SMALLER, base, azure=True)
    assert list(refused) == [CAP_PATH], refused
    assert "Standard_D16s_v5" in refused[CAP_PATH] and "Standard_D4s_v5" in refused[CAP_PATH]
    assert CAP_PATH in " ".join(policy.narrowing([SMALLER], base, azure=True))
    # What the planner judged: Databricks fills 0.5 onto D4s_v5 (0.2304 $/h on demand) and refuses it.
    written = recommended_spec(base, SMALLER, cloud="azure")
    assert "spot_bid_max_price" not in written["azure_attributes"]
    settings = gateway.get_job(job_id)["settings"]
    with pytest.raises(DatabricksRejected, match="spot_bid_max_price.*filled in by the policy"):
        gateway.update_job(job_id, cluster_entry_update(settings, "main", written))
    # The same node type is fine, and so is a new size of it.
    same = ClusterConfig(node_type_id="Standard_D16s_v5", num_workers=8, availability="SPOT_WITH_FALLBACK",
                         first_on_demand=1)
    assert policy.allows_config(same, base, azure=True)
    gateway.update_job(job_id, cluster_entry_update(settings, "main", recommended_spec(base, same, cloud="azure")))


def test_a_default_the_spec_does_not_ask_for_fills_no_cap(
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # Without apply_policy_default_values only fixed values are filled in: no cap, any node type.
    policy = _policy(emulator, gateway, "spot-default", DEFAULTED)
    base = _capless("Standard_D16s_v5", policy.policy_id)
    job_id = gateway.create_job(_job("default-not-asked", base))
    assert policy.allows_config(SMALLER, base, azure=True)
    settings = gateway.get_job(job_id)["settings"]
    gateway.update_job(job_id, cluster_entry_update(settings, "main", recommended_spec(base, SMALLER, cloud="azure")))


def test_a_cap_the_spec_sets_is_judged_as_before(emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    policy = _policy(emulator, gateway, "spot-set", FIXED)
    base = {**_spec("Standard_D16s_v5", 4), "policy_id": policy.policy_id}
    refused = policy.config_refusals(SMALLER, base, azure=True)
    assert list(refused) == [CAP_PATH] and "this configuration: -1" in refused[CAP_PATH], refused
    # Filled in only where the spec leaves the cap out.
    assert policy.filled_cap(_capless("Standard_D16s_v5", policy.policy_id)) is not None
    assert policy.filled_cap(base) is None
