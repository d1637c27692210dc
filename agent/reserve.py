"""Free space the spool leaves on its disk for the driver (Spark's event log, log4j, notebook output).

The spool lives on the driver's own disk (``/databricks/trimtab/state``). Bounded only by
``TRIMTAB_AGENT_SPOOL_BYTES`` it filled a small disk to its last page while the server was away,
and the driver's own writes failed with ENOSPC: a telemetry agent must never be what breaks the
job. So before each write the spool checks the file system's free space and keeps a reserve free.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class FsStats(Protocol):
    """The fields of ``os.statvfs_result`` the reserve reads (a test passes its own)."""

    @property
    def f_frsize(self) -> int: ...

    @property
    def f_blocks(self) -> int: ...

    @property
    def f_bavail(self) -> int: ...


StatFs = Callable[[str], FsStats]

# On a small disk (a test's tmpfs, a tiny root volume) 1 GiB could be most or all of it, and a spool
# confined to nothing drops every batch: the reserve is never more than this share of the disk.
MAX_SHARE = 0.10


@dataclass(frozen=True)
class DiskReserve:
    """``min_bytes`` or ``percent`` of the disk, whichever is more, but at most ``MAX_SHARE`` of it."""

    min_bytes: int = 1 << 30
    percent: float = 5.0

    def bytes_for(self, disk_bytes: int) -> int:
        wanted = max(self.min_bytes, int(disk_bytes * self.percent / 100))
        return min(wanted, int(disk_bytes * MAX_SHARE))

    @property
    def off(self) -> bool:
        return self.min_bytes <= 0 and self.percent <= 0


@dataclass(frozen=True)
class Space:
    """One look at the spool's file system: bytes free to us, its size, and its allocation unit."""

    free: int
    total: int
    block: int

    def on_disk(self, size: int) -> int:
        """What a file of ``size`` bytes takes on this file system (whole blocks)."""
        return -(-size // self.block) * self.block


def look(statvfs: StatFs, path: str) -> Space:
    st = statvfs(path)
    block = st.f_frsize or 4096
    # f_bavail, not f_bfree: what an unprivileged writer (Spark, the notebook) can still use.
    return Space(free=st.f_bavail * block, total=st.f_blocks * block, block=block)


def system_statvfs(path: str) -> FsStats:
    return os.statvfs(path)
