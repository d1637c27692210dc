"""The last refusal of each cluster's agent, so `trimtab run show` names it instead of guessing.

A refused agent's batches never reach the store, so a run collected without agent data said only
"its agent did not run, or its cluster ended while the server was away", both false when the token
was refused. The agent sends its cluster id (and Databricks' cluster name) as metadata on every
call (`agent.send.caller_metadata`), and the auth interceptor reads it before refusing.

Kept in this server process's memory, bounded (`MAX_CLUSTERS`, the oldest dropped first), not in
the store: a refused call is unauthenticated, so anyone can send one naming any cluster, and a
database write per refused call would give them a write path and a load lever; a refused agent
retries every half minute or so for its cluster's life, so a restarted server learns its refusal
again while the cluster runs. The cost is that a cluster that ended before a restart is not named
(`run show` then says that it may have been refused before the restart).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

# The metadata names the agent sends (`agent.send`; not imported: the server does not import the agent's sender).
CLUSTER_ID_KEY = "trimtab-cluster-id"
CLUSTER_NAME_KEY = "trimtab-cluster-name"
MAX_CLUSTERS = 10_000
# What a caller may put into a log line or a reply: anyone can send these values.
_MAX_CHARS = 128
# Databricks names a job cluster job-<job id>-run-<task run id>.
_JOB_CLUSTER = re.compile(r"job-(\d+)-run-(\d+)")

# Why a token was refused, by what the server could tell (`server.api.auth`): the store does not say
# more without confirming that a guessed id exists, and the reply to the agent says less.
MALFORMED = "malformed"
UNKNOWN = "unknown"
STORED = "stored"
REASONS = {
    MALFORMED: "its token is missing or not a Trimtab token (the workspace's agent-token secret holds something "
               "else)",
    UNKNOWN: "its token is unknown to this server's database (another Trimtab server's, or one made on another "
             "--state-dir/--db)",
    STORED: "its token {token_id} is revoked, or its secret part is wrong",
}
FIXES = {
    MALFORMED: "`trimtab workspace import {workspace} --take-over` writes a token of this server into the "
               "workspace's secret; the job's next run sends",
    UNKNOWN: "`trimtab workspace import {workspace} --take-over` writes a token of this server into the workspace's "
             "secret (beside another server meant to keep the workspace, give this one its own: "
             "TRIMTAB_AGENT_SECRET); the job's next run sends",
    STORED: "`trimtab workspace import {workspace}` writes a new agent token into the workspace's secret; the "
            "job's next run sends",
}


@dataclass(frozen=True)
class Caller:
    """The cluster an agent call says it comes from; empty fields when it did not say."""

    cluster_id: str = ""
    cluster_name: str = ""

    def describe(self) -> str:
        """For a log line: "cluster C of job 6 (job-6-run-12)", or "a caller that named no cluster"."""
        if not self.cluster_id:
            return "a caller that named no cluster"
        job = _JOB_CLUSTER.fullmatch(self.cluster_name)
        if job is not None:
            return f"cluster {self.cluster_id} of job {job.group(1)} ({self.cluster_name})"
        return f"cluster {self.cluster_id}" + (f" ({self.cluster_name})" if self.cluster_name else "")


def read_caller(metadata: tuple[tuple[str, str | bytes], ...]) -> Caller:
    """The caller's cluster from the call's metadata, cut and reduced to printable ASCII (it goes into logs)."""
    def value(key: str) -> str:
        raw = next((v for k, v in metadata if k == key), "")
        text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
        return "".join(c if " " <= c <= "~" else "?" for c in text.strip())[:_MAX_CHARS]

    return Caller(value(CLUSTER_ID_KEY), value(CLUSTER_NAME_KEY))


@dataclass(frozen=True)
class AgentRefusal:
    """The last refusal of one cluster's agent."""

    cluster_id: str
    kind: str  # MALFORMED | UNKNOWN | STORED
    at_ms: int
    token_id: str = ""  # STORED only: an id this database holds
    calls: int = 1  # refused calls from the cluster that this server process saw
    cluster_name: str = ""  # Databricks' (job-<job id>-run-<run id> for a job cluster), as the agent said

    @property
    def job_id(self) -> int | None:
        """The job of a job cluster, from its name."""
        job = _JOB_CLUSTER.fullmatch(self.cluster_name)
        return int(job.group(1)) if job is not None else None

    @property
    def reason(self) -> str:
        return REASONS[self.kind].format(token_id=self.token_id)

    def fix(self, workspace: str) -> str:
        return FIXES[self.kind].format(workspace=workspace or "<workspace>")


class AgentRefusals:
    """The last refusal per cluster id, at most ``limit`` clusters (least recently refused dropped)."""

    def __init__(self, limit: int = MAX_CLUSTERS) -> None:
        self._limit = limit
        self._by_cluster: OrderedDict[str, AgentRefusal] = OrderedDict()
        self._lock = threading.Lock()

    def note(self, caller: Caller, kind: str, at_ms: int, token_id: str = "") -> None:
        if not caller.cluster_id:
            return
        with self._lock:
            before = self._by_cluster.pop(caller.cluster_id, None)
            calls = before.calls + 1 if before is not None else 1
            self._by_cluster[caller.cluster_id] = AgentRefusal(caller.cluster_id, kind, at_ms, token_id, calls,
                                                               caller.cluster_name)
            while len(self._by_cluster) > self._limit:
                self._by_cluster.popitem(last=False)

    def accepted(self, caller: Caller) -> None:
        """The cluster's agent got through since (a token fixed on the node): its refusal no longer says why."""
        if caller.cluster_id and self._by_cluster:
            with self._lock:
                self._by_cluster.pop(caller.cluster_id, None)

    def get(self, cluster_id: str) -> AgentRefusal | None:
        if not cluster_id:
            return None
        with self._lock:
            return self._by_cluster.get(cluster_id)

    def latest(self) -> list[AgentRefusal]:
        """Every cluster's last refusal, the latest first."""
        with self._lock:
            return list(reversed(self._by_cluster.values()))


# The server process's record: its auth interceptor writes it, and `run show` and `workspace import`
# (`server.services.agent_secret_check`), which run in the same process, read it.
SHARED = AgentRefusals()
