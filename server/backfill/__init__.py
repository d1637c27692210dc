"""Backfill: import past runs of a project from delivered Databricks event logs.

    report = backfill(store, "sbx/12/main", "/logs" | "dbfs:/cluster-logs", engine="local")

Discovery (`discover`) finds applications in a cluster-log tree; parsing
(`parse`) runs the agent's own follower, parser and encoder over each one, so
the events are exactly what the agent would have sent; engines (`engines`)
spread that over a process pool or Spark; `ingest` stores the events through
the server's ingest path and `runs` turns applications into the project's runs, sized and priced by `usage`.
"""

from server.backfill.service import BackfillReport, backfill

__all__ = ["BackfillReport", "backfill"]
