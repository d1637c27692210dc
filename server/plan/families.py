"""The worker families and kinds of hardware a project's candidates may use, and a driver of their kind."""

from __future__ import annotations

import re
from collections.abc import Iterable

from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.domain import ClusterConfig, ProjectSettings
from server.hardware import NodeKind, node_kind


def kind_of(catalog: PriceCatalog, cloud: str, node_type: str) -> NodeKind:
    """``node_type``'s kind of hardware as the catalog states it, by its name where the catalog does not
    (`server.hardware.node_kind`): every choice of the planner between kinds reads it here."""
    return node_kind(node_type, catalog.entry("node_types", cloud, node_type))


def families_for(current: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog,
                 cloud: str, *, live: ClusterConfig | None = None) -> tuple[str, ...]:
    """The worker families the project may use: the user's list, else the siblings of ``current``'s
    family (the cluster as imported, `server.plan.project_cluster.project_anchor`), of the kinds of
    hardware ``live`` (the cluster as it runs; ``current`` without it) allows (`cluster_kinds`).

    The siblings are re-anchored on ``live``'s family when that is not among them: Trimtab only moves
    a cluster within them, so only its owner put it there (an m5d job moved to m7gd by hand), and
    searching the imported family's siblings again would undo that choice with no word of it."""
    live = live or current
    family = catalog.node_type(cloud, current.node_type_id).family
    if not settings.allowed_families and live.node_type_id and live.node_type_id != current.node_type_id:
        try:
            live_family = catalog.node_type(cloud, live.node_type_id).family
        except TrimtabCostError:
            live_family = family
        if live_family not in default_families(catalog, cloud, family):
            family = live_family
    listed = settings.allowed_families or default_families(catalog, cloud, family)
    kinds = cluster_kinds(live, settings, catalog, cloud)
    of_kind = {catalog.node_type(cloud, t).family for t in catalog.node_types(cloud)
               if kind_of(catalog, cloud, t) in kinds}
    return tuple(f for f in listed if f in of_kind)


def cluster_kinds(live: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog,
                  cloud: str) -> frozenset[NodeKind]:
    """The kinds of hardware (CPU architecture, GPUs or not: `server.hardware`) a recommended
    cluster may run on, its workers and its driver alike: the live cluster's workers' kind.

    Trimtab cannot know whether what a job runs (a docker image, libraries, native code, CUDA) runs on
    another architecture, or without GPUs, so the live one is a hard constraint: a user edit to
    Graviton is kept, and never undone by x86 workers under its Graviton driver. Only a user who lists
    families of the live kind and of another in allowed_families lets the search cross (each
    cluster still of one kind), and not for a cluster with a ``docker_image``, built for one
    architecture. A list of other kinds alone (one set before the owner moved the job, say) does not
    move the job: `server.plan.candidates.build_candidates` refuses it, naming both."""
    own = kind_of(catalog, cloud, live.node_type_id)
    if not settings.allowed_families or (live.spec or {}).get("docker_image"):
        return frozenset({own})
    listed = {kind_of(catalog, cloud, t) for t in catalog.node_types(cloud)
              if catalog.node_type(cloud, t).family in settings.allowed_families}
    return frozenset(listed) if own in listed else frozenset({own})


def matching_driver(driver: str, kind: NodeKind, catalog: PriceCatalog, cloud: str,
                    families: Iterable[str]) -> str | None:
    """``driver``, or when it is not of ``kind`` the node type of ``kind`` among ``families`` nearest it
    in memory (the smallest holding as much, else the largest): a cluster's driver and workers are
    always of one kind (`cluster_kinds`). None when ``families`` have no type of ``kind``."""
    if kind_of(catalog, cloud, driver) == kind:
        return driver
    wanted = set(families)
    same = [catalog.node_type(cloud, t) for t in catalog.node_types(cloud)
            if kind_of(catalog, cloud, t) == kind and catalog.node_type(cloud, t).family in wanted]
    if not same:
        return None
    memory = catalog.node_type(cloud, driver).memory_gb
    big = [i for i in same if i.memory_gb >= memory]
    pick = min(big, key=lambda i: (i.memory_gb, i.vcpus, i.node_type)) if big else \
        max(same, key=lambda i: (i.memory_gb, -i.vcpus, i.node_type))
    return pick.node_type


def kind_refused(live: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog, cloud: str) -> str:
    """Why the project's allowed_families leave no family for the cluster's kind of hardware."""
    own = kind_of(catalog, cloud, live.node_type_id).words()
    both = "" if (live.spec or {}).get("docker_image") else \
        ", or list them beside these to let Trimtab try both (each cluster of one kind)"
    return (f"the project's allowed_families ({', '.join(settings.allowed_families)}) name no {own} family, and "
            f"the cluster runs {live.node_type_id} ({own}): Trimtab never moves a job to other hardware on its "
            "own (what it runs may be built for one CPU architecture, or need GPUs). Add the "
            f"{own} families it may use (`trimtab project set --allowed-families ...`){both}")


def default_families(catalog: PriceCatalog, cloud: str, family: str) -> tuple[str, ...]:
    """The current family plus its general-purpose/compute/memory siblings of the same generation.

    AWS names siblings by the leading letter (m5 → c5, r5); Azure by the series
    letter (Dsv5 → Esv5, Fsv2 has no v5). Only families the catalog prices count.
    An AWS fleet's siblings are the other fleets with the same local disks (md-fleet → rd-fleet):
    a job on a fleet stays on fleets, which launch whatever instance is available, unless the
    project's ``allowed_families`` name instance families too.
    """
    known = {catalog.node_type(cloud, t).family for t in catalog.node_types(cloud)}
    if cloud == "aws":
        fleet = re.fullmatch(r"([mcr])(d?)-fleet", family)
        m = re.fullmatch(r"([mcr])(\d+[a-z]*)", family)
        if fleet:
            siblings = [f"{letter}{fleet.group(2)}-fleet" for letter in "mcr"]
        else:
            siblings = [f"{letter}{m.group(2)}" for letter in "mcr"] if m else [family]
    else:
        m = re.fullmatch(r"([DE])(.*)", family)
        siblings = [f"{letter}{m.group(2)}" for letter in "DE"] if m else [family]
    return tuple(f for f in dict.fromkeys([family, *siblings]) if f in known)
