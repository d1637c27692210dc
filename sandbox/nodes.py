"""Catalog of the cloud node types a simulated Databricks cluster can use.

Figures are the providers' published ones: vCPUs (hardware threads), memory in GiB, local
instance-store / temporary SSD in GB (0 for EBS-only or no temp disk), and the network
bandwidth the provider quotes (the "up to" burst figure where that is all AWS publishes, Azure's
"expected network bandwidth" otherwise). ``core_speed`` is a relative per-vCPU throughput
(m5 = 1.0) used only by the performance model; it reflects CPU generation (Skylake/Cascade Lake,
Ice Lake, Graviton3, Broadwell for i3).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeType:
    node_type_id: str
    cloud: str  # "aws" | "azure"
    family: str
    vcpus: int
    memory_gib: float
    local_disk_gb: float  # 0 for EBS-only / no temporary disk
    network_gbps: float
    arch: str  # "x86_64" | "arm64"
    spot_capable: bool = True
    core_speed: float = 1.0
    # A Databricks fleet node type's members (`FLEETS`); empty for an instance type of its own.
    members: tuple[str, ...] = ()
    # GPUs on one node (g4dn, g5); the performance model runs their CPUs only.
    gpus: int = 0

    @property
    def dbus_per_hour(self) -> float:
        """DBUs one node of this type burns per hour on jobs compute (`DBUS_PER_HOUR` where Databricks'
        figure is not proportional to vCPUs, else `DBUS_PER_VCPU`)."""
        if self.node_type_id in DBUS_PER_HOUR:
            return DBUS_PER_HOUR[self.node_type_id]
        return round(self.vcpus * DBUS_PER_VCPU[self.family], 4)


# DBUs per hour per vCPU of each family: Databricks' published DBU/h per instance type, which within
# these families is proportional to vCPUs (m5.xlarge 0.69, m5.2xlarge 1.38, c5.9xlarge 5.49; Azure
# D4s_v5 0.75, E8s_v5 2.0). Source: https://www.databricks.com/product/pricing/product-pricing/instance-types
# (AWS and Azure tabs, DBU/h column), transcribed 2026-11-24. The emulator judges a cluster policy's
# `dbus_per_hour` with them (`sandbox.workspace.policies`).
DBUS_PER_VCPU: dict[str, float] = {
    **dict.fromkeys(("m5", "m5d", "m6i", "m6id"), 0.1725),
    **dict.fromkeys(("m7g", "m7gd"), 0.15),
    **dict.fromkeys(("r5", "r5d", "r6i", "r6id"), 0.225),
    **dict.fromkeys(("c5", "c5d", "c6i", "c6id"), 0.1525),
    **dict.fromkeys(("i3", "i4i"), 0.25),
    **dict.fromkeys(("Dsv5", "Ddsv5", "DSv2", "Dsv4", "Ddsv4"), 0.1875),
    **dict.fromkeys(("Esv5", "Edsv5", "Esv4", "Edsv4", "Lsv3"), 0.25),
    "Fsv2": 0.125,
    # Fleet families: their members' (a fleet bills the DBUs of its size).
    **dict.fromkeys(("m-fleet", "md-fleet"), 0.1725),
    **dict.fromkeys(("r-fleet", "rd-fleet"), 0.225),
    **dict.fromkeys(("c-fleet", "cd-fleet"), 0.1525),
    "rgd-fleet": 0.25,
    "r6gd": 0.25,
    "i3en": 0.3625,
}
# Databricks' DBU/h of the types where it is not proportional to vCPUs (Graviton2 m/c at 16 and 32
# vCPUs, the GPU types). Source: NVIDIA spark-rapids-tools' transcription of the same Databricks page
# (user_tools/src/spark_rapids_pytools/resources/databricks-premium-catalog.json, "Jobs Compute"), as
# in Trimtab's catalog (server/costing/catalog/node_types.json names the commit), transcribed 2026-12-07.
DBUS_PER_HOUR: dict[str, float] = {
    **{f"{f}.{size}": dbu for f in ("m6g", "m6gd")
       for size, dbu in (("xlarge", 0.77), ("2xlarge", 1.54), ("4xlarge", 3.07), ("8xlarge", 6.13))},
    **{f"c6gd.{size}": dbu for size, dbu in (("xlarge", 0.77), ("2xlarge", 1.54), ("4xlarge", 3.08), ("8xlarge", 6.16))},
    **{f"g4dn.{size}": dbu for size, dbu in (("xlarge", 0.71), ("2xlarge", 1.43), ("4xlarge", 2.85), ("8xlarge", 5.7),
                                             ("12xlarge", 8.56))},
    **{f"g5.{size}": dbu for size, dbu in (("xlarge", 1.36), ("2xlarge", 1.64), ("4xlarge", 2.2), ("8xlarge", 3.32),
                                           ("12xlarge", 7.69))},
}
# How many times a node's DBUs a Photon job cluster burns (``runtime_engine: PHOTON``). Source:
# https://docs.databricks.com/en/compute/photon.html (Photon DBU consumption), transcribed 2026-11-24.
PHOTON_DBU_MULTIPLIER: dict[str, float] = {"aws": 2.9, "azure": 2.5}


class UnknownNodeType(KeyError):
    """Raised for a node type id that is not in the catalog; the message names it."""

    def __init__(self, node_type_id: str) -> None:
        super().__init__(node_type_id)
        self.node_type_id = node_type_id

    def __str__(self) -> str:
        return f"unknown node type {self.node_type_id!r}"


# (size suffix, vCPUs, memory multiplier over vCPUs) shared by the AWS general families.
_AWS_SIZES = {"xlarge": 4, "2xlarge": 8, "3xlarge": 12, "4xlarge": 16, "6xlarge": 24, "8xlarge": 32, "9xlarge": 36,
              "12xlarge": 48}


def _aws_family(
    family: str,
    gib_per_vcpu: float,
    disks: dict[str, float],
    net: dict[str, float],
    *,
    arch: str = "x86_64",
    core_speed: float = 1.0,
    sizes: tuple[str, ...] = ("xlarge", "2xlarge", "4xlarge", "8xlarge"),
    gpus: dict[str, int] | None = None,
) -> list[NodeType]:
    return [
        NodeType(
            node_type_id=f"{family}.{size}",
            cloud="aws",
            family=family,
            vcpus=_AWS_SIZES[size],
            memory_gib=_AWS_SIZES[size] * gib_per_vcpu,
            local_disk_gb=disks.get(size, 0.0),
            network_gbps=net[size],
            arch=arch,
            core_speed=core_speed,
            gpus=(gpus or {}).get(size, 0),
        )
        for size in sizes
    ]


_NET_5TH = {"xlarge": 10.0, "2xlarge": 10.0, "4xlarge": 10.0, "8xlarge": 10.0}
_NET_6TH = {"xlarge": 12.5, "2xlarge": 12.5, "4xlarge": 12.5, "8xlarge": 12.5}
_NET_7G = {"xlarge": 12.5, "2xlarge": 15.0, "4xlarge": 15.0, "8xlarge": 15.0}
_DISK_5D = {"xlarge": 150.0, "2xlarge": 300.0, "4xlarge": 600.0, "8xlarge": 1200.0}
_DISK_6D = {"xlarge": 237.0, "2xlarge": 474.0, "4xlarge": 950.0, "8xlarge": 1900.0}
_DISK_C5D = {"xlarge": 100.0, "2xlarge": 200.0, "4xlarge": 400.0, "9xlarge": 900.0}
# c5 has no 8xlarge: its next size is the 36-vCPU 9xlarge (12 Gbps).
_C5_SIZES = ("xlarge", "2xlarge", "4xlarge", "9xlarge")
_NET_C5 = {**_NET_5TH, "9xlarge": 12.0}
# Graviton2 (m6g, c6gd, r6gd): up to 10 Gbps to 4xlarge, then 12 Gbps.
_NET_6G = {"xlarge": 10.0, "2xlarge": 10.0, "4xlarge": 10.0, "8xlarge": 12.0}
_GPU_SIZES = ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge")
_ONE_GPU_TO_8XL = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "12xlarge": 4}

_AWS: list[NodeType] = [
    *_aws_family("m5", 4, {}, _NET_5TH),
    *_aws_family("m5d", 4, _DISK_5D, _NET_5TH),
    *_aws_family("m6i", 4, {}, _NET_6TH, core_speed=1.15),
    *_aws_family("m6id", 4, _DISK_6D, _NET_6TH, core_speed=1.15),
    *_aws_family("m7g", 4, {}, _NET_7G, arch="arm64", core_speed=1.2),
    *_aws_family("m7gd", 4, _DISK_6D, _NET_7G, arch="arm64", core_speed=1.2),
    *_aws_family("r5", 8, {}, _NET_5TH),
    *_aws_family("r5d", 8, _DISK_5D, _NET_5TH),
    *_aws_family("r6i", 8, {}, _NET_6TH, core_speed=1.15),
    *_aws_family("r6id", 8, _DISK_6D, _NET_6TH, core_speed=1.15),
    *_aws_family("c5", 2, {}, _NET_C5, core_speed=1.1, sizes=_C5_SIZES),
    *_aws_family("c5d", 2, _DISK_C5D, _NET_C5, core_speed=1.1, sizes=_C5_SIZES),
    *_aws_family("c6i", 2, {}, _NET_6TH, core_speed=1.25),
    *_aws_family("c6id", 2, _DISK_6D, _NET_6TH, core_speed=1.25),
    # i3: 30.5 GiB per 4 vCPUs, NVMe 950 GB per 4 vCPUs, Broadwell cores.
    *_aws_family(
        "i3",
        7.625,
        {"xlarge": 950.0, "2xlarge": 1900.0, "4xlarge": 3800.0, "8xlarge": 7600.0},
        _NET_5TH,
        core_speed=0.9,
    ),
    # Graviton2 (arm64), per-vCPU throughput about m5's.
    *_aws_family("m6g", 4, {}, _NET_6G, arch="arm64"),
    *_aws_family("m6gd", 4, _DISK_6D, _NET_6G, arch="arm64"),
    *_aws_family("c6gd", 2, _DISK_6D, _NET_6G, arch="arm64"),
    *_aws_family("r6gd", 8, _DISK_6D, _NET_6G, arch="arm64"),
    # GPU types: 1 GPU to 8xlarge, 4 at 12xlarge (g4dn NVIDIA T4, g5 A10G); Cascade Lake / AMD EPYC cores.
    *_aws_family("g4dn", 4, {"xlarge": 125.0, "2xlarge": 225.0, "4xlarge": 225.0, "8xlarge": 900.0, "12xlarge": 900.0},
                 {"xlarge": 25.0, "2xlarge": 25.0, "4xlarge": 25.0, "8xlarge": 50.0, "12xlarge": 50.0},
                 sizes=_GPU_SIZES, gpus=_ONE_GPU_TO_8XL),
    *_aws_family("g5", 4, {"xlarge": 250.0, "2xlarge": 450.0, "4xlarge": 600.0, "8xlarge": 900.0, "12xlarge": 3800.0},
                 {"xlarge": 10.0, "2xlarge": 10.0, "4xlarge": 25.0, "8xlarge": 25.0, "12xlarge": 40.0},
                 sizes=_GPU_SIZES, gpus=_ONE_GPU_TO_8XL, core_speed=1.1),
    # i3en: 2.5 TB NVMe per 4 vCPUs, up to 25 Gbps; sizes xlarge, 2xlarge, 3xlarge, 6xlarge (no 4x/8x).
    *_aws_family("i3en", 8, {"xlarge": 2500.0, "2xlarge": 5000.0, "3xlarge": 7500.0, "6xlarge": 15000.0},
                 dict.fromkeys(("xlarge", "2xlarge", "3xlarge", "6xlarge"), 25.0),
                 sizes=("xlarge", "2xlarge", "3xlarge", "6xlarge")),
    *_aws_family(
        "i4i",
        8,
        {"xlarge": 937.0, "2xlarge": 1875.0, "4xlarge": 3750.0, "8xlarge": 7500.0},
        # i4i: up to 10 / up to 12 / up to 25 Gbps, then 18.75 Gbps at 8xlarge.
        {"xlarge": 10.0, "2xlarge": 12.0, "4xlarge": 25.0, "8xlarge": 18.75},
        core_speed=1.15,
    ),
]


def _azure(
    name: str, family: str, vcpus: int, gib: float, disk: float, net: float, speed: float
) -> NodeType:
    return NodeType(
        node_type_id=name,
        cloud="azure",
        family=family,
        vcpus=vcpus,
        memory_gib=gib,
        local_disk_gb=disk,
        network_gbps=net,
        arch="x86_64",
        core_speed=speed,
    )


# Dv4/Ev4 (and their d/s variants): expected bandwidth 10, 12.5, 12.5 and 16 Gbps for 4-32 vCPUs.
_NET_V4 = ((4, 10.0), (8, 12.5), (16, 12.5), (32, 16.0))

_AZURE: list[NodeType] = [
    *[_azure(f"Standard_D{n}s_v5", "Dsv5", n, 4 * n, 0, 12.5 if n < 32 else 16.0, 1.15) for n in (4, 8, 16, 32)],
    *[_azure(f"Standard_D{n}ds_v5", "Ddsv5", n, 4 * n, 37.5 * n, 12.5 if n < 32 else 16.0, 1.15)
      for n in (4, 8, 16, 32)],
    *[_azure(f"Standard_E{n}s_v5", "Esv5", n, 8 * n, 0, 12.5 if n < 32 else 16.0, 1.15) for n in (4, 8, 16, 32)],
    *[_azure(f"Standard_E{n}ds_v5", "Edsv5", n, 8 * n, 37.5 * n, 12.5 if n < 32 else 16.0, 1.15)
      for n in (4, 8, 16, 32)],
    # Fsv2: 2 GiB per vCPU, 8 GiB temp per vCPU, 875 Mbps per 2 vCPUs (14 Gbps at 32 vCPUs).
    *[_azure(f"Standard_F{n}s_v2", "Fsv2", n, 2 * n, 8 * n, min(0.4375 * n, 16.0), 1.1) for n in (4, 8, 16, 32)],
    # Lsv3: NVMe 1.92 TB per 8 vCPUs (plus a small temp disk we ignore).
    *[_azure(f"Standard_L{n}s_v3", "Lsv3", n, 8 * n, 240 * n, 12.5 if n < 32 else 16.0, 1.1) for n in (8, 16, 32)],
    # DSv2 (older, still common in Databricks workspaces): 3.5 GiB per vCPU, 7 GiB temp per vCPU.
    *[_azure(f"Standard_DS{k}_v2", "DSv2", n, 3.5 * n, 7 * n, net, 0.85)
      for k, n, net in ((3, 4, 3.0), (4, 8, 6.0), (5, 16, 12.0))],
    *[
        _azure(f"Standard_D{n}s_v4", "Dsv4", n, 4 * n, 0, net, 1.05)
        for n, net in _NET_V4
    ],
    *[
        _azure(f"Standard_D{n}ds_v4", "Ddsv4", n, 4 * n, 37.5 * n, net, 1.05)
        for n, net in _NET_V4
    ],
    *[
        _azure(f"Standard_E{n}s_v4", "Esv4", n, 8 * n, 0, net, 1.05)
        for n, net in _NET_V4
    ],
    *[
        _azure(f"Standard_E{n}ds_v4", "Edsv4", n, 8 * n, 37.5 * n, net, 1.05)
        for n, net in _NET_V4
    ],
]

# Databricks' AWS fleet node types ("Introducing Databricks Fleet Clusters for AWS": families m-fleet,
# md-fleet, r-fleet and rd-fleet, sizes xlarge to 8xlarge): each node is launched as whichever same-size
# instance type of the family Databricks finds available and cheapest. The emulator's members are its
# own same-size types of the family, and it always finds the first one (the older generation, the
# cheaper): a fleet node is that instance (`instance_type_of`), its figures that member's, except its
# memory, local disk and network, which are the smallest member's (what Databricks promises any node).
FLEETS: dict[str, tuple[str, ...]] = {
    "m-fleet": ("m5", "m6i"), "md-fleet": ("m5d", "m6id"), "r-fleet": ("r5", "r6i"), "rd-fleet": ("r5d", "r6id"),
    # c5/c5d have no 8xlarge: c-fleet.8xlarge and cd-fleet.8xlarge launch c6i/c6id only. rgd: Graviton r, local disk.
    "c-fleet": ("c5", "c6i"), "cd-fleet": ("c5d", "c6id"), "rgd-fleet": ("r6gd",),
}


def _fleet(family: str, size: str, by_id: dict[str, NodeType]) -> NodeType:
    members = [by_id[f"{m}.{size}"] for m in FLEETS[family] if f"{m}.{size}" in by_id]
    launched = members[0]
    return NodeType(
        node_type_id=f"{family}.{size}",
        cloud="aws",
        family=family,
        vcpus=launched.vcpus,
        memory_gib=min(m.memory_gib for m in members),
        local_disk_gb=min(m.local_disk_gb for m in members),
        network_gbps=min(m.network_gbps for m in members),
        arch=launched.arch,
        core_speed=launched.core_speed,
        members=tuple(m.node_type_id for m in members),
        gpus=launched.gpus,
    )


_AWS_BY_ID = {n.node_type_id: n for n in _AWS}
_AWS_FLEETS = [_fleet(f, size, _AWS_BY_ID) for f in FLEETS for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge")]

NODE_TYPES: dict[str, NodeType] = {n.node_type_id: n for n in (*_AWS, *_AWS_FLEETS, *_AZURE)}


def instance_type_of(node_type_id: str) -> str:
    """The cloud instance type a node of ``node_type_id`` is launched as: a fleet's first member (the one the
    emulator's cloud always has), any other type itself. What EC2 and the bill name, not what Databricks does."""
    node = NODE_TYPES.get(node_type_id)
    return node.members[0] if node is not None and node.members else node_type_id


def get_node_type(node_type_id: str) -> NodeType:
    """The catalog entry for ``node_type_id``; raises UnknownNodeType if it is not listed."""
    try:
        return NODE_TYPES[node_type_id]
    except KeyError:
        raise UnknownNodeType(node_type_id) from None
