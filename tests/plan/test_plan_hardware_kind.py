"""A cluster's workers and driver are always of one kind of hardware (CPU architecture, GPUs or not),
the live cluster's (review flavours, defect 1): an m5d job its owner moved to Graviton m7gd was
recommended c5d workers under its m7gd driver at every plan, the owner's choice undone and an arm64
docker image on x86 workers."""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, ProjectSettings
from server.errors import FailedPrecondition
from server.hardware import ARM64, X86_64, NodeKind, kind_from_name, node_kind
from server.plan.candidates import Pricing, build_candidates, families_for
from server.plan.driver import driver_options

CATALOG = load_catalog()
PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
ARM = NodeKind(ARM64)
X86 = NodeKind(X86_64)
IMPORTED = ClusterConfig(node_type_id="m5d.xlarge", num_workers=4, availability="ON_DEMAND",
                         spec={"node_type_id": "m5d.xlarge", "num_workers": 4})


def _graviton(docker: bool) -> ClusterConfig:
    """The job after its owner's edit: m7gd.xlarge workers and driver (an arm64 image with ``docker``)."""
    spec = {"node_type_id": "m7gd.xlarge", "driver_node_type_id": "m7gd.xlarge", "num_workers": 4,
            **({"docker_image": {"url": "acme/etl:arm64"}} if docker else {})}
    return ClusterConfig(node_type_id="m7gd.xlarge", driver_node_type_id="m7gd.xlarge", num_workers=4,
                         availability="ON_DEMAND", spec=spec)


def _kind(node_type: str) -> NodeKind:
    return node_kind(node_type, CATALOG.entry("node_types", "aws", node_type))


def _kinds(pairs: list) -> set[tuple[NodeKind, NodeKind]]:
    """(workers' kind, driver's kind) of every candidate that may be recommended."""
    return {(_kind(cfg.node_type_id), _kind(cfg.driver_node_type_id or cfg.node_type_id))
            for c, cfg in pairs if c.allowed}


@pytest.mark.parametrize(("name", "kind"), [
    ("m7gd.xlarge", ARM), ("m6g.large", ARM), ("c6gn.2xlarge", ARM), ("r8g.xlarge", ARM), ("x2gd.xlarge", ARM),
    ("im4gn.large", ARM), ("is4gen.xlarge", ARM), ("t4g.large", ARM), ("g5g.xlarge", NodeKind(ARM64, gpu=True)),
    ("m5d.xlarge", X86), ("m7i-flex.xlarge", X86), ("c6a.xlarge", X86), ("i4i.xlarge", X86),
    ("md-fleet.xlarge", X86), ("m-fleet.2xlarge", X86),
    ("g4dn.xlarge", NodeKind(X86_64, gpu=True)), ("p4d.24xlarge", NodeKind(X86_64, gpu=True)),
    ("Standard_D4ps_v5", ARM), ("Standard_E8pds_v5", ARM), ("Standard_D4s_v5", X86), ("Standard_DS3_v2", X86),
    ("Standard_NC6s_v3", NodeKind(X86_64, gpu=True)),
])
def test_a_node_types_kind_is_read_from_its_name(name: str, kind: NodeKind) -> None:
    assert kind_from_name(name) == kind
    assert node_kind(name, None) == kind  # a type the catalog lacks


@pytest.mark.parametrize(("name", "entry", "kind"), [
    # The catalog's word wins, field by field: a1 (Graviton1) and gr6 (NVIDIA L4) are misread by name.
    ("a1.xlarge", {"arch": "arm64"}, ARM),
    ("gr6.4xlarge", {"gpus": 1, "arch": "x86_64"}, NodeKind(X86_64, gpu=True)),
    ("m7gd.xlarge", {"arch": "x86_64", "gpus": 0}, X86),
    ("g4dn.xlarge", {"gpus": 0}, X86),
    # A field the entry leaves out is the name's, not the catalog's default (x86_64, no GPU): catalogs
    # before the fields priced m7g without ``arch``.
    ("m7g.xlarge", {}, ARM),
    ("g5g.xlarge", {"arch": "arm64"}, NodeKind(ARM64, gpu=True)),
])
def test_a_catalog_entry_states_the_kind_over_the_name(name: str, entry: dict, kind: NodeKind) -> None:
    assert node_kind(name, {"node_type": name, **entry}) == kind


@pytest.mark.parametrize("docker", [True, False])
def test_a_job_moved_to_graviton_is_planned_on_graviton_workers_and_driver(docker: bool) -> None:
    live = _graviton(docker)
    pairs = build_candidates(live, ProjectSettings(), CATALOG, PRICING, anchor=IMPORTED, driver="m7gd.xlarge")
    # Was: m5d/c5d/r5d workers (the imported family's siblings) under the m7gd.xlarge driver.
    assert _kinds(pairs) == {(ARM, ARM)}
    assert {cfg.node_type_id.split(".")[0] for c, cfg in pairs if c.allowed} == {"m7gd"}
    # Re-anchored on the owner's family for the driver too: no x86 driver is offered.
    families = families_for(IMPORTED, ProjectSettings(), CATALOG, "aws", live=live)
    assert families == ("m7gd",)
    options = driver_options(CATALOG, "aws", families, live, region="us-east-1", plan="premium", sku="jobs")
    assert {_kind(o.node_type) for o in options} == {ARM}


def test_runs_before_the_edit_teach_but_are_never_recommended_again() -> None:
    live = _graviton(docker=True)
    before = ClusterConfig(node_type_id="m5d.xlarge", num_workers=4, availability="ON_DEMAND")
    pairs = build_candidates(live, ProjectSettings(), CATALOG, PRICING, anchor=IMPORTED, tried=[before],
                             driver="m7gd.xlarge")
    (old,) = [(c, cfg) for c, cfg in pairs if c.config_id == "m5d.xlargex4"]
    assert not old[0].allowed and old[1].driver_node_type_id == "m5d.xlarge"  # on the driver it ran with
    assert _kinds(pairs) == {(ARM, ARM)}


def test_the_imported_familys_siblings_stay_while_the_owner_keeps_to_them() -> None:
    live = ClusterConfig(node_type_id="r5d.xlarge", num_workers=4, availability="ON_DEMAND",
                         spec={"node_type_id": "r5d.xlarge", "num_workers": 4})
    assert families_for(IMPORTED, ProjectSettings(), CATALOG, "aws", live=live) == ("m5d", "c5d", "r5d")


def test_allowed_families_of_both_kinds_cross_but_never_mix_within_a_cluster() -> None:
    live = ClusterConfig(node_type_id="m5d.xlarge", num_workers=4, availability="ON_DEMAND",
                         spec={"node_type_id": "m5d.xlarge", "num_workers": 4})
    settings = ProjectSettings(allowed_families=("m5d", "m7gd"))
    pairs = build_candidates(live, settings, CATALOG, PRICING, driver="m5d.xlarge")
    assert _kinds(pairs) == {(X86, X86), (ARM, ARM)}
    # The Graviton clusters get the Graviton driver nearest the chosen one (16 GiB: m7gd.xlarge).
    assert {cfg.driver_node_type_id for c, cfg in pairs if _kind(cfg.node_type_id) == ARM} == {"m7gd.xlarge"}


def test_a_docker_image_keeps_the_live_architecture_even_when_both_are_allowed() -> None:
    spec = {"node_type_id": "m5d.xlarge", "num_workers": 4, "docker_image": {"url": "acme/etl:amd64"}}
    live = ClusterConfig(node_type_id="m5d.xlarge", num_workers=4, availability="ON_DEMAND", spec=spec)
    pairs = build_candidates(live, ProjectSettings(allowed_families=("m5d", "m7gd")), CATALOG, PRICING,
                             driver="m5d.xlarge")
    assert _kinds(pairs) == {(X86, X86)}


def test_allowed_families_of_another_kind_alone_do_not_move_the_job_and_say_why() -> None:
    # A list set before the owner moved the job to Graviton names x86 families only.
    with pytest.raises(FailedPrecondition) as err:
        build_candidates(_graviton(docker=False), ProjectSettings(allowed_families=("m5d", "c5d")), CATALOG,
                         PRICING, anchor=IMPORTED, driver="m7gd.xlarge")
    assert "name no arm64 (Graviton) family" in str(err.value)
    assert "m7gd.xlarge" in str(err.value) and "--allowed-families" in str(err.value)


def test_a_fixed_driver_of_another_kind_is_refused_with_both_named() -> None:
    with pytest.raises(FailedPrecondition) as err:
        build_candidates(_graviton(docker=False), ProjectSettings(driver_node_type_id="m5d.xlarge"), CATALOG,
                         PRICING, anchor=IMPORTED)
    assert "m5d.xlarge is x86_64" in str(err.value) and "m7gd.xlarge (arm64 (Graviton))" in str(err.value)
