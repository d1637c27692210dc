"""What a node type's name says about its hardware: the CPU architecture and whether it has GPUs (pure).

The price catalog carries no architecture, and the clouds name it in the type: AWS Graviton (arm64)
types carry a ``g`` right after the generation digit (m6g, m7gd, c6gn, r8g, x2gd, im4gn, is4gen,
t4g, the GPU g5g) and x86 ones never do (m5d, m7i, c6a, g4dn: the ``g`` there is the GPU letter, before
the digit); Databricks' fleet types name their EC2 families before ``-fleet`` (``m-fleet``,
``md-fleet``: x86), so one with a ``g`` after its first letter is read as Graviton, as those are. Azure's Arm (Ampere) sizes carry a ``p`` after
the vCPU count (Standard_D4ps_v5, Standard_E8pds_v5). GPU types: AWS g*/p* families (g4dn, g5, p3,
p4d), Azure's N-series (NC, ND, NV).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    """Whether ``node_type`` has GPUs (by its name, see the module doc)."""
    return bool(_GPU.match(node_type))


def node_kind(node_type: str) -> NodeKind:
    """The CPU architecture and GPU-ness of ``node_type``, read from its name (see the module doc)."""
    arm = bool(_GRAVITON.match(node_type) or _GRAVITON_FLEET.match(node_type) or _AZURE_ARM.match(node_type))
    return NodeKind(ARM64 if arm else X86_64, gpu_node_type(node_type))
