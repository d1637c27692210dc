"""Copy a DBFS cluster-log tree to local disk, so it is read like a local one.

Only what backfill reads is copied: files named ``eventlog`` or
``eventlog-...`` (the driver and executor logs next to them are skipped). Each file
lands at its whole DBFS path under the destination (``dbfs:/a/b/eventlog`` →
``<dest>/a/b/eventlog``), so the directories above the path given (the
application's ``<spark-context-id>/``, its ``<cluster-id>_<driver-ip>/``) keep their
names: they are the application's id and its cluster.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from server.databricks import DatabricksGateway
from server.errors import InvalidArgument

SCHEME = "dbfs:"


def is_dbfs(location: str) -> bool:
    return location.startswith(SCHEME)


def dbfs_path(location: str) -> str:
    """``dbfs:/a/b/`` → ``/a/b`` (what the DBFS API takes)."""
    path = location[len(SCHEME):] if is_dbfs(location) else location
    if not path.startswith("/"):
        raise InvalidArgument(f"{location}: a DBFS path must be absolute (dbfs:/...)")
    return posixpath.normpath(path)


def download_event_logs(gateway: DatabricksGateway, location: str, dest: Path) -> int:
    """Mirror the event-log files under ``location`` (a directory or one file) into ``dest`` at their
    whole DBFS paths; how many files were copied."""
    root = dbfs_path(location)
    copied = 0
    stack = [root]
    while stack:
        current = stack.pop()
        for entry in gateway.list_dbfs(current):
            path = posixpath.normpath(str(entry.get("path") or ""))
            if entry.get("is_dir"):
                if path != current:
                    stack.append(path)
                continue
            name = posixpath.basename(path)
            if name != "eventlog" and not name.startswith("eventlog-"):
                continue
            target = dest.joinpath(*[p for p in path.split("/") if p not in ("", ".", "..")])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(gateway.read_dbfs(path))
            copied += 1
    return copied
