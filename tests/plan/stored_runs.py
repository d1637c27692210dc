"""A nightly run stored as the collector leaves it: its agent's events ingested, then the run itself."""

from __future__ import annotations

from collections.abc import Sequence

from server.domain import AgentInfo, IngestBatch, IngestEvent, Project, Run
from server.spec import config_from_spec


def store_run(store, project: Project, n: int, events: Sequence[IngestEvent]) -> Run:
    """Run ``n`` of ``project`` on its current cluster (day ``n``, 900 s, succeeded), its application
    ``ctx-<n>`` holding ``events``."""
    store.ingest.write([IngestBatch(batch_id=f"b{n}", agent=AgentInfo(agent_id="a", version="0", cluster_id="c"),
                                    events=tuple(events))])
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=n * 86_400_000,
                              end_ms=n * 86_400_000 + 900_000, runtime_s=900.0, outcome="succeeded",
                              config=config_from_spec(project.current_spec), application_ids=(f"ctx-{n}",)))
