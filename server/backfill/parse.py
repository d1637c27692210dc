"""One application's event log → the protobuf events the agent would send for it.

This is the agent's own code path (`agent.follow` reads the segments in order
and decodes gzip, `agent.parse` makes plain events, `agent.encode` makes
protobuf), driven to the end of the log at once instead of followed over time.
It imports only ``agent`` and ``protos`` so a Spark executor can run it with
nothing but the agent installed.
"""

from __future__ import annotations

from pathlib import Path

from agent import encode
from agent.follow.app import AppFollower, ReadCounters
from agent.follow.discover import AppSource, SegmentLister
from protos.trimtab.v1 import ingest_pb2

# The agent's defaults (agent/config.py): a line longer than this is skipped and counted, as there.
MAX_LINE_BYTES = 16 * 1024 * 1024
READ_BUDGET_BYTES = 64 * 1024 * 1024


def application_source(app_dir: Path) -> AppSource:
    """The agent's description of a Databricks ``<spark-context-id>/`` directory (see agent discover)."""
    name = app_dir.name
    return AppSource("databricks:" + name, "databricks", app_dir, application_id=name, fallback_id=name)


def parse_application(app_dir: Path, event_log_path: str = "") -> list[ingest_pb2.Event]:
    """Every event of the application in ``app_dir``, encoded as the agent encodes them.

    ``event_log_path`` is where the log really lives (``dbfs:/...`` when it was
    downloaded to a temporary directory first); empty means ``app_dir`` itself,
    which is what the agent reports when it follows the same directory.
    """
    follower = AppFollower(application_source(app_dir), SegmentLister(), ReadCounters(), MAX_LINE_BYTES)
    if event_log_path:
        follower.parser.info["event_log_path"] = event_log_path
    plain = []
    try:
        while not follower.finished:
            before = (follower.pos.order, follower.pos.out) if follower.pos else None
            got = follower.poll(READ_BUDGET_BYTES)
            plain.extend(got)
            after = (follower.pos.order, follower.pos.out) if follower.pos else None
            if not got and before == after:
                # The end of a log without ApplicationEnd (the driver died): history is final,
                # so flush what the parser holds back, as the agent does when a log ends.
                plain.extend(follower.parser.finish())
                break
    finally:
        follower.close()
    return [encode.encode_event(e) for e in plain]


def parse_application_bytes(app_dir: str, event_log_path: str = "") -> list[bytes]:
    """`parse_application` with plain arguments and serialized results (for worker processes and Spark)."""
    return [e.SerializeToString() for e in parse_application(Path(app_dir), event_log_path)]
