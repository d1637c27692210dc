"""The OAuth M2M token sources of this process, one per workspace's service principal and secret.

A gateway is built for each use (each collector poll, each command), but a service principal's access
token lives about an hour: kept here, every gateway on the workspace shares one token, fetched once and
again only before it expires, instead of one OIDC discovery and one token request per use. Keyed by
(workspace, host, client id, SHA-256 of the secret): a workspace re-pointed at another host or given a
new secret misses, and storing its new source drops the old one (`M2MTokenSources.put`); removing the
workspace drops it too (`forget_workspace`). No databricks-sdk import here, so the services can drop a
workspace's source without importing the SDK; the sources themselves are built by
`server.databricks.client`.

Thread-safe: the collector's thread and the server's request threads share it.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

Key = tuple[str, str, str, str]


def source_key(workspace: str, host: str, client_id: str, secret: str) -> Key:
    """The key of a workspace's token source; the secret only as its hash, so the cache holds no copy of it."""
    return (workspace, host.rstrip("/"), client_id, hashlib.sha256(secret.encode()).hexdigest())


class M2MTokenSources:
    """Token sources by `source_key`; at most one per named workspace."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[Key, Any] = {}

    def get(self, key: Key) -> Any | None:
        with self._lock:
            return self._sources.get(key)

    def put(self, key: Key, source: Any) -> Any:
        """Keep ``source`` for ``key`` unless another thread kept one first; the one kept. A named
        workspace's other sources (its old host or secret) are dropped."""
        with self._lock:
            kept = self._sources.get(key)
            if kept is not None:
                return kept
            if key[0]:
                for old in [k for k in self._sources if k[0] == key[0]]:
                    del self._sources[old]
            self._sources[key] = source
            return source

    def forget_workspace(self, workspace: str) -> None:
        """Drop workspace ``workspace``'s source (removed, re-pointed, or given a new secret)."""
        with self._lock:
            for old in [k for k in self._sources if k[0] == workspace]:
                del self._sources[old]

    def __len__(self) -> int:
        with self._lock:
            return len(self._sources)


# The process's one cache: the collector and every servicer build their gateways in this process.
TOKEN_SOURCES = M2MTokenSources()


def forget_workspace(workspace: str) -> None:
    """Drop workspace ``workspace``'s OAuth token source (see `M2MTokenSources.forget_workspace`)."""
    TOKEN_SOURCES.forget_workspace(workspace)
