"""Turn one cluster's part of a Databricks run, plus the agent's data, into a `Run` (pure).

Inputs are what the collector fetched: the run piece (`ClusterRun`), the
cluster's events, the Spark applications the agent streamed from that cluster
(with their stages and executors) and the project's recent history. The
result is the run record the models learn from; nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.observation import NO_CAPACITY, REPAIRED, TIMEOUT
from server.collect.failure import FailureCause, classify_failure, no_capacity
from server.collect.own_script import own_script_message, trimtab_scripts
from server.collect.run_parse import ClusterRun
from server.collect.usage import ClusterTimeline
from server.costing.reconcile import BYTES_PER_GB
from server.domain import Application, Executor, Project, Run, Stage, started_before
from server.ids import parse_id
from server.memory_failure import OUT_OF_MEMORY, MemoryFailure, memory_failure, memory_message
from server.onboard import PROJECT_TAG, RECOMMENDATION_TAG
from server.plan.policy import kept_values
from server.render.fmt import cut
from server.spec import config_from_spec, pool_fields, pool_first_on_demand, spec_drift, with_pool_disks

# Input this much larger than the recent median is "data growth": runtime and
# cost moved for a reason that is not the configuration.
DATA_GROWTH_FACTOR = 1.5
SPOT_LOSS = "spot_loss"  # the anomaly of a run that lost nodes (explained, not learned)
DATA_GROWTH = "data_growth"
GROWTH_WINDOW = 5
# How Databricks words a run whose driver died: the driver stopped or stopped answering (often a
# full heap stuck in GC), the driver's own failure surfaced in the run's state message, or the
# job's Python process on the driver died (usually killed for memory: "Fatal error: The Python
# kernel is unresponsive."), which a bigger driver cures as well.
_DRIVER_FAILURE_MARKERS = (
    "spark driver has stopped unexpectedly",
    "driver is up but is not responsive",
    "could not reach driver",
    "driver was restarted",
    "python kernel is unresponsive",
)


# A run's message is kept to this many characters: Databricks' messages can carry a whole stack
# trace, and the user needs its first words, not a second log store.
MESSAGE_CHARS = 500


def run_message(piece: ClusterRun) -> str:
    """Databricks' words on why this piece did not succeed; "" for a succeeded one (its message,
    like "Task succeeded", is noise)."""
    if piece.outcome == "succeeded":
        return ""
    return cut(piece.state_message, MESSAGE_CHARS, on_word=True)


def _with_reason(message: str, reason: str) -> str:
    """The run's message, naming the cloud's or the service's reason when Databricks' words do not
    (the cluster record had it): the user sees why the run was not held against its configuration."""
    if not reason or reason.split(" ")[0] in message:
        return message
    return cut(f"{message} ({reason})" if message else reason, MESSAGE_CHARS, on_word=True)


def failure_cause(piece: ClusterRun, cluster: Mapping[str, Any] | None,
                  own_init_scripts: Sequence[Mapping[str, Any]] = ()) -> FailureCause | None:
    """Whose fault a failed piece is (`server.collect.failure`); None for a piece that did not fail.
    The cluster record is None for a piece that never got a cluster (`never_launched`).
    ``own_init_scripts``: Trimtab's init scripts on the cluster (`trimtab_scripts`)."""
    if piece.outcome != "failed":
        return None
    return classify_failure(piece.failed_tasks, (cluster or {}).get("termination_reason"), own_init_scripts)


def failed_run_message(piece: ClusterRun, cause: FailureCause | None, workspace: str,
                       spec: Mapping[str, Any], memory: MemoryFailure | None = None) -> str:
    """The run's message: Databricks' words, with the cloud's or the service's reason when they do not
    name it; when Trimtab's own init script failed the cluster, or the run ran out of memory, what
    failed and what to do first."""
    said = run_message(piece)
    if cause is not None and cause.own_init_script:
        return cut(own_script_message(cause.own_init_script, workspace, spec, piece.cluster_id, said),
                   MESSAGE_CHARS, on_word=True)
    if memory is not None:
        return cut(memory_message(memory, said), MESSAGE_CHARS, on_word=True)
    return _with_reason(said, cause.reason if cause and cause.transient else "")


def driver_died(piece: ClusterRun, timeline: ClusterTimeline) -> bool:
    """A failed run whose driver died: the run's message says so, or the cluster lost its driver."""
    if piece.outcome != "failed":
        return False
    text = piece.state_message.lower()
    return timeline.driver_unavailable or any(m in text for m in _DRIVER_FAILURE_MARKERS)


def failure_texts(state_message: str, failed_tasks: Sequence[Mapping[str, Any]], agent: AgentData) -> list[str]:
    """Every word on why a run failed: Databricks' (its state message, its failed tasks'), and Spark's as
    the agent sent them (stages' failure reasons, the reasons executors died)."""
    return [state_message, *(str(t.get("message") or "") for t in failed_tasks),
            *(s.failure_reason for s in agent.stages),
            *(e.removal_text for e in agent.executors if e.removal_reason in ("lost", "exited"))]


def ran_out_of_memory(piece: ClusterRun, cluster: Mapping[str, Any] | None, timeline: ClusterTimeline,
                      agent: AgentData, cause: FailureCause | None) -> MemoryFailure | None:
    """Whether a failed piece ran out of memory (`server.memory_failure`); None for one that did not fail,
    or whose failure was the cloud's or the service's."""
    if piece.outcome != "failed" or (cause is not None and cause.transient):
        return None
    code = str(((cluster or {}).get("termination_reason") or {}).get("code") or "")
    return memory_failure(failure_texts(piece.state_message, piece.failed_tasks, agent),
                          driver_died=driver_died(piece, timeline), nodes_lost=timeline.nodes_lost > 0,
                          cluster_code=code)


@dataclass(frozen=True)
class AgentData:
    """The agent's applications on one cluster, with their stages and executors."""

    applications: tuple[Application, ...] = ()
    stages: tuple[Stage, ...] = ()
    executors: tuple[Executor, ...] = ()

    @property
    def input_bytes(self) -> int | None:
        if not self.applications:
            return None  # no agent: unknown, not zero
        # A run's input size is what it read from storage. Spark also counts reads of a cached
        # dataset as input bytes, once per pass over it: an iterative job would report ten times its
        # data, and more on a cluster whose cache spills to disk, which looks like data growth.
        # A stage Spark ran again (a FetchFailed, a lost executor: attempt 1 of the same stage id)
        # re-reads only what was lost, or all of it: one stage's input is its largest attempt's, not
        # their sum, so a spot loss does not read as data growth.
        largest: dict[tuple[str, int], int] = {}
        for s in self.stages:
            if not s.input_from_cache:
                key = (s.application_id, s.stage_id)
                largest[key] = max(largest.get(key, 0), int(s.metrics.get("input_bytes", 0)))
        return sum(largest.values())

    @property
    def executors_lost(self) -> int:
        return sum(1 for e in self.executors if e.removal_reason == "lost")


def sent_for(app: Application, workspace: str) -> bool:
    """Whether ``app`` may be tied to a run of ``workspace``: its events came with that workspace's
    agent token, or with a token bound to none (an admin's, or an agent token made before tokens
    had a workspace or without one). A cluster id is no proof: anyone holding some agent token can
    send an application naming any cluster, and another workspace's must not feed these runs."""
    return app.workspace is None or app.workspace == workspace


def matching_applications(apps: Sequence[Application], piece: ClusterRun, workspace: str) -> list[Application]:
    """The applications of this cluster instance of ``workspace`` (same Spark context when both
    sides know it), sent for that workspace (`sent_for`)."""
    out = [a for a in apps if a.cluster_id == piece.cluster_id and sent_for(a, workspace)]
    if piece.spark_context_id:
        exact = [a for a in out if a.spark_context_id == piece.spark_context_id]
        out = exact or [a for a in out if not a.spark_context_id]
    return out


@dataclass(frozen=True)
class Expected:
    """What Trimtab expected this run to use, and which recommendation that was."""

    spec: dict[str, Any]
    recommendation_id: int | None
    confirms_apply: bool = False
    notes: list[str] = field(default_factory=list)


def expected_spec(project: Project, piece: ClusterRun) -> Expected:
    """The spec Trimtab last wrote for this cluster as of the run's start.

    A run that started before the latest apply (its id is not above the newest
    run id seen at apply time) still used the spec before it, so it is compared
    with that one: else every apply would look like a user edit.
    """
    pending = project.pending_apply or {}
    if pending and pending.get("applied_spec") is not None:
        applied_after = int(pending.get("applied_after_run_id") or 0)
        ran, ran_rec = started_before(pending)
        if piece.run_id <= applied_after and ran is not None:
            return Expected(ran, ran_rec)
        rec = pending.get("recommendation_id")
        return Expected(dict(pending["applied_spec"]), int(rec) if rec is not None else None,
                        confirms_apply=not pending.get("confirmed", False))
    return Expected(dict(project.current_spec), None)


def own_recommendation_tag(project: Project, spec: Mapping[str, Any]) -> int | None:
    """The recommendation the cluster's ``trimtab:recommendation-id`` tag names, when it can be
    ``project``'s own; None otherwise (the run then counts as Trimtab expected it: as found, for a
    project nothing was applied to).

    A copy of another project's cluster (Databricks' "Clone job" copies the cluster entry whole) carries
    that project's tag: credited to it, the copy's runs read as another project's recommendation, and
    the copy had no run as found for savings to compare with. Not this project's, so not trusted:
    - a tag beside a ``trimtab:project-id`` naming another project (the entry was copied in whole);
    - the tag the cluster already carried when the project was imported (``original_spec``): a
      project's recommendations are planned after its import, so that one is another project's (an
      import before clones were recognised kept it on the cluster, and on the spec as found).
    Pure (no store here): these are the two ways a tag Trimtab did not write for this project gets on
    its cluster; import takes a copy's tags off (`server.services.job_owner.as_found`)."""
    tags = spec.get("custom_tags") or {}
    value = str(tags.get(RECOMMENDATION_TAG, "")) if isinstance(tags, Mapping) else ""
    # A hand-set value past a row id names no recommendation: kept, it made the run unstorable.
    number = parse_id(value)
    if number is None:
        return None
    owner = str(tags.get(PROJECT_TAG, "")).strip()
    if owner and project.id is not None and owner != str(project.id):
        return None
    found = project.original_spec.get("custom_tags") or {}
    if isinstance(found, Mapping) and str(found.get(RECOMMENDATION_TAG, "")) == value:
        return None
    return number


def data_grew(input_bytes: int | None, history: Sequence[Run]) -> bool:
    """The run read more than `DATA_GROWTH_FACTOR` x the recent median input. Runs that lost spot
    nodes are no reference: their input counts the partitions recomputed after the loss (a review
    measured 1.2-1.5x the data on such runs).

    The reference starts again at the latest run of ``history`` marked ``data_growth``: the input
    grew there, and from it on the new size is the normal. Against the median of the last
    `GROWTH_WINDOW` inputs, one 3x shift was marked on three runs (the first two after it still
    saw the old size as the median)."""
    grew_at = max((i for i, r in enumerate(history) if DATA_GROWTH in r.anomalies), default=0)
    previous = [r.input_bytes for r in history[grew_at:] if r.input_bytes and SPOT_LOSS not in r.anomalies]
    if input_bytes is None or not previous:
        return False
    return input_bytes > DATA_GROWTH_FACTOR * statistics.median(previous[-GROWTH_WINDOW:])


def setup_seconds(piece: ClusterRun) -> float | None:
    """The run's cluster setup in seconds, kept only when it fits inside the run's runtime.

    The runtime spans setup, execution and cleanup, so a setup outside [0, runtime] was
    mis-reported; learned from, it would move runtime between the cloud's share and the
    configuration's, so it is taken as unknown instead.
    """
    if piece.setup_ms is None:
        return None
    setup_s = piece.setup_ms / 1000.0
    return setup_s if 0.0 <= setup_s <= piece.runtime_s else None


def wait_seconds(piece: ClusterRun) -> float:
    """The time the run's cluster sat idle between its tasks (`ClusterRun.wait_ms`), in seconds; 0
    when it does not fit in the runtime after the setup (clocks that disagree), like a setup outside
    the runtime: learned from, it would take execution away from the configuration."""
    wait_s = piece.wait_ms / 1000.0
    return wait_s if 0.0 <= wait_s <= piece.runtime_s - (setup_seconds(piece) or 0.0) else 0.0


# What the cluster record (clusters/get) says of a spec's availability the spec leaves unset.
_AS_RUN_ATTRIBUTES = ("availability", "first_on_demand")
# What the cluster record says of the node types a spec naming no pool leaves out (its cluster policy
# filled them in: a fixed value, or a default the spec asks for).
_AS_RUN_NODE_TYPES = ("node_type_id", "driver_node_type_id")
# What the cluster record says of the runtime a spec leaves to its cluster policy: a policy fixing
# ``runtime_engine: PHOTON`` runs (and bills) the cluster under the Photon SKU, 2.9x the DBUs on AWS.
_AS_RUN_RUNTIME = ("spark_version", "runtime_engine")


def with_pool_node_types(spec: Mapping[str, Any], cluster: Mapping[str, Any] | None,
                         pools: Mapping[str, Mapping[str, Any]] | None = None, *,
                         policy_values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``spec`` as the run got it: a pool-backed spec names pools, not node types (Databricks refuses
    both), and the cluster record (``clusters/get``) carries the node types and the instances'
    availability the pools gave it. The run is costed and recorded on those; drift is still judged
    on the spec as the user wrote it.

    Off a pool, what the spec leaves out is the cluster record's when it has it: Databricks fills in
    what the cluster ran with. The node types and the sizing (``num_workers``, or ``autoscale``) a
    cluster policy supplies (a fixed value, or a default the spec asks for), which the job's spec and
    the record's own ``spec`` (the user's settings) do not carry: without them the run was priced on
    node type '' (not at all) and learned under a configuration of no node type, apart from the same
    cluster written out. The runtime and its engine (``runtime_engine``, ``spark_version``), pooled or
    not: a policy fixing Photon bills the Photon SKU, and the run priced as standard was 45% low. And
    an availability (or ``first_on_demand``): its backend default, which
    "could change in the future", or a policy's fixed value, which beats the cloud's default Trimtab
    assumes without it (`server.spec.default_availability`). A value the spec sets is kept.

    ``pools``: the pools the spec names (``instance-pools/get`` by id), for costing: every instance of
    a pool carries the EBS volumes of the pool's ``disk_spec``, entered as the cluster's
    ``ebs_volume_*`` (`with_pool_disks`). Without them a pool-backed run's volumes are not priced.

    ``policy_values``: what the spec's cluster policy fills in (`policy_fallback`), read only when the
    record is gone (purged 30 days after the cluster ended), where nothing else says what ran."""
    if not cluster:
        return _with_policy_values(with_pool_disks(spec, pools), policy_values or {})
    if not pool_fields(spec):
        return _with_record_fills(spec, cluster)
    out = _with_record_runtime(with_pool_disks(spec, pools), cluster)
    for key in _AS_RUN_NODE_TYPES:
        if cluster.get(key) and not out.get(key):
            out[key] = cluster[key]
    for attrs in ("aws_attributes", "azure_attributes"):
        availability = (cluster.get(attrs) or {}).get("availability")
        if availability:
            out[attrs] = {**(out.get(attrs) or {}), "availability": availability}
            # Whether the driver was spot, as its pool gave it (`server.spec.pool_first_on_demand`):
            # recorded so the run's timeline and configuration read it without the pools.
            on_demand = pool_first_on_demand(out, pools)
            if on_demand is not None:
                out[attrs]["first_on_demand"] = on_demand
    return out


def policy_fallback(project: Project, spec: Mapping[str, Any],
                    cluster: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What ``spec``'s cluster policy fills in, as the project keeps it (the planner's last read of the
    policy, `server.plan.policy.kept_values`), for a run whose cluster record is gone; None while the
    record is there (it says what ran, whatever the policy says now) or without a kept policy."""
    return None if cluster else kept_values(project.state, spec)


def _with_policy_values(spec: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` with ``values`` (flattened paths the spec leaves out: `ClusterPolicy.filled_values`)
    set in it, as Databricks creates the cluster. A pool supplies the node types, and the spec's own
    sizing shape keeps the other one out (Databricks refuses both); an autoscale range the policy fills
    in beats its ``num_workers``, as `server.spec.config_from_spec` reads them."""
    if not values:
        return spec
    out = dict(spec)
    sized = out.get("autoscale") or out.get("num_workers") is not None
    ranged = any(path.startswith("autoscale.") for path in values)
    for path, value in values.items():
        head, _, leaf = path.partition(".")
        if value is None or (head in ("node_type_id", "driver_node_type_id") and pool_fields(out)) or \
                (head in ("num_workers", "autoscale") and sized) or (head == "num_workers" and ranged):
            continue
        if not leaf:
            if out.get(head) is None:
                out[head] = value
        elif (out.get(head) or {}).get(leaf) is None:
            out[head] = {**(out.get(head) or {}), leaf: value}
    return out


def _with_record_runtime(spec: dict[str, Any], cluster: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` with the runtime and engine it leaves out read from the cluster record (`_AS_RUN_RUNTIME`)."""
    for key in _AS_RUN_RUNTIME:
        if not spec.get(key) and cluster.get(key):
            spec[key] = cluster[key]
    return spec


def _with_record_fills(spec: Mapping[str, Any], cluster: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` (naming no pool) with what it leaves out read from the cluster record (`with_pool_node_types`)."""
    out = _with_record_runtime(dict(spec), cluster)
    for key in _AS_RUN_NODE_TYPES:
        if not out.get(key) and cluster.get(key):
            out[key] = cluster[key]
    if out.get("num_workers") is None and not out.get("autoscale"):
        # The record of an autoscaling cluster has its range and its current ``num_workers`` too: the
        # range is the sizing. An explicit num_workers 0 (single node) is the spec's, kept.
        if cluster.get("autoscale"):
            out["autoscale"] = dict(cluster["autoscale"])
        elif cluster.get("num_workers") is not None:
            out["num_workers"] = cluster["num_workers"]
    for block in ("aws_attributes", "azure_attributes"):
        record = cluster.get(block) or {}
        own = dict(out.get(block) or {})
        filled = {k: record[k] for k in _AS_RUN_ATTRIBUTES if own.get(k) in (None, "") and record.get(k) not in (None, "")}
        if filled:
            out[block] = {**own, **filled}
    return out


def build_run(project: Project, piece: ClusterRun, *, cluster: Mapping[str, Any] | None,
              timeline: ClusterTimeline, agent: AgentData, history: Sequence[Run],
              expected: Expected, cloud: str = "") -> tuple[Run, list[str]]:
    """The run record, and the spec paths the user changed outside Trimtab (empty: none). ``cloud``:
    the workspace's; the run's configuration reads an availability its spec leaves unset as the one
    Databricks ran it with there (`server.spec.config_from_spec`), as its cost does."""
    spec = piece.spec or dict((cluster or {}).get("spec") or {})
    drift = spec_drift(spec, expected.spec) if expected.spec else []
    anomalies: list[str] = []
    cause = failure_cause(piece, cluster, trimtab_scripts(project, spec))
    transient = cause is not None and cause.transient
    memory = ran_out_of_memory(piece, cluster, timeline, agent, cause)
    # Executors killed for memory are lost to Spark as a reclaimed node's are; only the cluster's own
    # NODES_LOST then says a node went (a spot loss explains a run away: this one is the configuration's).
    if timeline.nodes_lost or (agent.executors_lost and not (memory is not None and memory.where == "executors")):
        anomalies.append(SPOT_LOSS)
    if piece.outcome == "failed":
        anomalies.append("failure")  # kept: the timeline, the terminal and observe.py read it
    elif piece.outcome == "timed_out":
        # The job's timeout stopped it: a runtime known from below, the configuration too slow for the
        # job (`models.segment._overran`), not a failure of unknown cause.
        anomalies.append(TIMEOUT)
    if transient:
        # The cloud or the service failed the cluster (no capacity, a reclaimed instance, a
        # limit, an outage), it could not read its secrets, or Trimtab's own init script failed:
        # explained, and the configuration is not avoided for it.
        anomalies.append("launch_failed")
        if no_capacity(cause):
            anomalies.append(NO_CAPACITY)  # only this says the instance type itself would not launch
    elif driver_died(piece, timeline) or (memory is not None and memory.where == "driver"):
        # The driver is sized up; the workers are not blamed. Not when the cloud took the driver
        # (a reclaimed spot driver): a bigger one would have been lost the same way.
        anomalies.append("driver_lost")
    if memory is not None:
        anomalies.append(OUT_OF_MEMORY)
    if piece.retried_attempts:
        # A task failed and its retry succeeded: the run's time holds both attempts, so it says
        # little of what the configuration takes (explained, not learned: models/observation.py).
        anomalies.append("retried")
    if drift:
        anomalies.append("user_edit")
    input_bytes = agent.input_bytes
    # A run that lost nodes read its lost partitions twice: its input is not the data's size.
    if SPOT_LOSS not in anomalies and data_grew(input_bytes, history):
        anomalies.append(DATA_GROWTH)
    rec_id = expected.recommendation_id
    tagged = own_recommendation_tag(project, spec)
    # The tag on the cluster is the exact attribution, but for the tag Trimtab's record expects beside
    # another recommendation: an edit outside Trimtab to that one left an earlier apply's tag there
    # (`server.apply_record.adopt_owner_edit`).
    if tagged is not None and (tagged == rec_id or rec_id is None
                               or own_recommendation_tag(project, expected.spec) != tagged):
        rec_id = tagged
    run = Run(
        project_id=int(project.id or 0), databricks_run_id=piece.run_id, cluster_id=piece.cluster_id,
        start_ms=piece.start_ms, end_ms=piece.end_ms, runtime_s=piece.runtime_s, outcome=piece.outcome,
        config=config_from_spec(with_pool_node_types(spec, cluster, policy_values=policy_fallback(project, spec, cluster)),
                                cloud=cloud), input_bytes=input_bytes,
        anomalies=tuple(anomalies),
        application_ids=tuple(a.application_id for a in agent.applications),
        recommendation_id=rec_id, phase=project.phase, setup_s=setup_seconds(piece), wait_s=wait_seconds(piece),
        message=failed_run_message(piece, cause, project.workspace, spec, memory), peak_workers=timeline.peak_workers,
        sla_s=project.settings.sla_seconds, nodes_lost=timeline.lost_count,
        nodes_replaced=None if timeline.lost_count is None else timeline.nodes_replaced)
    return run, drift


def with_agent_data(run: Run, agent: AgentData, history: Sequence[Run]) -> Run:
    """``run`` with what its applications' data decides recomputed from ``agent`` (all of the run's
    applications, as stored now): the input size, ``spot_loss`` for an executor lost, ``data_growth``
    against ``history`` (the project's runs before it, oldest first) and the cost per input GB.

    For a run whose agent data landed after its collection (the agent's last flush). Everything else
    is kept: a spot loss the cluster's events showed stays, as do the outcome and the cost. A repaired
    run's input and cost are its first attempt's and its clusters' sum (`Collector._repaired`), so only
    its spot loss is added."""
    anomalies = list(run.anomalies)
    message = run.message
    if run.outcome == "failed" and OUT_OF_MEMORY not in anomalies and "launch_failed" not in anomalies:
        # The agent's words may say what Databricks' did not (a stage's OutOfMemoryError, an executor's
        # exit code 137). A spot loss seen then came from the cluster's NODES_LOST, or no executor was lost.
        memory = memory_failure(failure_texts(run.message, (), agent), driver_died="driver_lost" in anomalies,
                                nodes_lost=SPOT_LOSS in anomalies)
        if memory is not None:
            anomalies.append(OUT_OF_MEMORY)
            message = cut(memory_message(memory, run.message), MESSAGE_CHARS, on_word=True)
    executors_oom = OUT_OF_MEMORY in anomalies and "driver_lost" not in anomalies
    if agent.executors_lost and SPOT_LOSS not in anomalies and not executors_oom:
        anomalies.append(SPOT_LOSS)
    if REPAIRED in anomalies:
        return dataclasses.replace(run, anomalies=tuple(anomalies), message=message)
    input_bytes = agent.input_bytes
    grew = SPOT_LOSS not in anomalies and data_grew(input_bytes, history)
    if grew and DATA_GROWTH not in anomalies:
        anomalies.append(DATA_GROWTH)
    elif not grew and DATA_GROWTH in anomalies:
        anomalies.remove(DATA_GROWTH)
    cost = run.cost
    if cost is not None:
        cost = dataclasses.replace(cost, cost_per_input_gb=cost.total / (input_bytes / BYTES_PER_GB)
                                   if input_bytes else None)
    return dataclasses.replace(run, input_bytes=input_bytes, anomalies=tuple(anomalies), cost=cost, message=message)
