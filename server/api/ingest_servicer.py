"""IngestService: hand the batch to the writer, acknowledge after commit.

The batch's rows are made (and the batch validated) on the writer thread, not
here: see `IngestWriter.submit`.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from protos.trimtab.v1 import ingest_pb2, ingest_pb2_grpc
from server import ingest_wire, translate
from server.ingest import IngestWriter
from server.store import PreparedBatch


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, writer: IngestWriter, max_events_per_batch: int,
                 on_application_end: Callable[[str], None] | None = None) -> None:
        self._writer = writer
        self._on_application_end = on_application_end
        self._max_events = max_events_per_batch

    def SendBatch(self, request: ingest_pb2.EventBatch, context: grpc.ServicerContext) -> ingest_pb2.BatchAck:
        made: list[PreparedBatch] = []

        def rows() -> PreparedBatch:
            made.append(ingest_wire.prepare_batch(request, self._max_events))
            return made[0]

        # Without a deadline gRPC reports an enormous remaining time: wait without one.
        remaining = context.time_remaining()
        timeout = remaining if remaining is not None and remaining < 86_400 else None
        result = self._writer.submit(rows, timeout=timeout)
        # The events left out for their own content (the rest stored): the agent counts and logs them.
        ack = translate.ack_to_proto(result, made[0].dropped_events, made[0].drop_reason)
        if self._on_application_end is not None:
            # After the commit: the collector reads the application's data from the store.
            for application_id in made[0].ended_applications:
                self._on_application_end(application_id)
        return ack
