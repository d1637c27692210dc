"""Cluster specs as plain dicts: find, merge, replace and compare them (pure).

A Databricks job holds its clusters in two places: ``job_clusters[].new_cluster``
(keyed by ``job_cluster_key``) and ``tasks[].new_cluster`` (keyed by
``task_key``). Trimtab names them with one *cluster key*: the ``job_cluster_key``
itself, or ``task:<task_key>`` for a task's own cluster.

``jobs/update`` replaces top-level fields whole but merges the ``job_clusters``
and ``tasks`` arrays *by key*, replacing each sent entry whole: so changing a
cluster always means sending the complete entry for its key
(:func:`cluster_entry_update`). Nothing here does I/O.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from server.domain import ClusterConfig
from server.hardware import node_kind

# A node type's price catalog entry (`PriceCatalog.entry`), None for one the catalog lacks: what the
# hardware a spec names is read from (`server.hardware.node_kind`). Without a catalog, by name.
ListedEntry = Callable[[str], Mapping[str, Any] | None]


def unlisted(node_type: str) -> None:
    """No catalog: every node type's hardware is read from its name."""
    return None

TASK_PREFIX = "task:"

# Sizing fields: a recommendation may switch fixed <-> autoscaling, so both are
# removed from the base before merging (whichever the recommendation sets wins).
SIZING_FIELDS = ("num_workers", "autoscale")

# Fields Databricks fills in on its side (defaults, bookkeeping). A difference
# only there is not a user edit.
SERVER_FILLED = frozenset({"cluster_name", "enable_elastic_disk", "aws_attributes.zone_id"})
_MISSING = object()

# The agent's own settings among a cluster's ``spark_env_vars``: what Trimtab's init script and the
# agent read (TRIMTAB_*: the wiring import writes, and what docs/operations.md and docs/agent.md tell
# operators to add, such as TRIMTAB_TLS_CA or TRIMTAB_AGENT_SPOOL_BYTES), pip's own variables for the
# agent's install (PIP_INDEX_URL, PIP_TIMEOUT...), and gRPC's the agent honours. None changes the
# cluster's size or cost, so an operator setting them is not the owner taking over the cluster: counted
# as a user edit, following the docs paused auto-apply. An apply keeps them (it merges into the live
# spec), so they are never written over either.
AGENT_ENV_PREFIXES = ("TRIMTAB_", "PIP_")
AGENT_ENV_NAMES = frozenset({"GRPC_VERBOSITY", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"})
_ENV_FIELD = "spark_env_vars."


def agent_setting(path: str) -> bool:
    """Whether a flattened spec path (`flatten`) is one of the agent's own settings (`AGENT_ENV_PREFIXES`)."""
    if not path.startswith(_ENV_FIELD):
        return False
    name = path[len(_ENV_FIELD):]
    return name.startswith(AGENT_ENV_PREFIXES) or name in AGENT_ENV_NAMES


def task_cluster_key(task_key: str) -> str:
    return f"{TASK_PREFIX}{task_key}"


def find_cluster_spec(settings: Mapping[str, Any], cluster_key: str) -> dict[str, Any] | None:
    """The ``new_cluster`` of ``cluster_key`` in a job's settings, or None when it is gone."""
    if cluster_key.startswith(TASK_PREFIX):
        task_key = cluster_key[len(TASK_PREFIX):]
        for task in settings.get("tasks") or []:
            if task.get("task_key") == task_key and isinstance(task.get("new_cluster"), dict):
                return copy.deepcopy(task["new_cluster"])
        return None
    for entry in settings.get("job_clusters") or []:
        if entry.get("job_cluster_key") == cluster_key and isinstance(entry.get("new_cluster"), dict):
            return copy.deepcopy(entry["new_cluster"])
    return None


def cluster_entry_update(settings: Mapping[str, Any], cluster_key: str,
                         new_cluster: Mapping[str, Any]) -> dict[str, Any]:
    """The ``new_settings`` for ``jobs/update`` that sets ``cluster_key``'s spec to ``new_cluster``.

    A task entry is replaced whole by ``task_key``, so for a task cluster the
    complete task (its notebook, parameters, dependencies...) is sent back with
    only ``new_cluster`` changed.
    """
    if cluster_key.startswith(TASK_PREFIX):
        task_key = cluster_key[len(TASK_PREFIX):]
        for task in settings.get("tasks") or []:
            if task.get("task_key") == task_key:
                entry = copy.deepcopy(dict(task))
                entry["new_cluster"] = copy.deepcopy(dict(new_cluster))
                return {"tasks": [entry]}
        raise KeyError(f"task {task_key!r} not found in the job")
    return {"job_clusters": [{"job_cluster_key": cluster_key, "new_cluster": copy.deepcopy(dict(new_cluster))}]}


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base``: nested dicts merge, everything else (lists, scalars) is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_recommendation(base_spec: Mapping[str, Any], recommended: Mapping[str, Any]) -> dict[str, Any]:
    """The complete spec to send: the project's spec with the recommendation merged in.

    Sizing is dropped from the base first (the recommendation decides fixed or
    autoscaling); everything else the user set and the recommendation does not
    own (init scripts, Spark conf keys, tags, policies...) is kept. Over a pool-backed spec only
    the sizing is merged (`pool_overlay`): the pool owns the rest.
    """
    if pool_fields(base_spec):
        recommended = pool_overlay(recommended)
    if not base_spec.get("driver_node_type_id") and recommended.get("driver_node_type_id") and \
            recommended.get("driver_node_type_id") == recommended.get("node_type_id"):
        # Databricks runs the driver on the workers' type when the spec names none: writing it adds
        # nothing, and a policy may forbid the field (or fix it, filling its own value in).
        recommended = {k: v for k, v in recommended.items() if k != "driver_node_type_id"}
    base = {k: v for k, v in base_spec.items() if k not in SIZING_FIELDS}
    if not any(k in recommended for k in SIZING_FIELDS):
        # A recommendation without sizing keeps the current one.
        base.update({k: copy.deepcopy(base_spec[k]) for k in SIZING_FIELDS if k in base_spec})
    return without_stale_spot_cap(base_spec, deep_merge(base, recommended))


# Azure's cap on what one spot node may cost, in $/h (``azure_attributes.spot_bid_max_price``):
# -1 pays up to the on-demand price; any other value must be above 0 and not above the node
# type's on-demand price (databricks-sdk ``AzureAttributes.spot_bid_max_price``; a VM is evicted
# when the spot price passes the cap).
SPOT_CAP_FIELD = "spot_bid_max_price"
NO_SPOT_CAP = -1


def without_stale_spot_cap(base_spec: Mapping[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    """``merged`` with its Azure spot cap set to -1 (`NO_SPOT_CAP`) when the merge changed the node
    types under a cap the user set; as it is otherwise.

    A cap is an absolute price of the node type it was set for: kept across a change of type it is
    above the on-demand price of a smaller type (Databricks refuses the spec) and, under a bigger
    one, a small fraction of its price, so spot is never acquired while the planner priced the
    spot savings. -1 rather than the cap scaled by the new/old on-demand prices, because:

    - the planner prices spot at the catalog's typical spot discount, which is spot bought whenever
      Azure has capacity: what -1 asks for; a scaled cap keeps an eviction threshold the planner
      does not model, so it prices savings a cap may not let happen;
    - this merge is pure and is also what the cluster-policy judge reads (`server.plan.policy`),
      which has no prices of the workspace's region: a scaled cap would be a figure from another
      region's prices (regions differ by 20% and more), which Databricks refuses when it lands
      above the new type's on-demand price there;
    - with -1 a spot node still never costs more than on demand, and the user's cap is not lost:
      it is a field Trimtab owns (`server.apply.OWNED_ATTRIBUTES`), so a revert or a detach puts it
      back with the node types it was set for (never onto others the owner chose since), and the
      apply's diff shows the change.

    The driver's type counts (a spot driver, ``first_on_demand`` 0, is under the cap too). Over an
    instance pool the pool owns the node types: unchanged, the cap stays. A cap a cluster policy fills
    in (the spec leaves it out) is judged by the planner's policy judge (`server.plan.policy`): this
    merge never sees it."""
    attrs = merged.get("azure_attributes")
    if not isinstance(attrs, Mapping) or attrs.get(SPOT_CAP_FIELD) in (None, NO_SPOT_CAP):
        return merged
    if spot_cap_node_types(merged) != spot_cap_node_types(base_spec):
        merged["azure_attributes"] = {**attrs, SPOT_CAP_FIELD: NO_SPOT_CAP}
    return merged


def spot_cap_node_types(spec: Mapping[str, Any]) -> tuple[Any, Any]:
    """The node types an Azure spot cap of ``spec`` is a price of: the workers' and the driver's (the
    workers' when it names none). A cap is kept only with them (`without_stale_spot_cap`)."""
    return spec.get("node_type_id"), spec.get("driver_node_type_id") or spec.get("node_type_id")


def flatten(spec: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay whole (compared as values)."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            # An empty map and a missing one mean the same to Databricks.
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def spec_drift(live_spec: Mapping[str, Any], applied_spec: Mapping[str, Any]) -> list[str]:
    """Paths where the live spec differs from what Trimtab last applied (a user edit).

    Empty when they agree. Fields Databricks fills in itself are ignored, and so are the agent's own
    settings (`agent_setting`): they are no edit of the cluster.
    """
    live, applied = flatten(live_spec), flatten(applied_spec)
    changed = []
    for path in sorted(set(live) | set(applied)):
        if path in SERVER_FILLED or agent_setting(path):
            continue
        if live.get(path) != applied.get(path):
            changed.append(path)
    return changed


def written_paths(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """The paths writing ``after`` over ``before`` sets: those ``after`` holds with another value, and
    the sizing it drops (fixed <-> autoscaling, which must not stay). Other paths ``after`` lacks are
    not counted: the service may fill them in again (its defaults), which is no failed write."""
    old, new = flatten(before), flatten(after)
    changed = {path for path, value in new.items() if old.get(path, _MISSING) != value}
    dropped = {path for path in old if path not in new and path.split(".")[0] in SIZING_FIELDS}
    return changed | dropped


def readback_mismatch(reread: Mapping[str, Any], sent: Mapping[str, Any], written: Iterable[str]) -> list[str]:
    """The ``written`` paths whose value read back differs from the one sent (dropped included).

    Only what Trimtab wrote is judged: Databricks adds defaults and normalises other fields on its
    side (and adds more over time), which says nothing about whether the write took."""
    back, out = flatten(reread), flatten(sent)
    return sorted(path for path in set(written) if back.get(path) != out.get(path))


def canonical_json(spec: Mapping[str, Any]) -> str:
    """Stable text for a spec: sorted keys, so equal specs have equal text."""
    return json.dumps(spec, sort_keys=True, indent=2)


# ------------------------------------------------------------ spec <-> ClusterConfig

_AZURE_AVAILABILITY = {"SPOT": "SPOT_AZURE", "ON_DEMAND": "ON_DEMAND_AZURE",
                       "SPOT_WITH_FALLBACK": "SPOT_WITH_FALLBACK_AZURE"}
_AWS_AVAILABILITY = {v: k for k, v in _AZURE_AVAILABILITY.items()}


def azure_availability(availability: str) -> str:
    """An availability as `ClusterConfig` names it (AWS's names) as Azure names it: SPOT_AZURE, ..."""
    return _AZURE_AVAILABILITY.get(availability, availability)

# The availability Databricks gives a cluster whose attributes leave it unset, by cloud, as the spec
# would name it. AWS: "Backend default value is SPOT_WITH_FALLBACK and could change in the future"
# (Terraform provider, ``aws_attributes.availability``); a job cluster created without
# ``aws_attributes`` reads back from clusters/get with ``availability: SPOT_WITH_FALLBACK,
# first_on_demand: 1``, so its workers past the first are spot. Azure: ON_DEMAND_AZURE. Any other
# cloud (GCP, which Trimtab does not price) or a cloud not known: no default, unset reads as no spot,
# as it always did; a wrong guess there would price spot that may not run.
DEFAULT_AVAILABILITY = {"aws": "SPOT_WITH_FALLBACK", "azure": "ON_DEMAND_AZURE"}
# The attributes block a spec has on each cloud (Databricks refuses the other cloud's).
_ATTRIBUTES_BLOCK = {"aws": "aws_attributes", "azure": "azure_attributes"}


def spec_cloud(spec: Mapping[str, Any], cloud: str = "") -> str:
    """The cloud a cluster spec runs on: ``cloud`` (its workspace's, which is what the code knows for
    sure) when given, else the attributes block the spec has; "" when neither says."""
    if cloud:
        return cloud
    for name, block in _ATTRIBUTES_BLOCK.items():
        if isinstance(spec.get(block), Mapping) and spec[block]:
            return name
    return ""


def default_availability(spec: Mapping[str, Any], cloud: str = "",
                         policy_values: Mapping[str, Any] | None = None) -> str:
    """The availability ``spec`` runs with when its attributes leave it unset, as the spec would name
    it (`unset_attributes`: its cluster policy's value, else `DEFAULT_AVAILABILITY`); "" when it sets
    one, when neither the policy nor the cloud says (`spec_cloud`), and over an instance pool, whose
    instances have the pool's availability (`config_from_spec` reads the pool's, collection the
    cluster's record)."""
    return str(unset_attributes(spec, cloud, policy_values).get("availability") or "")


# The attributes that decide which of a cluster's nodes are spot, each read by `unset_attributes`
# when the spec leaves it out.
AVAILABILITY_FIELDS = ("availability", "first_on_demand")


def unset_attributes(spec: Mapping[str, Any], cloud: str = "",
                     policy_values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``availability`` and ``first_on_demand`` a cluster of ``spec`` runs with where its
    attributes block leaves them unset, as the spec would name them; {} over an instance pool (its
    instances are the pool's: `config_from_spec` reads the pool's, collection the cluster's record).

    The one rule for an unset availability, in this order:

    1. the spec's own value (then the field is not in the answer);
    2. the value its cluster policy fills in (``policy_values``: flattened paths such as
       ``aws_attributes.availability`` to values, `server.plan.policy.ClusterPolicy.filled_values`):
       Databricks applies a policy's ``fixed`` value to a spec that leaves the field out, and its
       ``defaultValue`` when the spec asks for defaults (``apply_policy_default_values``); a policy
       fixing ON_DEMAND runs the cluster on demand whatever the cloud's default;
    3. the cloud's default availability (`DEFAULT_AVAILABILITY`: SPOT_WITH_FALLBACK on AWS). An unset
       ``first_on_demand`` is then Databricks' 1 (the caller's: `config_from_spec`, `first_on_demand_of`).

    Run collection (which nodes were spot; there the cluster record's value, which Databricks filled
    in, wins: `server.collect.build.with_pool_node_types`), the planner's price of the configuration,
    the savings baseline, auto-apply's same-cluster checks and every display read a spec through it,
    so they agree. Nothing writes it into a spec: a spec is compared as the user wrote it
    (`spec_drift`)."""
    if pool_fields(spec):
        return {}
    cloud = spec_cloud(spec, cloud)
    block = _ATTRIBUTES_BLOCK.get(cloud, "")
    own = spec.get(block) if block else (spec.get("aws_attributes") or spec.get("azure_attributes"))
    own = own if isinstance(own, Mapping) else {}
    out: dict[str, Any] = {}
    for name in AVAILABILITY_FIELDS:
        if own.get(name) not in (None, ""):
            continue
        value = (policy_values or {}).get(f"{block}.{name}") if block else None
        if value not in (None, ""):
            out[name] = value
    if "availability" not in out and own.get("availability") in (None, ""):
        default = DEFAULT_AVAILABILITY.get(cloud, "")
        if default:
            out["availability"] = default
    return out


POOL_ID_FIELDS = ("instance_pool_id", "driver_instance_pool_id")


def pool_fields(spec: Mapping[str, Any]) -> list[str]:
    """The instance-pool fields a cluster spec sets (empty: its nodes are not from a pool)."""
    return [f for f in POOL_ID_FIELDS if spec.get(f)]


def pool_ids(spec: Mapping[str, Any]) -> tuple[str, str]:
    """(worker pool, driver pool) a spec names, "" for none. With ``instance_pool_id`` alone the
    driver comes from the same pool (Databricks), so the driver pool is the worker pool then."""
    worker = str(spec.get("instance_pool_id") or "")
    return worker, str(spec.get("driver_instance_pool_id") or "") or worker


def pool_first_on_demand(spec: Mapping[str, Any],
                         pools: Mapping[str, Mapping[str, Any]] | None = None) -> int | None:
    """The ``first_on_demand`` a pool-backed spec's nodes amount to: 0 when its driver is a spot
    instance, 1 when it is on demand; None off a pool (no ``instance_pool_id``).

    ``first_on_demand`` does not apply to pool nodes: every instance has its pool's availability. The
    workers come from ``instance_pool_id``'s pool, the driver from ``driver_instance_pool_id``'s, else
    from the same pool (Clusters API: "The pool cluster uses the instance pool with id
    (instance_pool_id) if the driver pool is not assigned"). So on one spot pool the driver is a spot
    VM too, and reading Databricks' default 1 priced it on demand.

    The driver pool's availability is its own in ``pools``; without it, the spec's attributes
    block (the cluster's as it ran, `server.collect.build.with_pool_node_types`) when the driver
    shares the worker pool. A distinct driver pool not among ``pools`` is what the spec's
    ``first_on_demand`` says (as the run recorded it), else on demand."""
    worker_id, driver_id = pool_ids(spec)
    if not worker_id:
        return None
    own = spec.get("aws_attributes") or spec.get("azure_attributes") or {}
    driver_pool = (pools or {}).get(driver_id)
    if driver_pool:
        attrs = driver_pool.get("aws_attributes") or driver_pool.get("azure_attributes") or {}
        availability = str(attrs.get("availability") or "")
    elif driver_id == worker_id:
        availability = str(own.get("availability") or "")
    else:
        recorded = own.get("first_on_demand")
        return 0 if recorded not in (None, "") and int(recorded) == 0 else 1
    return 0 if availability.upper().startswith("SPOT") else 1


def pools_seen(spec: Mapping[str, Any], configs: Iterable[ClusterConfig | None]) -> dict[str, dict[str, Any]] | None:
    """The pools ``spec`` names, as the latest recorded run on them saw them: their node types from
    the run's configuration (the collector records the types the cluster got). For readers without
    a workspace to ask (the project page, the shared prior); the planner reads the pools themselves.
    None when the spec names no pool or no run on its pools recorded a node type."""
    worker_id, driver_id = pool_ids(spec)
    if not worker_id:
        return None
    for config in reversed(list(configs)):
        if config is not None and config.node_type_id and pool_ids(config.spec) == (worker_id, driver_id):
            return {driver_id: {"node_type_id": config.driver_node_type_id or config.node_type_id},
                    worker_id: {"node_type_id": config.node_type_id}}
    return None


def pool_overlay(recommended: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a recommendation a pool-backed spec may take: its sizing only.

    The pool fixes the node types (Databricks refuses ``node_type_id`` and ``driver_node_type_id``
    beside ``instance_pool_id``) and its instances' availability and disks (the pool's
    ``aws_attributes``/``azure_attributes`` and disk spec), so none of those is written."""
    return {k: copy.deepcopy(v) for k, v in recommended.items() if k in SIZING_FIELDS}


def single_node(spec: Mapping[str, Any]) -> bool:
    """A single-node cluster: Spark runs on the driver alone (``local[*]``), so workers would idle.

    Databricks marks one by the ``singleNode`` cluster profile (with ``spark.master`` local and the
    ``ResourceClass: SingleNode`` tag), or, in the newer form (``kind: CLASSIC_PREVIEW``), by
    ``is_single_node: true``, from which it sets that profile, tag and ``num_workers`` itself
    (databricks-sdk ``ClusterSpec.is_single_node``): such a spec may carry none of the older marks.
    A spec with no autoscale and ``num_workers`` 0 is one too."""
    if str(spec.get("is_single_node")).lower() == "true":  # a JSON bool, or its text
        return True
    conf = spec.get("spark_conf") or {}
    tags = spec.get("custom_tags") or {}
    if conf.get("spark.databricks.cluster.profile") == "singleNode" or tags.get("ResourceClass") == "SingleNode":
        return True
    if str(conf.get("spark.master", "")).startswith("local"):
        return True
    return not spec.get("autoscale") and "num_workers" in spec and int(spec.get("num_workers") or 0) == 0


# Standard (formerly shared) access mode: Unity Catalog runs only allowlisted init scripts there
# (Databricks Runtime 13.3 LTS and above; the allowlist is empty by default).
STANDARD_ACCESS_MODES = frozenset({"USER_ISOLATION", "DATA_SECURITY_MODE_STANDARD"})
AUTO_ACCESS_MODE = "DATA_SECURITY_MODE_AUTO"
# "Auto defaults to Standard unless a machine learning runtime, a GPU instance type, or a Databricks
# Runtime lower than 14.3 is selected, in which case Dedicated is used" (Databricks, access modes).
AUTO_DEDICATED_BELOW = (14, 3)
_RUNTIME = re.compile(r"^(\d+)\.(\d+)\.")


def runtime_version(spark_version: object) -> tuple[int, int] | None:
    """``(major, minor)`` of a spark_version key such as ``13.3.x-scala2.12``; None when unreadable."""
    match = _RUNTIME.match(str(spark_version or ""))
    return (int(match[1]), int(match[2])) if match else None


def standard_access_mode(spec: Mapping[str, Any], listed: ListedEntry = unlisted) -> bool:
    """The cluster runs in standard (shared) access mode, where init scripts must be allowlisted:
    set so, or ``DATA_SECURITY_MODE_AUTO`` where Databricks picks standard (`auto_is_standard`)."""
    mode = str(spec.get("data_security_mode") or "").upper()
    return mode in STANDARD_ACCESS_MODES or (mode == AUTO_ACCESS_MODE and auto_is_standard(spec, listed))


def auto_is_standard(spec: Mapping[str, Any], listed: ListedEntry = unlisted) -> bool:
    """Whether Databricks runs a ``DATA_SECURITY_MODE_AUTO`` cluster in standard access mode: unless
    its runtime is an ML or GPU one or below 14.3, or a node is a GPU type. A runtime whose number
    cannot be read counts as standard: onboarding must be sure the init script will run.

    An ML runtime is chosen by its version key (``-cpu-ml-``, ``-gpu-ml-``) or, in the newer form
    (``kind: CLASSIC_PREVIEW``), by ``use_ml_runtime: true`` beside a plain key: Databricks' effective
    runtime is "determined by spark_version, use_ml_runtime, and whether node_type_id is gpu"
    (databricks-sdk ``ClusterSpec.use_ml_runtime``). Whether a node type has GPUs is the price catalog's
    word where ``listed`` gives its entry (`server.hardware.node_kind`), its name's otherwise."""
    version_key = str(spec.get("spark_version") or "").lower()
    if "-ml-" in version_key or "-gpu-" in version_key:
        return False
    if str(spec.get("use_ml_runtime")).lower() == "true":  # a JSON bool, or its text
        return False
    version = runtime_version(version_key)
    if version is not None and version < AUTO_DEDICATED_BELOW:
        return False
    nodes = (spec.get("node_type_id"), spec.get("driver_node_type_id"))
    return not any(node_kind(str(n), listed(str(n))).gpu for n in nodes if n)


def access_mode_label(spec: Mapping[str, Any]) -> str:
    """The spec's access mode as a person reads it in a reason ("USER_ISOLATION", or
    "DATA_SECURITY_MODE_AUTO, which is standard on this runtime")."""
    mode = str(spec.get("data_security_mode") or "")
    return f"{mode}, which is standard on this runtime" if mode.upper() == AUTO_ACCESS_MODE else mode


def config_from_spec(spec: Mapping[str, Any],
                     pools: Mapping[str, Mapping[str, Any]] | None = None, *, cloud: str = "",
                     policy_values: Mapping[str, Any] | None = None) -> ClusterConfig:
    """The fields Trimtab decides on, read from a complete ``new_cluster`` (kept whole in ``spec``).

    ``pools`` (``instance-pools/get`` answers by id) supply what a pool-backed spec leaves to its
    pools: the worker and driver node types, and the availability of the worker pool's instances.
    Without them (or for a pool not among them) those read as the spec has them: empty.

    ``cloud``: the workspace's (aws | azure). An availability the spec leaves unset reads as the one
    Databricks runs it with there (`default_availability`: SPOT_WITH_FALLBACK on AWS), with
    ``first_on_demand`` 1; without ``cloud`` the spec's attributes block names it, and a spec with none
    reads unset ("", as on a cloud Trimtab has no default for).

    ``policy_values``: what the spec's cluster policy fills in (`unset_attributes`): an availability
    or ``first_on_demand`` the spec leaves unset reads as the policy's before the cloud's default, and
    so do the node types (of a spec naming no pool) and the sizing it leaves out."""
    aws = spec.get("aws_attributes") or {}
    azure = spec.get("azure_attributes") or {}
    worker_pool_id, driver_pool_id = pool_ids(spec)
    worker_pool = (pools or {}).get(worker_pool_id) if worker_pool_id else None
    driver_pool = (pools or {}).get(driver_pool_id) if driver_pool_id else None
    if worker_pool:
        # The pool's instances are what the cluster gets: their availability is the pool's.
        aws = {**aws, **(worker_pool.get("aws_attributes") or {})}
        azure = {**azure, **(worker_pool.get("azure_attributes") or {})}
    # What the spec leaves unset: its cluster policy's value, else the cloud's default (`unset_attributes`).
    attrs = {**unset_attributes(spec, cloud, policy_values),
             **{k: v for k, v in (aws or azure).items() if v not in (None, "")}}
    autoscale = spec.get("autoscale") or {}
    filled = policy_values or {}
    if not autoscale and spec.get("num_workers") is None and \
            any(filled.get(f"autoscale.{k}") is not None for k in ("min_workers", "max_workers")):
        # The sizing the spec leaves to its policy: what the cluster is created with.
        autoscale = {k: filled.get(f"autoscale.{k}") for k in ("min_workers", "max_workers")}
    availability = str(attrs.get("availability") or "")
    pool_on_demand = pool_first_on_demand(spec, pools) if availability else None
    # The node types a spec that names neither them nor a pool leaves to its policy (a fixed value,
    # or a default it asks for): what the cluster runs on, as the cluster record shows.
    node_type = str((worker_pool or spec).get("node_type_id") or "") or \
        ("" if worker_pool_id else str(filled.get("node_type_id") or ""))
    return ClusterConfig(
        node_type_id=node_type,
        driver_node_type_id=str(driver_pool.get("node_type_id") or "") if driver_pool
        else str(spec.get("driver_node_type_id") or "") or
        ("" if worker_pool_id else str(filled.get("driver_node_type_id") or "")),
        num_workers=0 if autoscale else int((spec.get("num_workers") if spec.get("num_workers") is not None
                                             else filled.get("num_workers")) or 0),
        autoscale_min=int(autoscale.get("min_workers") or 0),
        autoscale_max=int(autoscale.get("max_workers") or 0),
        availability=_AWS_AVAILABILITY.get(availability, availability),
        # Unset is Databricks' default, 1 (the driver on demand): read as 0, a recommendation
        # built from this config wrote first_on_demand 0 and so put the driver on spot too.
        # On a pool, whether the driver is spot is its pool's availability (`pool_first_on_demand`).
        first_on_demand=pool_on_demand if pool_on_demand is not None
        else int(attrs.get("first_on_demand") or 0) if attrs.get("first_on_demand") not in (None, "")
        else (1 if availability else 0),
        ebs_volume_type=str(aws.get("ebs_volume_type") or ""),
        ebs_volume_count=int(aws.get("ebs_volume_count") or 0),
        ebs_volume_size_gb=int(aws.get("ebs_volume_size") or 0),
        spark_version=str(spec.get("spark_version") or ""),
        spec=copy.deepcopy(dict(spec)),
    )


# Databricks' range for one EBS volume, in GiB, by ``ebs_volume_type`` (databricks-sdk
# ``AwsAttributes.ebs_volume_size``: "For general purpose SSD, this value must be within the range
# 100 - 4096. For throughput optimized HDD, this value must be within the range 500 - 4096").
EBS_SIZE_RANGE_GB = {"GENERAL_PURPOSE_SSD": (100, 4096), "THROUGHPUT_OPTIMIZED_HDD": (500, 4096)}
# gp3's performance: Databricks attaches gp2-equivalent volumes unless these are set
# (``AwsAttributes.ebs_volume_iops``/``ebs_volume_throughput``), so they are written with the volumes
# whenever the storage advice priced gp3.
GP3_FIELDS = ("ebs_volume_iops", "ebs_volume_throughput")


def ebs_size_problem(volume_type: str, size_gb: int) -> str | None:
    """Why Databricks would refuse ``size_gb`` GiB volumes of ``volume_type``; None when it accepts them.
    The one check of a size Trimtab writes (`recommendation_overlay`, `server.plan.storage.advise`)."""
    bounds = EBS_SIZE_RANGE_GB.get(volume_type)
    if bounds is None:
        return f"ebs_volume_type {volume_type!r} is not one of {sorted(EBS_SIZE_RANGE_GB)}"
    low, high = bounds
    if not low <= size_gb <= high:
        return f"ebs_volume_size {size_gb} GiB is outside {low}-{high} GiB for {volume_type}"
    return None


def ebs_overlay(config: ClusterConfig) -> dict[str, Any]:
    """The ``aws_attributes.ebs_volume_*`` fields ``config`` sets ({} when it sets none).

    The named fields give type, count and size; the storage advice leaves what has no named field in
    ``config.spec["aws_attributes"]``: gp3's IOPS and throughput (written, so the volumes attached are
    the gp3 volumes the advice priced), and ``ebs_volume_count`` 0 when the volumes are to go. A size
    of 0 is one the spec did not set: no size is written then (Databricks' default stays). A size
    Databricks would refuse is never written: the volumes are left as they are."""
    advised = (config.spec or {}).get("aws_attributes") or {}
    if advised.get("ebs_volume_count") == 0 and not config.ebs_volume_count:
        return {"ebs_volume_count": 0}
    if not config.ebs_volume_type or config.ebs_volume_count <= 0:
        return {}
    out: dict[str, Any] = {"ebs_volume_type": config.ebs_volume_type, "ebs_volume_count": config.ebs_volume_count}
    if config.ebs_volume_size_gb:
        if ebs_size_problem(config.ebs_volume_type, config.ebs_volume_size_gb) is not None:
            return {}
        out["ebs_volume_size"] = config.ebs_volume_size_gb
    if config.ebs_volume_type == "GENERAL_PURPOSE_SSD":
        out.update({k: advised[k] for k in GP3_FIELDS if advised.get(k)})
    return out


def recommendation_overlay(config: ClusterConfig, *, azure: bool) -> dict[str, Any]:
    """The part of a spec a recommendation owns, from its named fields.

    Only named fields are used (never ``config.spec`` whole): merging a whole
    spec would write back fields the user may have edited since. The one exception is what
    `ebs_overlay` reads of the storage advice, which no named field holds.
    """
    out: dict[str, Any] = {}
    if config.node_type_id:
        out["node_type_id"] = config.node_type_id
    if config.driver_node_type_id:
        out["driver_node_type_id"] = config.driver_node_type_id
    if config.autoscale_max > 0:
        out["autoscale"] = {"min_workers": config.autoscale_min, "max_workers": config.autoscale_max}
    elif config.node_type_id:
        out["num_workers"] = config.num_workers
    if config.spark_version:
        out["spark_version"] = config.spark_version
    attrs: dict[str, Any] = {}
    if config.availability:
        attrs["availability"] = _AZURE_AVAILABILITY.get(config.availability, config.availability) if azure \
            else _AWS_AVAILABILITY.get(config.availability, config.availability)
        attrs["first_on_demand"] = config.first_on_demand
    if not azure:
        attrs.update(ebs_overlay(config))
    if attrs:
        out["azure_attributes" if azure else "aws_attributes"] = attrs
    return out


def recommended_spec(base_spec: Mapping[str, Any], config: ClusterConfig, *, cloud: str) -> dict[str, Any]:
    """The spec ``config`` makes of ``base_spec`` on a workspace of ``cloud`` (aws | azure).

    The cloud is the workspace's, as the planner prices it, never guessed from the spec's keys: a
    spec without ``azure_attributes`` on Azure would otherwise get ``aws_attributes``, which
    Databricks refuses there ("aws_attributes can only be specified for clusters running in AWS")."""
    return merge_recommendation(base_spec, recommendation_overlay(config, azure=cloud == "azure"))


def config_label(config: ClusterConfig) -> str:
    """How reasons and run messages name a configuration: ``m5.xlarge x 4 workers``, ``m5.xlarge x
    autoscale 2-8 workers``, with ``, spot`` or ``, spot (first 2 workers on demand)``."""
    node = config.node_type_id or "pool nodes"
    if config.autoscale_max > 0:
        size, workers = f"autoscale {config.autoscale_min}-{config.autoscale_max} workers", config.autoscale_max
    elif config.num_workers == 0:
        return f"{node}, single node"  # the driver alone: it follows first_on_demand, never shown as spot
    else:
        size, workers = f"{config.num_workers} worker{'s' if config.num_workers != 1 else ''}", config.num_workers
    spot = ""
    if config.availability.upper().startswith("SPOT"):
        extra = config.first_on_demand - 1  # first_on_demand counts the driver
        if extra >= workers:
            spot = ", spot requested but every node on demand (first_on_demand)"
        elif extra > 0:
            spot = f", spot (first {extra} worker{'s' if extra != 1 else ''} on demand)"
        else:
            spot = ", spot" + (" (the driver too)" if config.first_on_demand == 0 else "")
    return f"{node} x {size}{spot}"


def with_pool_disks(spec: Mapping[str, Any], pools: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """``spec`` with its worker pool's ``disk_spec`` as ``aws_attributes.ebs_volume_*`` (a copy; ``spec``
    as it is off a pool, without ``pools`` or a pool without AWS disks). A pool-backed spec cannot set
    them itself: the pool's instances come with the pool's disks (``disk_spec``: ``disk_type``'s
    ``ebs_volume_type``, ``disk_count``, ``disk_size`` in GB, ``disk_iops``, ``disk_throughput``).
    A driver pool's disks are taken as the worker pool's: the timeline gives every node one set
    (`server.collect.usage.ebs_volumes`). Azure's pool disks (``azure_disk_volume_type``) stay
    unpriced, as a cluster's own Azure disks are."""
    out = dict(spec)
    pool = (pools or {}).get(str(spec.get("instance_pool_id") or ""))
    disk = (pool or {}).get("disk_spec") or {}
    volume_type = (disk.get("disk_type") or {}).get("ebs_volume_type")
    if not volume_type or not disk.get("disk_count"):
        return out
    attrs = {k: v for k, v in (out.get("aws_attributes") or {}).items() if not str(k).startswith("ebs_volume_")}
    attrs.update(ebs_volume_type=volume_type, ebs_volume_count=int(disk["disk_count"]),
                 ebs_volume_size=int(disk.get("disk_size") or 0))
    if disk.get("disk_iops"):
        attrs["ebs_volume_iops"] = int(disk["disk_iops"])
    if disk.get("disk_throughput"):
        attrs["ebs_volume_throughput"] = int(disk["disk_throughput"])
    out["aws_attributes"] = attrs
    return out
