"""A node type's hardware: its CPU architecture and whether it has GPUs (pure).

One source, `node_kind`: the price catalog's entry for the type where it states them (``arch``,
``gpus``: `server.costing.catalog`), else the type's name (`kind_from_name`). The planner, its
driver matching and the spec checks all ask `node_kind`, so a catalog entry that corrects the name
(a type the name rules misread) moves every one of them at once; two readings could put a job's
workers and driver on different hardware.

The name: the clouds name the architecture in the type. AWS Graviton (arm64)
types carry a ``g`` right after the generation digit (m6g, m7gd, c6gn, r8g, x2gd, im4gn, is4gen,
t4g, the GPU g5g) and x86 ones never do (m5d, m7i, c6a, g4dn: the ``g`` there is the GPU letter, before
the digit); Databricks' fleet types name their EC2 families before ``-fleet`` (``m-fleet``,
``md-fleet``: x86), so one with a ``g`` after its first letter is read as Graviton, as those are. Azure's Arm (Ampere) sizes carry a ``p`` after
the vCPU count (Standard_D4ps_v5, Standard_E8pds_v5). GPU types: AWS g*/p* families (g4dn, g5, p3,
p4d), Azure's N-series (NC, ND, NV).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ARM64 = "arm64"
X86_64 = "x86_64"

_GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*\.", re.IGNORECASE)
_GRAVITON_FLEET = re.compile(r"^[a-z]g[a-z]*-fleet\.", re.IGNORECASE)
_AZURE_ARM = re.compile(r"^Standard_[A-Z]+\d+[a-z]*p[a-z]*_v\d", re.IGNORECASE)
_GPU = re.compile(r"^(?:[gp]\d|Standard_N[CDV])", re.IGNORECASE)


@dataclass(frozen=True)
class NodeKind:
    """The hardware a cluster's code must run on: its CPU architecture, and GPUs or none."""

    arch: str  # ARM64 | X86_64
    gpu: bool = False

    def words(self) -> str:
        """How a reason names it: "arm64 (Graviton)", "x86_64 with GPUs"."""
        arch = "arm64 (Graviton)" if self.arch == ARM64 else self.arch
        return f"{arch} with GPUs" if self.gpu else arch


def gpu_node_type(node_type: str) -> bool:
    """Whether ``node_type``'s name reads as a GPU type (see the module doc); `node_kind` is what callers ask."""
    return bool(_GPU.match(node_type))


def kind_from_name(node_type: str) -> NodeKind:
    """The CPU architecture and GPU-ness of ``node_type`` read from its name alone (see the module doc):
    what `node_kind` falls back on for a type, or a field, the price catalog does not state."""
    arm = bool(_GRAVITON.match(node_type) or _GRAVITON_FLEET.match(node_type) or _AZURE_ARM.match(node_type))
    return NodeKind(ARM64 if arm else X86_64, gpu_node_type(node_type))


def node_kind(node_type: str, entry: Mapping[str, Any] | None) -> NodeKind:
    """The kind of hardware of ``node_type``: what its price catalog ``entry`` (the ``node_types`` entry
    as the catalog holds it, `PriceCatalog.entry`; None for a type the catalog lacks) states, each of
    ``arch`` and ``gpus`` on its own, and the name (`kind_from_name`) for what it does not state.

    A field the entry leaves out falls back on the name, not on the catalog's default (x86_64, no
    GPU): catalogs written before the fields (an older ``trimtab prices update`` output) priced
    m7g/m7gd without ``arch``, and reading those as x86 would move a Graviton job's driver to x86."""
    named = kind_from_name(node_type)
    if entry is None:
        return named
    # A catalog checks both fields when it loads (`server.costing.catalog._validate`).
    arch = str(entry["arch"]) if "arch" in entry else named.arch
    gpu = float(entry["gpus"]) > 0 if "gpus" in entry else named.gpu
    return NodeKind(arch, gpu)
