"""Validating a Databricks ``new_cluster`` spec and turning it into a cluster plan.

The checks are the ones the Jobs/Clusters API applies before a run starts: a known node type,
worker counts in range, an autoscale range whose max is above its min, a valid availability for
the node type's cloud.
Errors name the offending field and value, as the service's ``INVALID_PARAMETER_VALUE`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.nodes import NodeType, UnknownNodeType, get_node_type

MAX_WORKERS_LIMIT = 250  # per-cluster worker cap of the simulated workspace

_AVAILABILITY = {
    "aws": {"SPOT": "SPOT", "ON_DEMAND": "ON_DEMAND", "SPOT_WITH_FALLBACK": "SPOT_WITH_FALLBACK"},
    "azure": {
        "SPOT_AZURE": "SPOT",
        "ON_DEMAND_AZURE": "ON_DEMAND",
        "SPOT_WITH_FALLBACK_AZURE": "SPOT_WITH_FALLBACK",
    },
}
_ATTRIBUTES_KEY = {"aws": "aws_attributes", "azure": "azure_attributes"}
# Databricks' defaults when the spec has no attributes block.
_DEFAULT_AVAILABILITY = {"aws": "SPOT_WITH_FALLBACK", "azure": "ON_DEMAND_AZURE"}
# Azure's on-demand price of one vCPU-hour by family (Linux, pay-as-you-go; within a family the price
# is proportional to vCPUs): D4s_v5 0.2304 $/h, E8ds_v5 0.6912 $/h. Transcribed from Trimtab's shipped
# price catalog's westeurope entries (its eastus ones, Azure Retail Prices figures, x1.2); the sandbox
# imports no Trimtab code. The emulated workspace has no region, so a spot price cap is judged against
# the dearer of the two regions priced there: a cap a workspace in either accepts is accepted.
AZURE_ON_DEMAND_PER_VCPU_HOUR: dict[str, float] = {
    **dict.fromkeys(("Dsv5", "Dsv4"), 0.0576), **dict.fromkeys(("Ddsv5", "Ddsv4"), 0.0678),
    **dict.fromkeys(("Esv5", "Esv4"), 0.0756), **dict.fromkeys(("Edsv5", "Edsv4"), 0.0864),
    "Fsv2": 0.0507, "Lsv3": 0.0936, "DSv2": 0.0879,
}


class SpecError(ValueError):
    """An invalid cluster spec; the message names the field and the value."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class ClusterPlan:
    worker_type: NodeType
    driver_type: NodeType
    min_workers: int
    max_workers: int  # equal to min_workers for a fixed-size cluster
    autoscale: bool
    availability: str  # normalized: SPOT | ON_DEMAND | SPOT_WITH_FALLBACK
    first_on_demand: int  # the driver is node 0, so 1 = on-demand driver, spot workers
    ebs_volumes: list[dict[str, Any]] = field(default_factory=list)  # per AWS node
    spark_conf: dict[str, str] = field(default_factory=dict)

    def is_spot(self, node_index: int) -> bool:
        """Node 0 is the driver; nodes below ``first_on_demand`` are always on-demand."""
        if self.availability == "ON_DEMAND" or not self.worker_type.spot_capable:
            return False
        return node_index >= self.first_on_demand


def _int_field(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(name, f"must be an integer, got {value!r}")
    if not 0 <= value <= MAX_WORKERS_LIMIT:
        raise SpecError(name, f"{value} is out of range [0, {MAX_WORKERS_LIMIT}]")
    return value


def _node_type(field_name: str, node_type_id: Any) -> NodeType:
    if not isinstance(node_type_id, str) or not node_type_id:
        raise SpecError(field_name, "is required")
    try:
        return get_node_type(node_type_id)
    except UnknownNodeType:
        raise SpecError(field_name, f"unknown node type {node_type_id!r}") from None


def _workers(spec: dict[str, Any]) -> tuple[int, int, bool]:
    autoscale = spec.get("autoscale")
    if str(spec.get("is_single_node")).lower() == "true":
        # The newer single-node form: Databricks sets num_workers 0 (and the single-node profile)
        # itself, so the spec may leave num_workers out (databricks-sdk ``ClusterSpec.is_single_node``:
        # "can only be used when kind = CLASSIC_PREVIEW"). The emulator refused it as incomplete.
        if spec.get("kind") != "CLASSIC_PREVIEW":
            raise SpecError("is_single_node", "can only be used with kind CLASSIC_PREVIEW")
        if autoscale is not None or spec.get("num_workers") not in (None, 0):
            raise SpecError("is_single_node", "a single-node cluster has no workers (no num_workers or autoscale)")
        return 0, 0, False
    if autoscale is not None:
        if "num_workers" in spec and spec["num_workers"] not in (None, 0):
            raise SpecError("autoscale", "cannot be combined with num_workers")
        if not isinstance(autoscale, dict):
            raise SpecError("autoscale", f"must be an object, got {autoscale!r}")
        lo = _int_field("autoscale.min_workers", autoscale.get("min_workers", 0))
        if "max_workers" not in autoscale:
            raise SpecError("autoscale.max_workers", "is required")
        hi = _int_field("autoscale.max_workers", autoscale["max_workers"])
        if hi == 0:
            raise SpecError("autoscale.max_workers", "must be at least 1")
        # The Clusters API refuses an equal range too (the SDK's ``compute.AutoScale``: "max_workers
        # must be strictly greater than min_workers"); a fixed size is written as num_workers.
        if lo >= hi:
            raise SpecError("autoscale", f"max_workers {hi} must be strictly greater than min_workers {lo}")
        return lo, hi, True
    if "num_workers" not in spec:
        raise SpecError("num_workers", "is required when autoscale is not set")
    n = _int_field("num_workers", spec["num_workers"])
    return n, n, False


def _availability(spec: dict[str, Any], node: NodeType) -> tuple[str, int]:
    key = _ATTRIBUTES_KEY[node.cloud]
    other = _ATTRIBUTES_KEY["azure" if node.cloud == "aws" else "aws"]
    if spec.get(other):
        raise SpecError(other, f"does not apply to {node.cloud} node type {node.node_type_id!r}")
    attrs = spec.get(key) or {}
    raw = attrs.get("availability", _DEFAULT_AVAILABILITY[node.cloud])
    allowed = _AVAILABILITY[node.cloud]
    if raw not in allowed:
        raise SpecError(f"{key}.availability", f"{raw!r} is not one of {sorted(allowed)}")
    first = attrs.get("first_on_demand", 1)
    if isinstance(first, bool) or not isinstance(first, int) or first < 0:
        raise SpecError(f"{key}.first_on_demand", f"must be a non-negative integer, got {first!r}")
    if node.cloud == "azure":
        _check_spot_cap(attrs.get("spot_bid_max_price"), node)
    return allowed[raw], first


def _check_spot_cap(cap: Any, node: NodeType) -> None:
    """Azure's spot price cap as the Clusters API takes it (databricks-sdk
    ``AzureAttributes.spot_bid_max_price``: "-1 ... the default ... the instance will not be evicted
    on the basis of price ... Otherwise the value must be > 0 and cannot be higher than the on-demand
    price"): -1 or a price above 0 and not above the worker type's on-demand price
    (`AZURE_ON_DEMAND_PER_VCPU_HOUR`; a family not priced there is not judged). Absent or null is -1."""
    name = "azure_attributes.spot_bid_max_price"
    if cap is None or (not isinstance(cap, bool) and cap == -1):
        return
    if isinstance(cap, bool) or not isinstance(cap, (int, float)) or cap <= 0:
        raise SpecError(name, f"must be -1 (up to the on-demand price) or a price above 0, got {cap!r}")
    per_vcpu = AZURE_ON_DEMAND_PER_VCPU_HOUR.get(node.family)
    if per_vcpu is not None and cap > round(per_vcpu * node.vcpus, 4):
        raise SpecError(name, f"{cap} $/h is higher than the on-demand price of {node.node_type_id} "
                              f"({round(per_vcpu * node.vcpus, 4)} $/h)")


def spot_cap_refusal(cap: Any, node_type_id: Any) -> str | None:
    """Why an Azure cluster on workers of ``node_type_id`` cannot have ``cap`` as its spot price cap
    (`_check_spot_cap`), None when it can, or when the type is unknown or not Azure's (the spec's own
    checks name that). For a cap the spec does not set: one its cluster policy fills in
    (`sandbox.workspace.policies.refusal`)."""
    try:
        node = get_node_type(str(node_type_id))
    except UnknownNodeType:
        return None
    if node.cloud != "azure":
        return None
    try:
        _check_spot_cap(cap, node)
    except SpecError as err:
        return str(err)
    return None


# The Databricks ``ebs_volume_type`` values (the SDK's ``compute.EbsVolumeType``) and the EBS type
# each launches when no IOPS or throughput are given: see `_ebs_volumes`.
_EBS_VOLUME_TYPES = {"GENERAL_PURPOSE_SSD": "gp2", "THROUGHPUT_OPTIMIZED_HDD": "st1"}
# What AWS gives a gp3 volume for the IOPS or throughput not asked for (its baseline).
_GP3_BASELINE_IOPS, _GP3_BASELINE_THROUGHPUT = 3000, 125


def _positive_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecError(name, f"must be a positive integer, got {value!r}")
    return value


def _ebs_volumes(spec: dict[str, Any], node: NodeType) -> list[dict[str, Any]]:
    """EBS volumes of the spec's ``ebs_volume_*`` Databricks attaches to each AWS node, typed as AWS
    bills them; none when the spec asks for none, whatever the node type.

    A node type with no instance store (m5, c5, r5...) gets no volume the spec does not ask for:
    Databricks attaches a "30 GB ... instance root volume" and a "150 GB ... container root volume"
    to every node (docs, AWS compute configuration, "Default EBS volumes"; the billing stand-in adds
    them, `sandbox.clouds.billing.AWS_DEFAULT_VOLUMES`), and nothing else at launch. Its Clusters API
    refuses such a spec that neither names volumes nor turns on autoscaling local storage: 400
    INVALID_PARAMETER_VALUE "At least one EBS volume must be attached for clusters created with node
    type m4.xlarge." (terraform-provider-databricks issues #98 and #2171 for c5.xlarge, kedro-databricks
    #134 for m5.xlarge; the SDK's ``AwsAttributes.ebs_volume_count``: "For node types with no instance
    store, at least one EBS volume needs to be specified; otherwise, cluster creation will fail"). With
    ``enable_elastic_disk`` (autoscaling local storage, which the UI turns on for those types) the
    volumes come later, as the node runs low on disk (EXPANDED_DISK, `sandbox.sim.run`). The
    emulator still runs a spec with neither (seeded jobs and tests use them; only an explicit count of
    0 is refused, `_check_volume_count`), but never bills a volume Databricks would not have attached.

    The rule is the Clusters API's as documented (the sandbox stands for the outside world, so it
    follows the docs, not Trimtab's code, which it never imports): the API reference's
    ``EbsVolumeType`` says ``GENERAL_PURPOSE_SSD`` is "Provision extra storage using AWS gp2 EBS
    volumes" and ``THROUGHPUT_OPTIMIZED_HDD`` "... using AWS st1 volumes" (the Python SDK 0.167's
    ``compute.EbsVolumeType`` docstring omits these lines; the JavaScript SDK's carries them), and
    the Python SDK's ``compute.AwsAttributes.ebs_volume_iops`` / ``ebs_volume_throughput``
    docstrings say "If using gp3 volumes, what IOPS/throughput to use for the disk. If this is not
    set, the maximum performance of a gp2 volume with the same volume size will be used." So gp2,
    unless IOPS or throughput are given, which only gp3 takes; then gp3, with AWS's baseline for
    the one not given (as the AWS stand-in reports it).
    """
    if node.cloud != "aws":
        return []
    attrs = spec.get("aws_attributes") or {}
    # Absent or null (JSON null is how some clients write "unset") is Databricks' default.
    volume_type = attrs.get("ebs_volume_type")
    volume_type = "GENERAL_PURPOSE_SSD" if volume_type is None else volume_type
    if volume_type not in _EBS_VOLUME_TYPES:
        raise SpecError("aws_attributes.ebs_volume_type",
                        f"{volume_type!r} is not one of {sorted(_EBS_VOLUME_TYPES)}")
    iops = _positive_int("aws_attributes.ebs_volume_iops", attrs.get("ebs_volume_iops"))
    throughput = _positive_int("aws_attributes.ebs_volume_throughput", attrs.get("ebs_volume_throughput"))
    count = attrs.get("ebs_volume_count", 0)
    if not count:
        return []
    volume: dict[str, Any] = {
        "type": _EBS_VOLUME_TYPES[volume_type],
        "size_gb": int(attrs.get("ebs_volume_size", 100)),
        "count": int(count),
    }
    if volume_type == "GENERAL_PURPOSE_SSD" and (iops or throughput):
        volume.update(type="gp3", iops=iops or _GP3_BASELINE_IOPS, throughput=throughput or _GP3_BASELINE_THROUGHPUT)
    return [volume]


# "Currently, Databricks allows at most 45 custom tags" (databricks-sdk ClusterSpec.custom_tags); the
# service refuses the spec beyond that (400 INVALID_PARAMETER_VALUE; its wording here is unverified).
MAX_CUSTOM_TAGS = 45


def _check_tags(tags: Any) -> None:
    if tags is None:
        return
    if not isinstance(tags, dict):
        raise SpecError("custom_tags", "must be an object of strings")
    if len(tags) > MAX_CUSTOM_TAGS:
        raise SpecError("custom_tags", f"{len(tags)} custom tags; Databricks allows at most {MAX_CUSTOM_TAGS}")


def plan_cluster(new_cluster: dict[str, Any]) -> ClusterPlan:
    """Validate ``new_cluster`` and return the plan the simulator runs; raises SpecError."""
    if not isinstance(new_cluster, dict):
        raise SpecError("new_cluster", f"must be an object, got {type(new_cluster).__name__}")
    worker = _node_type("node_type_id", new_cluster.get("node_type_id"))
    driver_id = new_cluster.get("driver_node_type_id") or worker.node_type_id
    driver = _node_type("driver_node_type_id", driver_id)
    if driver.cloud != worker.cloud:
        raise SpecError("driver_node_type_id", f"{driver_id!r} is not a {worker.cloud} node type")
    if driver.arch != worker.arch:
        # Databricks refuses a cluster whose driver and workers are of different CPU architectures (a
        # Graviton driver under x86 workers, or the reverse): the emulator must too, or a client that
        # writes such a spec passes here and fails on a real workspace. The wording is the emulator's:
        # the service's exact message was not found in its docs.
        raise SpecError("driver_node_type_id",
                        f"{driver_id!r} is {driver.arch} and node_type_id {worker.node_type_id!r} is {worker.arch}: "
                        "the driver and worker node types must have the same architecture")
    lo, hi, autoscale = _workers(new_cluster)
    availability, first_on_demand = _availability(new_cluster, worker)
    conf = new_cluster.get("spark_conf") or {}
    if not isinstance(conf, dict):
        raise SpecError("spark_conf", "must be an object of strings")
    _check_tags(new_cluster.get("custom_tags"))
    _check_volume_count(new_cluster, worker, driver)
    return ClusterPlan(
        worker_type=worker,
        driver_type=driver,
        min_workers=lo,
        max_workers=hi,
        autoscale=autoscale,
        availability=availability,
        first_on_demand=first_on_demand,
        ebs_volumes=_ebs_volumes(new_cluster, worker),
        spark_conf={str(k): str(v) for k, v in conf.items()},
    )


def _check_volume_count(spec: dict[str, Any], worker: NodeType, driver: NodeType) -> None:
    """Databricks refuses ``ebs_volume_count`` 0 on a node type with no instance store: "For node types
    with no instance store, at least one EBS volume needs to be specified; otherwise, cluster creation
    will fail" (databricks-sdk ``AwsAttributes.ebs_volume_count``). The count applies to every node, so
    the driver's type counts too. Left unset the service refuses the spec too, unless autoscaling local
    storage is on; the emulator runs it, with no volume beyond the default root ones (`_ebs_volumes`).

    Not with ``enable_elastic_disk`` on: with Autoscaling Local Storage the cluster "will dynamically
    acquire additional disk space when its Spark workers are running low on disk space"
    (``ClusterSpec.enable_elastic_disk``), attaching EBS volumes itself (the simulator's expansions,
    `sandbox.sim.run`), so no count is asked of the spec. The docs do not say the service then
    refuses a count of 0, and the emulator refuses only what they say fails."""
    attrs = spec.get("aws_attributes") or {}
    if "ebs_volume_count" not in attrs or attrs["ebs_volume_count"] not in (0, "0") or \
            spec.get("enable_elastic_disk") is True:
        return
    bare = [n.node_type_id for n in dict.fromkeys((worker, driver)) if n.cloud == "aws" and n.local_disk_gb <= 0]
    if bare:
        raise SpecError("aws_attributes.ebs_volume_count",
                        f"0 on {bare[0]}, a node type with no instance store: at least one EBS volume needs to "
                        "be specified for node types with no instance store")


def validate_cluster_spec(new_cluster: dict[str, Any]) -> None:
    """Raise SpecError if Databricks would reject ``new_cluster``."""
    plan_cluster(new_cluster)
