"""IngestService: validate, hand to the writer, acknowledge after commit."""

from __future__ import annotations

import threading
from collections.abc import Callable

import grpc

from protos.trimtab.v1 import ingest_pb2, ingest_pb2_grpc
from server import ingest_wire, translate
from server.ingest import IngestWriter

# How many handler threads may translate batches (and build their rows) at
# once. That work is pure Python and holds the GIL: with dozens of agents, unbounded it starves the
# single writer thread (the GIL is shared round-robin) and throughput falls as
# agents are added. Two keeps both cores busy next to the writer.
TRANSLATE_CONCURRENCY = 2


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, writer: IngestWriter, max_events_per_batch: int,
                 on_application_end: Callable[[str], None] | None = None) -> None:
        self._writer = writer
        self._on_application_end = on_application_end
        self._max_events = max_events_per_batch
        self._translating = threading.BoundedSemaphore(TRANSLATE_CONCURRENCY)

    def SendBatch(self, request: ingest_pb2.EventBatch, context: grpc.ServicerContext) -> ingest_pb2.BatchAck:
        with self._translating:
            prepared = ingest_wire.prepare_batch(request, self._max_events)
        # Without a deadline gRPC reports an enormous remaining time: wait without one.
        remaining = context.time_remaining()
        timeout = remaining if remaining is not None and remaining < 86_400 else None
        ack = translate.ack_to_proto(self._writer.submit(prepared, timeout=timeout))
        if self._on_application_end is not None:
            # After the commit: the collector reads the application's data from the store.
            for application_id in prepared.ended_applications:
                self._on_application_end(application_id)
        return ack
