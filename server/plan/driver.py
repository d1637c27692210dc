"""The driver's side of a plan: stored runs -> `models.driver` evidence, the allowed driver types priced.

A run's driver peaks are the per-stage peak metrics Spark logs for executor "driver"
(``spark.eventLog.logStageExecutorMetrics``, set by the init script) and the driver's own
heartbeats, which also cover the time no stage runs (collects, broadcasts, planning) and the
context's stop (`DriverPeaks`, sent by the agent); its GC share is the driver JVM's cumulative
GC time at its last sample over the run's time. The memory of the driver's Python and other child
processes is Spark's process-tree metrics (``spark.executor.processTreeMetrics.enabled``, set by
the init script; Linux /proc), zero where they are off. The heap a job's spark_conf sets
(``spark.driver.memory``, `heap_set_gib`), or its cluster policy fills in where the spark_conf
leaves it out, is what its driver JVM gets on any node.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from models.driver import DriverChoice, DriverOption, DriverRun, choose_driver
from models.driver_kind import choose_driver_across
from models.observation import OUT_OF_MEMORY
from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.costing.run_cost import hourly_cost
from server.domain import ClusterConfig, DriverPeaks, ProjectSettings, Run, Stage, outside_heap_bytes
from server.hardware import NodeKind
from server.plan.candidates import driver_of, with_required_volume
from server.plan.families import kind_of
from server.plan.policy import ClusterPolicy, as_created
from server.spec import pool_fields

GIB = 1024**3
DRIVER_EXECUTOR_ID = "driver"  # Spark's SparkContext.DRIVER_IDENTIFIER
# Where `Project.state` keeps the drivers the user turned down: ``{"workers": <config_id_of>, "driver":
# <node type>}`` for each rejected or reverted recommendation whose driver differs from the one the job
# kept. The workers' configuration id (`REJECTED_KEY`) does not name the driver: for a driver-only
# change it is the very cluster the job keeps, so nothing was remembered and the driver sizer proposed
# the same driver again at the next plan (auto-apply wrote it after one run; review: coherence).
TURNED_DOWN_DRIVERS_KEY = "rejected_drivers"
TURNED_DOWN_DRIVERS_KEPT = 20  # the newest, as `REJECTED_KEPT`
# Spark's byte units (`JavaUtils.byteStringAs`, case-insensitive); spark.driver.memory without one is MiB.
_BYTE_UNITS = {"b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3,
               "t": 1024**4, "tb": 1024**4, "p": 1024**5, "pb": 1024**5}


def turned_down_drivers(state: Mapping[str, Any], workers: str) -> frozenset[str]:
    """The driver node types turned down for the workers' configuration ``workers`` (`config_id_of`)."""
    kept = state.get(TURNED_DOWN_DRIVERS_KEY) or []
    return frozenset(str(e.get("driver")) for e in kept if isinstance(e, dict) and e.get("workers") == workers) \
        if isinstance(kept, list) else frozenset()


@dataclasses.dataclass(frozen=True)
class DriverUse:
    """The driver's peaks over one run (bytes, ms); see `driver_use`."""

    peak_heap_bytes: int
    gc_ms: int
    peak_outside_heap_bytes: int


def driver_use(stages: Sequence[Stage], beats: Sequence[DriverPeaks] = ()) -> DriverUse | None:
    """The driver's peaks from its per-stage peaks and its heartbeats; None when neither measured its heap."""
    peaks = [p.metrics for s in stages for p in s.executor_peaks if p.executor_id == DRIVER_EXECUTOR_ID]
    peaks += [b.metrics for b in beats]
    heap = max((m.get("JVMHeapMemory", 0) for m in peaks), default=0)
    if heap <= 0:
        return None
    # Per-metric peaks may come from different samples: their sum errs towards a bigger driver.
    outside = max((outside_heap_bytes(m) for m in peaks), default=0)
    return DriverUse(heap, max(m.get("TotalGCTime", 0) for m in peaks), outside)


def driver_run(run: Run, stages: Sequence[Stage], catalog: PriceCatalog, cloud: str,
               beats: Sequence[DriverPeaks] = ()) -> DriverRun | None:
    """What one stored run says about its driver (its stages' and its heartbeats' peaks); None without
    a known configuration."""
    if run.config is None:
        return None
    node_type = driver_of(run.config)
    try:
        memory = float(catalog.node_type(cloud, node_type).memory_gb)
    except TrimtabCostError:
        memory = 0.0
    use = driver_use(stages, beats)
    alive_s = run.execution_s  # the driver starts once the cluster's setup is over
    return DriverRun(
        node_type=node_type, memory_gib=memory, ok=run.outcome == "succeeded",
        peak_heap_gib=use.peak_heap_bytes / GIB if use else None,
        gc_share=use.gc_ms / 1000.0 / alive_s if use and alive_s > 0 else None,
        peak_outside_gib=use.peak_outside_heap_bytes / GIB if use else 0.0,
        driver_failed="driver_lost" in run.anomalies,
        # The collector labels a driver's OOM driver_lost + out_of_memory, an executors' OOM
        # out_of_memory alone (`server.collect.build`): only the first is the driver's to answer for.
        out_of_memory="driver_lost" in run.anomalies and OUT_OF_MEMORY in run.anomalies,
        run_id=run.id,
    )


def heap_set_gib(spec: Mapping[str, Any], policy: ClusterPolicy | None = None) -> float:
    """The driver heap a cluster of ``spec`` is given (``spark.driver.memory``: "24g", "4096m", a bare
    number of MiB), GiB; 0 when none is set, or one Spark would refuse too (a fraction, an unknown unit).

    The spec's spark_conf sets it, else ``policy`` fills it in when the spec names it (a fixed value, or
    a default the spec asks for: `ClusterPolicy.filled_values`), as Databricks creates the cluster: the
    spec's own value wins, and a policy fixing the heap is as binding on the node as the job setting it."""
    conf = as_created(policy, spec).get("spark_conf")
    value = conf.get("spark.driver.memory") if isinstance(conf, Mapping) else None
    m = re.fullmatch(r"\s*(\d+)\s*([a-z]*)\s*", str(value or "").lower())
    if m is None or (m.group(2) and m.group(2) not in _BYTE_UNITS):
        return 0.0
    return int(m.group(1)) * _BYTE_UNITS[m.group(2) or "m"] / GIB


def driver_options(catalog: PriceCatalog, cloud: str, families: Iterable[str], like: ClusterConfig, *,
                   region: str, plan: str, sku: str, policy: ClusterPolicy | None = None,
                   kind: NodeKind | None = None) -> list[DriverOption]:
    """Every catalog node type of ``families`` as a driver, priced alone (DBUs, instance, volumes).

    A ``policy`` that limits ``driver_node_type_id`` leaves out the types it refuses, except the
    current one: `plan_driver` needs its size to pick an allowed replacement.

    Only types of one kind of hardware: ``kind``, by default the current driver's (its workers'), which
    is then always among them. With families of both kinds allowed, a driver of the other kind was
    swapped, on the workers' kind, for the type nearest it in memory (`matching_driver`: price and
    cores unseen), and the reason named a driver the cluster never got; `plan_drivers` sizes each kind's."""
    wanted = set(families)
    current = driver_of(like)
    kind = kind or kind_of(catalog, cloud, current)
    # The current driver is priced even outside the families (its size anchors the rule), on its kind only.
    own = current if kind_of(catalog, cloud, current) == kind else None
    out = []
    for node_type in catalog.node_types(cloud):
        info = catalog.node_type(cloud, node_type)
        if (info.family not in wanted or kind_of(catalog, cloud, node_type) != kind) and node_type != own:
            continue
        if policy is not None and node_type != own and \
                not policy.allows_value("driver_node_type_id", node_type):
            continue
        price = driver_price(catalog, cloud, node_type, like, region=region, plan=plan, sku=sku)
        if price is not None:
            out.append(DriverOption(node_type, float(info.vcpus), float(info.memory_gb), price))
    return out


def driver_price(catalog: PriceCatalog, cloud: str, node_type: str, like: ClusterConfig, *,
                 region: str, plan: str, sku: str) -> float | None:
    """One hour of ``node_type`` as a cluster's on-demand driver with ``like``'s volumes; None if unpriced."""
    alone = dataclasses.replace(like, node_type_id=node_type, driver_node_type_id=node_type, num_workers=0,
                                autoscale_min=0, autoscale_max=0, availability="ON_DEMAND", spec={})
    # With the volume a candidate on it gets over ``like``'s spec, so the driver is priced as written.
    alone = with_required_volume(alone, like, catalog, cloud)
    try:
        return hourly_cost(alone, cloud, region, plan, sku, catalog, workers=0)
    except TrimtabCostError:
        return None


def plan_driver(settings: ProjectSettings, current: ClusterConfig, runs: Sequence[DriverRun],
                options: Sequence[DriverOption], *, policy: ClusterPolicy | None = None,
                space: Sequence[ClusterConfig] = (), spec: Mapping[str, Any] | None = None,
                azure: bool = False, currency: str = "", turned_down: Collection[str] = ()) -> DriverChoice | None:
    """The driver for the next run; None when the user fixed it, a pool supplies it, or the current
    one cannot be priced.

    When ``policy`` refuses the current driver, the cheapest allowed one at least as big replaces
    it (the biggest allowed one when none is): the run's memory needs do not shrink because an
    admin narrowed the types, and without a replacement no candidate would be inside the policy.

    ``space`` is the project's worker configurations as the planner builds them before the policy
    (its bounds, the configurations it ran on), and ``spec`` the live spec they are applied over
    (``current``'s by default). Under a ``policy`` a driver other than the current one is offered
    only if at least one of them, with that driver, is inside the policy: a big driver can push
    every worker count over a ``dbus_per_hour`` cap, and choosing it would leave the plan nothing
    but the current configuration. When the driver the evidence wants is refused so, the cheapest
    offered driver that still holds what the evidence asks for replaces it; when none does, the
    current driver is kept, and the reason names the rule.

    ``turned_down``: drivers the user turned down for the current workers (`turned_down_drivers`),
    never chosen (`models.driver.choose_driver`). No driver is chosen below the heap the live spec's
    spark_conf sets, or ``policy`` fills in where it sets none (`heap_set_gib`; applies keep the
    spark_conf and the policy), and what is not heap beside it."""
    if settings.driver_node_type_id or pool_fields(current.spec):
        # A pool-backed cluster's driver comes from a pool (the driver pool, else the workers'):
        # Databricks refuses driver_node_type_id beside it, so there is no driver to choose.
        return None
    name = driver_of(current)
    mine = next((o for o in options if o.node_type == name), None)
    if mine is None:
        return None
    base = current.spec if spec is None else spec
    heap_set = heap_set_gib(base, policy)
    by_policy = heap_set > 0 and heap_set_gib(base) <= 0  # the reason names who set it
    judged: dict[str, list[str]] = {}

    def no_room(option: DriverOption) -> list[str]:
        """The rules that leave ``option`` no configuration of ``space``; empty: it is offered. The
        current driver always is: keeping it changes nothing the policy has not accepted."""
        if policy is None or option.node_type == name:
            return []
        if option.node_type not in judged:
            judged[option.node_type] = policy.refuses_driver(option.node_type, space, base, azure=azure)
        return judged[option.node_type]

    if policy is not None and not policy.allows_value("driver_node_type_id", name):
        allowed = [o for o in options if o.node_type != name and not no_room(o)]
        # A turned-down replacement only when nothing else is allowed: the policy refuses the current one.
        allowed = [o for o in allowed if o.node_type not in turned_down] or allowed
        big_enough = [o for o in allowed if o.memory_gib >= mine.memory_gib]
        pick = min(big_enough, key=lambda o: (o.price_per_hour, o.node_type), default=None) or \
            max(allowed, key=lambda o: (o.memory_gib, -o.price_per_hour), default=None)
        if pick is None:
            return None
        return DriverChoice(pick, True, f"driver {name} -> {pick.node_type} ({pick.memory_gib:g} GiB): "
                                        f"the {policy.label} does not allow {name} as the driver")
    wanted = choose_driver(options, mine, runs, currency=currency, turned_down=turned_down, heap_set_gib=heap_set,
                           heap_by_policy=by_policy)
    refused_by = no_room(wanted.option)
    if policy is None or not refused_by:
        return wanted
    offered = [o for o in options if not no_room(o)]
    fallback = choose_driver(offered, mine, runs, currency=currency, turned_down=turned_down, heap_set_gib=heap_set,
                             heap_by_policy=by_policy)
    if wanted.option.memory_gib <= mine.memory_gib:
        # A smaller driver the policy leaves no room for: the evidence's choice among the others.
        return fallback
    words = policy.no_room_words(refused_by)
    if fallback.changed and fallback.option.memory_gib > mine.memory_gib and _holds(fallback.option, runs):
        return DriverChoice(fallback.option, True, f"{fallback.reason}; {wanted.option.node_type} would leave "
                                                   f"no configuration {words}")
    # The evidence's words for why the driver must grow: "driver A -> B (64 GiB): <why>".
    why = wanted.reason.partition("): ")[2] or wanted.reason
    return DriverChoice(mine, False, f"driver {name} kept ({why}; a bigger driver would leave no configuration "
                                     f"{words})", blocked=True)


def plan_drivers(settings: ProjectSettings, current: ClusterConfig, runs: Sequence[DriverRun],
                 catalog: PriceCatalog, cloud: str, families: Iterable[str], kinds: Iterable[NodeKind], *,
                 region: str, plan: str, sku: str, policy: ClusterPolicy | None = None,
                 space: Sequence[ClusterConfig] = (), spec: Mapping[str, Any] | None = None,
                 currency: str = "", turned_down: Collection[str] = ()) -> dict[NodeKind, DriverChoice]:
    """The driver for workers of each of ``kinds`` (`server.plan.families.cluster_kinds`) among
    ``families``: `plan_driver`'s on the current driver's kind, and on another the same rule from the
    current driver's counterpart there (`models.driver_kind.choose_driver_across`), so whichever kind
    of workers the decision picks, its driver was sized (and every candidate priced with it) and the
    reason names it. Empty when `plan_driver` chooses none (a fixed driver, a pool); a kind with no
    driver offered is left out (its candidates keep `matching_driver`'s).

    Under ``policy`` another kind's driver is offered only if a configuration of ``space`` of that kind
    is inside it with that driver, as `plan_driver` judges its own kind's."""
    own_kind = kind_of(catalog, cloud, driver_of(current))
    azure = cloud == "azure"
    options = driver_options(catalog, cloud, families, current, region=region, plan=plan, sku=sku, policy=policy)
    own = plan_driver(settings, current, runs, options, policy=policy, space=space, spec=spec, azure=azure,
                      currency=currency, turned_down=turned_down)
    mine = next((o for o in options if o.node_type == driver_of(current)), None)
    if own is None or mine is None:
        return {}
    base = current.spec if spec is None else spec
    out = {own_kind: own}
    for kind in kinds:
        if kind == own_kind:
            continue
        theirs = [c for c in space if kind_of(catalog, cloud, c.node_type_id) == kind]
        offered = [o for o in driver_options(catalog, cloud, families, current, region=region, plan=plan, sku=sku,
                                             policy=policy, kind=kind)
                   if policy is None or not policy.refuses_driver(o.node_type, theirs, base, azure=azure)]
        choice = choose_driver_across(offered, mine, runs, kind=kind.words(), currency=currency,
                                      turned_down=turned_down, heap_set_gib=heap_set_gib(base, policy),
                                      heap_by_policy=heap_set_gib(base) <= 0)
        if choice is not None:
            out[kind] = choice
    return out


def _holds(option: DriverOption, runs: Sequence[DriverRun]) -> bool:
    """Whether ``option`` holds what the runs ask of the driver: the evidence would keep it rather
    than grow it (`choose_driver` with no other option says it is blocked only when it must grow)."""
    return not choose_driver([], option, runs).blocked
