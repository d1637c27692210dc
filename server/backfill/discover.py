"""Find the Spark applications in a delivered cluster-log tree (local disk).

Databricks delivers ``<dest>/<cluster-id>/eventlog/<cluster-id>_<driver-ip>/<spark-context-id>/eventlog*``
(bare ``eventlog`` newest, rotated ``eventlog-YYYY-MM-DD--HH-MM[.gz]`` before it). Users point
backfill at any level of that tree, so every directory is searched; an application is a
directory the agent's own discovery recognises as a Databricks application. Segment order
is left to the agent's `SegmentLister` (Rollover Number, bare ``eventlog`` last).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from agent.follow.discover import discover


@dataclass(frozen=True)
class FoundApplication:
    """One ``<spark-context-id>/`` directory and what its place in the tree says."""

    path: Path
    spark_context_id: str
    cluster_id: str  # from ``<cluster-id>_<driver-ip>`` when the layout has it, else ""


def _cluster_id_of(driver_dir: str) -> str:
    # Cluster ids contain dashes, never underscores; the driver IP (dotted or not) follows the first one.
    head, sep, _ = driver_dir.partition("_")
    return head if sep else ""


def find_applications(root: Path) -> list[FoundApplication]:
    """Every application under ``root`` (``root`` itself may be one), by path."""
    parents: set[Path] = set()
    if root.is_dir():
        for here, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if any(f == "eventlog" or f.startswith("eventlog-") for f in files):
                parents.add(Path(here).parent)
    found: dict[Path, FoundApplication] = {}
    for parent in parents:
        try:
            sources = discover(parent)
        except OSError:
            continue
        for src in sources:
            inside = src.path == root or root in src.path.parents
            if src.layout == "databricks" and inside:
                found[src.path] = FoundApplication(src.path, src.application_id, _cluster_id_of(parent.name))
    return [found[p] for p in sorted(found)]
