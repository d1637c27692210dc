"""The store: the only package that imports SQLModel/SQLAlchemy.

    store = open_store("sqlite:////path/trimtab.db")   # or postgresql://...
    project = store.projects.add(Project(workspace="prod", job_id=12, cluster_key="main"))
    token, plaintext = store.tokens.create("ci", "admin")

Repositories (each returns `server.domain` objects and raises `server.errors`):
``workspaces``, ``projects``, ``runs``, ``applications`` (read side of agent
data), ``recommendations``, ``tokens``, ``ingest`` (the write side of agent
data) and ``retention`` (old runs' detail, a removed project's history). A
database that is down or locked raises `server.errors.Unavailable`.
"""

from __future__ import annotations

from server.store.convert import storable_text
from server.store.repos.ingest_rows import PreparedBatch
from server.store.store import Store, open_store

__all__ = ["PreparedBatch", "Store", "open_store", "storable_text"]
