"""IngestService: hand the batch to the writer, acknowledge after commit.

The batch's rows are made (and the batch validated) on the writer thread, not
here: see `IngestWriter.submit`. The batch carries the workspace of the token
that sent it (`server.api.auth.calling_token`): the store records it on the
applications the batch starts, and refuses the events of an application another workspace's token
sent first (`IngestRepository.write`) while storing the batch's other applications; the
acknowledgement names the refused ones (``BatchAck.refused_applications``) and the servicer logs
them. A batch reporting an agent id another workspace's token reported first is stored, but leaves
that agent's status row alone; the servicer logs it.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable

import grpc

from protos.trimtab.v1 import ingest_pb2, ingest_pb2_grpc
from server import ingest_wire, translate
from server.api.auth import AGENT_REFUSAL_LOG_SECONDS, calling_token
from server.domain import ApiToken, RefusedApplication
from server.errors import shown
from server.ids import MAX_DATABRICKS_ID, parse_id
from server.ingest import IngestWriter
from server.log_context import LogFields, log_context
from server.store import PreparedBatch

log = logging.getLogger(__name__)


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, writer: IngestWriter, max_events_per_batch: int,
                 on_application_end: Callable[[str], None] | None = None) -> None:
        self._writer = writer
        self._on_application_end = on_application_end
        self._max_events = max_events_per_batch
        self._lock = threading.Lock()
        # (what, token id[, agent id]) -> monotonic time it may be logged again
        self._refusals: dict[tuple[str, ...], float] = {}

    def SendBatch(self, request: ingest_pb2.EventBatch, context: grpc.ServicerContext) -> ingest_pb2.BatchAck:
        token = calling_token()
        workspace = token.workspace if token is not None else None
        with log_context(workspace=workspace, **started_run(request)):
            return self._send(request, context, token, workspace)

    def _send(self, request: ingest_pb2.EventBatch, context: grpc.ServicerContext, token: ApiToken | None,
              workspace: str | None) -> ingest_pb2.BatchAck:
        made: list[PreparedBatch] = []

        def rows() -> PreparedBatch:
            made.append(ingest_wire.prepare_batch(request, self._max_events))
            return dataclasses.replace(made[0], workspace=workspace) if workspace is not None else made[0]

        # Without a deadline gRPC reports an enormous remaining time: wait without one.
        remaining = context.time_remaining()
        timeout = remaining if remaining is not None and remaining < 86_400 else None
        # The rows are made on the writer thread, which has a context of its own: the batch's log
        # lines there (events left out) carry this call's fields only when run in a copy of its context.
        result = self._writer.submit(functools.partial(contextvars.copy_context().run, rows), timeout=timeout)
        if result.refused_applications:
            self._note_refused(token, request, result.refused_applications)
        # The events left out for their own content (the rest stored): the agent counts and logs them.
        if result.agent_status_skipped:
            self._note_agent_kept(token, request)
        ack = translate.ack_to_proto(result, made[0].dropped_events, made[0].drop_reason)
        if self._on_application_end is not None:
            # After the commit: the collector reads the application's data from the store.
            refused = {r.application_id for r in result.refused_applications}
            for application_id in made[0].ended_applications:
                if application_id not in refused:  # not stored: nothing of it to collect
                    self._on_application_end(application_id)
        return ack

    def _due(self, key: tuple[str, ...]) -> bool:
        """Whether the line `key` stands for may be logged now (then not again for
        `AGENT_REFUSAL_LOG_SECONDS`: its agent goes on sending)."""
        now = time.monotonic()
        with self._lock:
            if self._refusals.get(key, float("-inf")) > now:
                return False
            if len(self._refusals) > 10_000:
                self._refusals.clear()
            self._refusals[key] = now + AGENT_REFUSAL_LOG_SECONDS
        return True

    def _note_refused(self, token: ApiToken | None, request: ingest_pb2.EventBatch,
                      refused: tuple[RefusedApplication, ...]) -> None:
        """One WARNING per token per `AGENT_REFUSAL_LOG_SECONDS` (its agent goes on reading the
        application, and each later batch of it is refused too): a workspace's agent token was used
        for another workspace's application, a misconfigured agent or a forgery, which the operator
        should look at. An agent older than ``BatchAck.refused_applications`` says nothing of it."""
        token_id = token.token_id if token is not None else "(none)"
        if not self._due(("refused", token_id)):
            return
        more = f" (and {len(refused) - 1} more application(s))" if len(refused) > 1 else ""
        log.warning("batch %s of agent %s (cluster %s): %d event(s) refused for token %s, the batch's other "
                    "applications stored: %s%s", request.batch_id[:80], request.agent.agent_id[:80],
                    request.agent.cluster_id[:80], sum(r.events for r in refused), token_id, refused[0].reason,
                    more)

    def _note_agent_kept(self, token: ApiToken | None, request: ingest_pb2.EventBatch) -> None:
        """One WARNING per token and agent id per `AGENT_REFUSAL_LOG_SECONDS`: a token bound to one
        workspace reported an agent id another workspace's token reported first. Its batch was
        stored (as any other); only that agent's status (`trimtab agent list`) was left as it was.
        Two clusters sharing a state directory, or a token used to forge another agent's status."""
        token_id = token.token_id if token is not None else "(none)"
        if not self._due(("agent", token_id, request.agent.agent_id[:200])):
            return
        # repr'd (`shown`): both come from the sender, and must not make lines of their own.
        log.warning("agent %s (cluster %s) reported under token %s, bound to another workspace than the one "
                    "whose token first reported it: its batch was stored, its status in `trimtab agent list` "
                    "left as that workspace's agent last reported it", shown(request.agent.agent_id),
                    shown(request.agent.cluster_id), token_id)


def started_run(request: ingest_pb2.EventBatch) -> LogFields:
    """The Databricks job and run the batch's application says it runs for (`log_context`'s ``job_id``
    and ``run_id``), when its first event starts the application: the agent holds an application's
    events until its start, so that is the batch a cluster's application opens with. Later batches
    name no run; looking the application up in the store would cost every batch a read, and reading
    every event of a batch for a start it rarely holds costs as much as a few percent of its rows."""
    fields = LogFields()
    if not request.events or not request.events[0].HasField("application_start"):
        return fields
    start = request.events[0].application_start
    # Ids as the collector's lines give them (numbers), and only what is one: the agent sends text.
    job_id, run_id = parse_id(start.job_id, MAX_DATABRICKS_ID), parse_id(start.run_id, MAX_DATABRICKS_ID)
    if job_id is not None:
        fields["job_id"] = job_id
    if run_id is not None:
        fields["run_id"] = run_id
    return fields
