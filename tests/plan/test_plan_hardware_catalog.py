"""A node type's kind of hardware is the price catalog's where the catalog states it, its name's only
where it does not (`server.hardware.node_kind`): the planner, its driver matching and the spec checks
read one source.

The name rules misread real types: AWS a1 (Graviton1) is arm64 with no ``g`` after its digit, and
gr6 (NVIDIA L4) has GPUs though its name does not start ``g<digit>``. With a catalog entry stating
``arch: arm64`` / ``gpus: 1`` for them, the planner still read the names: an a1 driver was written
under x86 workers, and a gr6 job kept a CPU-only driver."""

from __future__ import annotations

from typing import Any

import pytest

from server.costing.catalog import PriceCatalog, load_catalog
from server.domain import ClusterConfig, ProjectSettings
from server.errors import FailedPrecondition
from server.plan.candidates import Pricing, build_candidates
from server.standard_access import standard_access_blocker

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
SOURCE = {"source": "test catalog (figures as AWS publishes them for a1 and gr6)", "date": "2026-12-07"}


def _node(node_type: str, family: str, vcpus: int, memory: float, disk: float, **hardware: Any) -> dict[str, Any]:
    return {"cloud": "aws", "node_type": node_type, "family": family, "vcpus": vcpus, "memory_gb": memory,
            "local_disk_gb": disk, "dbus_per_hour": round(vcpus * 0.17, 2), **hardware, **SOURCE}


def _catalog() -> PriceCatalog:
    """The shipped catalog with a1 (arm64, stated) and gr6 (1 GPU, stated) types priced in us-east-1."""
    nodes = [_node("a1.xlarge", "a1", 4, 8, 0, arch="arm64"), _node("a1.2xlarge", "a1", 8, 16, 0, arch="arm64"),
             _node("gr6.4xlarge", "gr6", 16, 128, 600, gpus=1, arch="x86_64"),
             _node("gr6.8xlarge", "gr6", 32, 256, 900, gpus=1, arch="x86_64")]
    prices = [{"cloud": "aws", "region": "us-east-1", "node_type": t, "usd_per_hour": p, **SOURCE}
              for t, p in (("a1.xlarge", 0.102), ("a1.2xlarge", 0.204), ("gr6.4xlarge", 1.5392),
                           ("gr6.8xlarge", 2.4464))]
    spot = [{"cloud": "aws", "family": f, "discount": 0.6, **SOURCE} for f in ("a1", "gr6")]
    return load_catalog().with_entries("node_types", nodes, "test").with_entries(
        "compute_prices", prices, "test").with_entries("spot_discounts", spot, "test")


CATALOG = _catalog()


def _live(workers: str, driver: str) -> ClusterConfig:
    spec = {"node_type_id": workers, "driver_node_type_id": driver, "num_workers": 4}
    return ClusterConfig(node_type_id=workers, driver_node_type_id=driver, num_workers=4,
                         availability="ON_DEMAND", spec=spec)


def test_a_driver_the_catalog_states_arm64_is_refused_under_x86_workers() -> None:
    live = _live("m5.xlarge", "m5.xlarge")
    with pytest.raises(FailedPrecondition, match=r"driver_node_type_id a1\.xlarge is arm64 \(Graviton\)"):
        # Was: candidates of m5/c5/r5 workers under the a1.xlarge driver (its name read as x86).
        build_candidates(live, ProjectSettings(driver_node_type_id="a1.xlarge"), CATALOG, PRICING,
                         driver="m5.xlarge")


def test_a_job_on_a_type_the_catalog_states_arm64_is_not_moved_to_x86() -> None:
    live = _live("a1.xlarge", "a1.xlarge")
    with pytest.raises(FailedPrecondition, match=r"name no arm64 \(Graviton\) family"):
        # Was: m5 workers under the a1.xlarge driver (a1 read as x86, of m5's kind).
        build_candidates(live, ProjectSettings(allowed_families=["m5"]), CATALOG, PRICING, driver="a1.xlarge")


def test_families_of_both_kinds_give_clusters_each_of_one_kind() -> None:
    live = _live("a1.xlarge", "a1.xlarge")
    pairs = build_candidates(live, ProjectSettings(allowed_families=["a1", "m5"]), CATALOG, PRICING,
                             driver="a1.xlarge")
    families = {(cfg.node_type_id.split(".")[0], str(cfg.driver_node_type_id).split(".")[0])
                for c, cfg in pairs if c.allowed}
    # Was: m5 workers under the a1.xlarge driver.
    assert families == {("a1", "a1"), ("m5", "m5")}


def test_a_gpu_job_the_catalog_states_gets_a_gpu_driver() -> None:
    live = _live("gr6.4xlarge", "m5.2xlarge")
    pairs = build_candidates(live, ProjectSettings(), CATALOG, PRICING, driver="m5.2xlarge")
    drivers = {cfg.driver_node_type_id for c, cfg in pairs if c.allowed}
    # Was: the CPU-only m5.2xlarge kept (gr6 read as a CPU type, of the driver's kind). Now the gr6
    # type nearest it in memory (the smallest holding its 32 GiB).
    assert drivers == {"gr6.4xlarge"}


def test_auto_access_mode_on_a_gpu_type_the_catalog_states_is_dedicated() -> None:
    # DATA_SECURITY_MODE_AUTO runs dedicated on a GPU node type: an init script from a workspace file
    # is no problem there, and would be one (never run) in standard access.
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "gr6.4xlarge", "num_workers": 2,
            "data_security_mode": "DATA_SECURITY_MODE_AUTO",
            "init_scripts": [{"workspace": {"destination": "/Shared/trimtab/init.sh"}}]}
    assert standard_access_blocker(spec) is not None  # by name alone: read as a CPU type, so standard
    assert standard_access_blocker(spec, lambda t: CATALOG.entry("node_types", "aws", t)) is None
