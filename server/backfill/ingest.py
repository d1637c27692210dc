"""Store backfilled events exactly as agent batches are stored.

The events go through the same steps as a batch arriving over gRPC: grouped
like the agent groups them (`agent.encode.group_events`),
validated and turned into rows by `server.ingest_wire.prepare_batch`, and committed by the
server's `IngestWriter`. Batch ids are derived from the application, so a
second backfill of the same logs resends the same batches and every event is
recognised as a duplicate (stored once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata

from agent import encode
from protos.trimtab.v1 import ingest_pb2
from server import ingest_wire
from server.ingest import IngestWriter
from server.store import Store

BACKFILL_AGENT_ID = "trimtab-backfill"
BATCH_EVENTS = 2000  # well under the server's max_events_per_batch (20 000)

try:
    _VERSION = metadata.version("trimtab")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0.0.0"


@dataclass(frozen=True)
class StoredApplication:
    application_id: str
    events: int
    stored_events: int
    duplicate_events: int

    @property
    def already_present(self) -> bool:
        return self.events > 0 and self.stored_events == 0


def application_id_of(events: Sequence[ingest_pb2.Event], fallback: str) -> str:
    return events[0].application_id if events else fallback


def batches_for(application_id: str, events: Sequence[ingest_pb2.Event],
                cluster_id: str = "") -> list[ingest_pb2.EventBatch]:
    """The agent-shaped batches for one application's events, with stable ids."""
    out = []
    for n, group in enumerate(encode.group_events(events, BATCH_EVENTS)):
        batch = encode.make_batch(f"backfill:{application_id}:{n}", group)
        batch.agent.CopyFrom(ingest_pb2.AgentInfo(agent_id=BACKFILL_AGENT_ID, version=_VERSION,
                                                  hostname="backfill", cluster_id=cluster_id))
        out.append(batch)
    return out


def store_application(writer: IngestWriter, application_id: str, events: Sequence[ingest_pb2.Event],
                      cluster_id: str = "", max_events: int = 20_000) -> StoredApplication:
    """Store one application's events; how many were new and how many already there."""
    stored = duplicates = 0
    for batch in batches_for(application_id, events, cluster_id):
        result = writer.submit(ingest_wire.prepare_batch(batch, max_events))
        stored += result.stored_events
        duplicates += result.duplicate_events
    return StoredApplication(application_id, len(events), stored, duplicates)


def open_writer(store: Store) -> IngestWriter:
    return IngestWriter(store)
