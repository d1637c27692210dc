"""Repairs of runs already collected: each poll reads again the failed or canceled runs of the last
7 days (a few per project, more often in a failure's first hour) and updates one a ``runs/repair``
re-ran: its time and cost over every cluster, ``repaired``, and its outcome when the repair ran on
the run's configuration (see `server.collect.collector`'s module doc).

Split from `server.collect.collector`: `Repairs` is one of `Collector`'s parts (its methods read
the collector's state), and `server.collect.collector` re-exports the constants.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from models.observation import OUT_OF_MEMORY, REPAIRED, REPAIRED_ELSEWHERE
from server.apply import project_lock, rebase
from server.clock import Clock
from server.collect.build import MESSAGE_CHARS, AgentData, Expected, build_run, with_pool_node_types
from server.collect.cluster_reads import _run_or_none
from server.collect.pricing import _summed
from server.collect.run_notes import (
    _joined,
    _with_retries,
    unpriced_reason,
    with_unpriced_note,
    without_unpriced_note,
)
from server.collect.run_parse import REPAIRABLE_OUTCOMES, ClusterRun, cluster_runs, is_finished, repair_count
from server.collect.usage import ClusterTimeline, cluster_timeline
from server.databricks import DatabricksGateway
from server.databricks.call_stop import calls_run_through
from server.domain import CostBreakdown, Project, Run, Workspace, started_before
from server.render.fmt import cut
from server.spec import config_from_spec, config_label, spec_drift
from server.store import Store

log = logging.getLogger("server.collect.collector")  # the collector's log: its lines, its name

# A failed or canceled run may be repaired later (``runs/repair`` re-runs its unsuccessful tasks as part
# of the same run, which keeps its run_id, so the cursor never lists it again). Each poll reads again,
# with ``runs/get``, the runs collected as failed or canceled this recently, at most this many per project (newest first): one call per
# such run per poll, bounded. A repair seen there updates the stored run (`Collector._repaired`).
REPAIR_WINDOW_MS = 7 * 24 * 3600 * 1000
REPAIR_RECHECK_RUNS = 5
REPAIR_EAGER_MS = 3600 * 1000          # re-read at every poll in a failed run's first hour
REPAIR_RECHECK_LATER_MS = 30 * 60 * 1000  # then at most every 30 minutes
# What a run's first attempt showed that a repair on its configuration does not undo: a spot loss, a
# growth and a user edit (savings and the edit hold read user_edit) explain the run's time and cost.
KEPT_FROM_FIRST_ATTEMPT = ("spot_loss", "data_growth", "user_edit")


class Repairs:
    """`Collector`'s look for repairs of the runs it stored (mixed into `Collector`)."""

    _store: Store
    _clock: Clock
    # (workspace, job id) -> its failed runs (Databricks run id) -> when to re-read each for a repair (ms)
    _repair_next: dict[tuple[str, int], dict[int, int]]
    _on_run_collected: Callable[[Run], None] | None

    # ------------------------------------------------------------ repairs

    def _collect_repairs(self, workspace: Workspace, gateway: DatabricksGateway, active: list[Project],
                         skip: set[int]) -> tuple[list[Run], int | None]:
        """The stored failed or canceled runs of these projects (one job's) that a repair has re-run
        since, updated; and when the next of their re-reads is due (ms; None: no failed run kept)."""
        now = self._clock.now_ms()
        since = now - REPAIR_WINDOW_MS
        failed: dict[int, list[Run]] = {}
        for project in active:
            # Every outcome runs/repair accepts (a canceled run is repairable too); not a run whose
            # repair succeeded on another configuration: stored as a failure, it is done in Databricks.
            # Selected by time in the store, not among the newest runs: a job every 5 minutes pushed
            # a failure out of its newest 50 in about 4 hours. The runs this poll just listed are
            # asked for a few more, so they do not take the older ones' places.
            recent = [r for r in self._store.runs.stored_since(int(project.id or 0), REPAIRABLE_OUTCOMES, since,
                                                               REPAIR_RECHECK_RUNS + len(skip),
                                                               without_anomaly=REPAIRED_ELSEWHERE)
                      if r.databricks_run_id not in skip]
            for run in recent[:REPAIR_RECHECK_RUNS]:
                failed.setdefault(run.databricks_run_id, []).append(run)
        # Each re-read is a runs/get: every poll in a run's first hour (a repair usually follows
        # the failure at once), then at most every REPAIR_RECHECK_LATER_MS, so a job that keeps
        # failing does not cost five calls a poll for a week.
        # Kept per job: each job's pass forgets only its own runs no longer failed.
        nexts = self._repair_next.setdefault((workspace.name, active[0].job_id), {})
        due = {run_id: stored for run_id, stored in failed.items()
               if nexts.get(run_id, 0) <= now}
        for run_id, stored in due.items():
            young = now - min(r.created_at_ms for r in stored) < REPAIR_EAGER_MS
            nexts[run_id] = now + (0 if young else REPAIR_RECHECK_LATER_MS)
        for run_id in [k for k in nexts if k not in failed]:
            del nexts[run_id]  # no longer failed, or out of the window
        next_due = min(nexts.values(), default=None)
        updated: list[Run] = []
        for run_id, stored in sorted(due.items()):
            detail = _run_or_none(gateway, run_id)
            if detail is None or not repair_count(detail) or not is_finished(detail):
                continue  # deleted, never repaired, or a repair still going (seen at a later poll)
            pieces = {p.cluster_key: p for p in cluster_runs(detail)}
            for run in stored:
                project = next(p for p in active if p.id == run.project_id)
                piece = pieces.get(project.cluster_key)
                if piece is None or not piece.repaired_attempts or piece.end_ms <= run.end_ms:
                    continue  # the repairs re-ran other clusters' tasks, or are stored already
                # Planned under the lock too, as a new run is (`Planner.replan` relies on it).
                with project_lock(int(project.id or 0), self._store):
                    repaired = self._repaired(workspace, gateway, int(project.id or 0), int(run.id or 0), piece)
                    if repaired is None:
                        continue
                    updated.append(repaired)
                    if self._on_run_collected is not None:  # planned again, as after a new run
                        try:
                            with calls_run_through():  # its auto-apply is never cut by the stop
                                self._on_run_collected(repaired)
                        except Exception:  # planning's trouble must not stop collection (the run is stored)
                            log.exception("on_run_collected failed for repaired run %s", repaired.id)
        return updated, next_due

    def _repaired(self, workspace: Workspace, gateway: DatabricksGateway, project_id: int, stored_id: int,
                  piece: ClusterRun, *, just_stored: bool = False) -> Run | None:
        """The stored run as its repairs left it: its time and cost over every cluster instance its
        tasks ran on (each repair starts new job clusters), and the outcome of its tasks' last attempts
        when the repair ran on the run's configuration.

        Its end is the watermark: a run is updated when its tasks on this cluster key ended later than
        the stored end (no column of its own is needed). Marked ``repaired``, which the models do not
        learn from (its time is several runs', not one: models/observation.py NOT_LEARNED) and which
        excuses no failure. runs/repair starts its clusters from the job's settings at the repair, so:
        - a repair on the run's configuration decides the run's outcome (a repaired success is one of
          the configuration; a repair that failed again stays its failure);
        - a repair on another configuration (an apply between the failure and the repair) says nothing
          of the run's: the run keeps the outcome and labels its first attempt got, and a repaired
          success is marked ``repaired_elsewhere``. It stays the failure of its configuration for every
          reader (the models, savings, the SLA), not only for `models.changes.screen`: the success
          was another configuration's, which has no run of its own here. The message says Databricks
          shows it succeeded.
        - a repair on a spec Trimtab did not write is a user edit, as on any run (`_repair_drift`):
          ``user_edit``, and the project rebases on it, which pauses auto-apply.
        A repair on the run's configuration keeps what its first attempt showed against it: running
        out of memory (`kept_from_first_attempt`); and the run's peak workers become its attempts' most
        (`peak_over_attempts`).
        ``just_stored``: the run was repaired before its first collection and its first attempt could not
        be told apart (no cluster of its own on this key): just stored from the last attempts."""
        fresh = self._store.runs.get(stored_id)
        if piece.end_ms <= fresh.end_ms and not just_stored:
            return None  # another poll updated it meanwhile
        project = self._store.projects.get(project_id)  # fresh: the first attempt's collection may have rebased it
        costs: list[CostBreakdown | None] = []
        unpriced = ""  # why a cluster of the run could not be priced (its note), "" when none
        apps = list(fresh.application_ids)
        last: tuple[Mapping[str, Any] | None, ClusterTimeline, AgentData] | None = None
        peaks: list[int | None] = []  # each cluster's peak workers (None: its events are gone)
        for instance in piece.instances:
            part = self._instance_priced(workspace, gateway, piece, instance, project=project)
            peaks.append(part.timeline.peak_workers)
            cluster_id = instance[0]
            context = piece.spark_context_id if cluster_id == piece.cluster_id else ""
            agent = self._agent_data(dataclasses.replace(piece, cluster_id=cluster_id, spark_context_id=context),
                                     workspace.name)
            apps.extend(a.application_id for a in agent.applications if a.application_id not in apps)
            costs.append(part.cost)
            unpriced = unpriced or part.why
            if cluster_id == piece.cluster_id:
                last = (part.cluster, part.timeline, agent)
        if last is None:  # the last attempts got no cluster (refused): judged without one
            last = (None, cluster_timeline(piece.spec, [], fallback_start_ms=piece.start_ms,
                                           fallback_end_ms=piece.end_ms, driver_is_spot=None,
                                           cloud=workspace.cloud), AgentData())
        judged, _ = build_run(project, piece, cluster=last[0], timeline=last[1], agent=last[2], history=[],
                              expected=Expected({}, None), cloud=workspace.cloud)
        # The repair's spec: its last cluster's own (the job's settings when it was repaired).
        repair_spec = dict((last[0] or {}).get("spec") or {}) or piece.spec
        repair_config = config_from_spec(with_pool_node_types(repair_spec, last[0]), cloud=workspace.cloud)
        elsewhere = fresh.config is not None and bool(repair_spec) and \
            dataclasses.replace(fresh.config, spec={}) != dataclasses.replace(repair_config, spec={})
        drift = _repair_drift(project, fresh.databricks_run_id, repair_spec)
        # Its runtime is the clusters' time, not the span from the first attempt to the repair's end
        # (the wait between them cost nothing): still not one run's time, hence not learned.
        runtime_s = sum(max(0, end - start) for _, start, end in piece.instances) / 1000.0 or piece.runtime_s
        edit = ["user_edit"] if drift else []
        if elsewhere:
            outcome = fresh.outcome if judged.outcome == "succeeded" else judged.outcome
            labels = [*fresh.anomalies, REPAIRED, *([REPAIRED_ELSEWHERE] if judged.outcome == "succeeded" else []),
                      *edit]
            first_words = without_unpriced_note(fresh.message) if judged.outcome == "succeeded" else judged.message
            failed_on = config_label(fresh.config) if fresh.config else "its configuration"
            note = (f"repaired: failed tasks ran again on new clusters of another configuration "
                    f"({config_label(repair_config)}) and {judged.outcome}; kept as a failure of "
                    f"{failed_on}, the configuration it failed on")
        else:
            # A repair that failed again stays a failure (the configuration is avoided).
            outcome = judged.outcome
            kept = kept_from_first_attempt(fresh.anomalies)
            labels = [*judged.anomalies, *kept, REPAIRED, *edit]
            first_words = judged.message
            note = _joined("repaired: failed tasks ran again on new clusters",
                           "" if OUT_OF_MEMORY in judged.anomalies else memory_note(kept))
        message = _with_retries(cut(_joined(first_words, note), MESSAGE_CHARS, on_word=True),
                                piece.retried_attempts)
        cost = _summed(costs, fresh.input_bytes, "repaired", [i[0] for i in piece.instances])
        if cost is None and fresh.cost is None:  # still unpriced: the note says why, as at collection
            message = with_unpriced_note(message, unpriced or unpriced_reason(fresh.message))
        setup_s = fresh.setup_s if fresh.setup_s is not None and fresh.setup_s <= runtime_s else None
        updated = dataclasses.replace(
            fresh, cluster_id=piece.cluster_id or fresh.cluster_id, start_ms=min(fresh.start_ms, piece.start_ms),
            end_ms=piece.end_ms, runtime_s=runtime_s, outcome=outcome, anomalies=tuple(dict.fromkeys(labels)),
            application_ids=tuple(apps), cost=cost if cost is not None else fresh.cost, setup_s=setup_s,
            message=message,
            peak_workers=fresh.peak_workers if elsewhere else peak_over_attempts(fresh.peak_workers, peaks))
        log.info("run %s (Databricks run %s) repaired: now %s%s", fresh.id, piece.run_id, outcome,
                 " (its repair ran on another configuration)" if elsewhere else "")
        stored = self._store.runs.update(updated)
        if drift:
            log.warning("project %s: run %s was repaired on a cluster edited outside Trimtab (%s); rebasing on it",
                        project.name, piece.run_id, ", ".join(drift))
            rebase(self._store, project, repair_spec, drift, edit_run_id=fresh.databricks_run_id)
        return stored


def kept_from_first_attempt(first: Sequence[str]) -> list[str]:
    """The labels of a run's first attempt that stay on the run after a repair on its configuration
    (`KEPT_FROM_FIRST_ATTEMPT`), and its out-of-memory failure (with ``driver_lost`` when the driver's).

    Running out of memory stays because a repair's success does not clear the configuration: the repair
    re-ran only the failed tasks, on fresh clusters, and the next whole run meets the same memory need.
    Dropped, the run read as the configuration's success and the planner went back to the cluster that
    had run out of memory; kept, `server.plan.observe` holds it against the configuration as any
    out-of-memory failure (`models.changes`), until a clean run on it succeeds. ``driver_lost`` goes
    with a driver's, which sizes the driver up (`server.plan.driver`) instead of blaming the workers."""
    kept = [a for a in first if a in KEPT_FROM_FIRST_ATTEMPT]
    if OUT_OF_MEMORY in first:
        kept += [OUT_OF_MEMORY, *(["driver_lost"] if "driver_lost" in first else [])]
    return kept


def memory_note(kept: Sequence[str]) -> str:
    """What a repaired run's message says of its first attempt's out-of-memory failure ("" for none)."""
    if OUT_OF_MEMORY not in kept:
        return ""
    if "driver_lost" in kept:
        return "its first attempt ran out of memory on the driver: the next plan sizes the driver up"
    return ("its first attempt ran out of memory on the executors: this configuration and those with no "
            "more memory per core are avoided")


def peak_over_attempts(stored: int | None, attempts: Iterable[int | None]) -> int | None:
    """A run over several clusters (repaired on its configuration, or a task retried on a new cluster):
    the most workers any of its attempts' clusters had up (None when no cluster's events said),
    ``stored`` (as its first collection read it) included, for a cluster whose events are gone since.

    The max, not the first attempt's: the run's runtime and cost are every attempt's clusters' summed,
    and its peak is what the job needed of the range (`server.plan.peak_floor`): a first attempt that
    failed before it scaled up says nothing of that. Not a sum: the attempts ran one after another. A
    repair on another configuration keeps the first attempt's peak (`Repairs._repaired`): a peak is
    read against the run's configuration (its node type and range), and the repair's were another's."""
    known = [p for p in (stored, *attempts) if p is not None]
    return max(known, default=None)


def _repair_drift(project: Project, run_id: int, repair_spec: Mapping[str, Any]) -> list[str]:
    """The spec paths a repair's clusters ran with that Trimtab did not write (empty: none), as
    `build_run` judges any run against `expected_spec`. A repair uses the job's settings when it
    was repaired, which is after the run: the spec Trimtab holds now (``current_spec``), or, when
    Trimtab applied after the run had started, possibly still the spec before that apply (the
    repair may have come first); a hand edit differs from both."""
    if not repair_spec:
        return []
    pending = project.pending_apply or {}
    written = [dict(project.current_spec)]
    ran, _ = started_before(pending)
    if ran is not None and run_id <= int(pending.get("applied_after_run_id") or 0):
        written.append(ran)
    drifts = [spec_drift(repair_spec, spec) for spec in written if spec]
    return [] if not drifts or not all(drifts) else min(drifts, key=len)
