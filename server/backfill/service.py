"""`backfill`: event logs of past runs → stored applications → runs of a project.

Steps: resolve the project; fetch the logs (a local path is read in place, a
``dbfs:/`` tree is copied to a temporary directory through the Databricks
gateway); find the applications; parse them on the chosen engine; store each
application's events through the ingest path (a second backfill stores
nothing new); make runs for applications not tied to a run yet, of the project's own job and
cluster key only. The project's workspace, when it can be reached, answers ``runs/get`` for each
run (its cluster key, bounds with the cluster's setup, outcome and spec) and, while it still holds
the run's cluster, ``clusters/get`` and ``clusters/events`` (its usage, priced as the collector prices
it); without the run a run is made from the log alone and says so (`runs`).

Damaged logs are imported as far as they can be read, and the report lists each
one (`DamagedLog`): corrupt and oversized lines skipped, segments that could not
be read to their end, and a log without the application's end: cut short (no
run is made from it) or ending cleanly (the driver died: a failed run), see
`runs.make_runs`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protos.trimtab.v1 import ingest_pb2
from server.backfill import dbfs
from server.backfill.discover import FoundApplication, find_applications
from server.backfill.engines import ParseTask, parse_all
from server.backfill.ingest import application_id_of, open_writer, store_application
from server.backfill.parse import LogHealth, ParsedApplication, UnreadableSegment
from server.backfill.runs import RunLookup, make_runs
from server.backfill.usage import ClusterLookup, ClusterRecord, Pricing
from server.collect.collector import cluster_events_or_none, pools_of
from server.costing.catalog import PriceCatalog
from server.databricks import DatabricksCallError, DatabricksGateway, DatabricksNotFound, call_or_none
from server.domain import Project
from server.errors import FailedPrecondition, InvalidArgument, NotFound, TrimtabError
from server.store import Store

# The gateway for a workspace name (only needed for dbfs:/ sources).
GatewayFor = Callable[[str], DatabricksGateway]


@dataclass(frozen=True)
class DamagedLog:
    """One application whose log was not read whole, and what that cost."""

    application_id: str
    path: str  # the application's log directory, where it really lives (``dbfs:/...`` for DBFS)
    lines_corrupt: int = 0
    lines_oversized: int = 0
    unreadable_segments: tuple[UnreadableSegment, ...] = ()
    incomplete: bool = False  # no application end in the log
    cut: bool = False  # ... because the log was cut short (else it ends cleanly: the driver died)
    events: int = 0  # events read from it anyway (0: nothing usable)
    run_made: bool = False  # whether a run of the project includes it after this backfill

    def lines(self) -> list[str]:
        """What a person reads about it, one line each."""
        out = []
        if self.incomplete and not self.events:
            out.append(f"{self.application_id}: incomplete log ({self.path}): nothing in it could be read")
        elif self.incomplete and self.cut:
            fate = ("its events are stored; no run made" if not self.run_made
                    else "its events are stored; the application's end was already stored, so it has a run")
            out.append(f"{self.application_id}: incomplete log ({self.path}): it is cut short and ends without "
                       f"the application's end; {fate}")
        elif self.incomplete:
            fate = ("its events are stored; it is a failed run" if self.run_made
                    else "its events are stored; no run made")
            out.append(f"{self.application_id}: log ends without the application's end ({self.path}): the "
                       f"log is intact, so the driver died before the application ended; {fate}")
        if self.lines_corrupt or self.lines_oversized:
            out.append(f"{self.application_id}: skipped {self.lines_corrupt} corrupt and {self.lines_oversized} "
                       f"oversized line(s) in {self.path}")
        out += [f"{self.application_id}: unreadable segment {u.path}: {u.reason}" for u in self.unreadable_segments]
        return out


@dataclass(frozen=True)
class BackfillReport:
    project: str
    source: str
    engine: str
    applications_found: int
    imported: int  # applications with at least one new event stored
    already_present: int  # applications whose every event was stored before
    runs_created: int
    events_stored: int
    events_duplicate: int
    application_ids: tuple[str, ...] = ()
    run_ids: tuple[int, ...] = ()
    skipped_other_job: int = 0
    # applications some run already holds (an earlier backfill or the collector made it): no new run
    already_tied_to_runs: int = 0
    tied_to_existing_runs: int = 0
    runs_unpriced: int = 0
    damaged_logs: tuple[DamagedLog, ...] = ()  # only the applications whose log was not read whole
    incomplete_logs: int = 0  # applications whose log ends without the application's end
    unusable_logs: int = 0  # applications of which not one event could be read
    # applications left without a run because they are not the project's cluster's: the log names
    # no job (an all-purpose cluster), another cluster key or project, or a key that cannot be worked out
    # (no workspace run to read it from, and no trimtab:project-id tag in the log)
    skipped_no_job: tuple[str, ...] = ()
    skipped_other_cluster: tuple[str, ...] = ()
    skipped_unknown_cluster: tuple[str, ...] = ()
    # runs made from the log alone (the workspace's run was not available): setup time unknown, unpriced
    runs_setup_unknown: int = 0

    @property
    def usable(self) -> bool:
        """Whether anything was found to import (new or stored before): else the backfill failed."""
        return self.imported + self.already_present > 0

    def as_dict(self) -> dict[str, object]:
        from dataclasses import asdict

        return {**asdict(self), "usable": self.usable}


def _tasks(found: list[FoundApplication], local_root: Path, source: str) -> list[ParseTask]:
    if not dbfs.is_dbfs(source):
        return [ParseTask(str(a.path)) for a in found]
    # Where each application really lives, not the temporary copy: that is what a person can find again
    # (the copy mirrors whole DBFS paths, `dbfs.download_event_logs`).
    return [ParseTask(str(a.path), f"dbfs:/{a.path.relative_to(local_root).as_posix()}") for a in found]


def backfill(store: Store, project_ref: str, source: str, *, engine: str = "local",
             spark_master: str | None = None, gateway_for: GatewayFor | None = None,
             workers: int | None = None, catalog: PriceCatalog | None = None,
             progress: Callable[[str], None] | None = None) -> BackfillReport:
    """Import the applications under ``source`` (a local path or ``dbfs:/...``) as runs of a project.

    With a price ``catalog`` the runs are priced for the project's workspace.
    ``progress`` receives one line per step (for a person waiting).
    Raises `NotFound` (unknown project, missing path), `FailedPrecondition` (no
    event logs under the path) or `InvalidArgument` (unknown engine, blank source). Damaged logs
    do not raise: the report lists them, and `BackfillReport.usable` is False when
    not one application's log could be read.
    """
    say = progress or (lambda _line: None)
    if not source.strip():
        # Path("") is the current directory: an unset variable would import whatever logs lie there.
        raise InvalidArgument("no event-log source given (an empty path would be the current directory): "
                              "give a local directory or a dbfs:/ path")
    project = store.projects.find(project_ref)
    if engine not in ("local", "spark"):
        raise InvalidArgument(f"unknown engine {engine!r}: use local or spark")
    gateway = _gateway(gateway_for, project, say, needed=True) if dbfs.is_dbfs(source) else None
    with tempfile.TemporaryDirectory(prefix="trimtab-backfill-") as tmp:
        if dbfs.is_dbfs(source):
            if gateway is None:
                raise FailedPrecondition("reading dbfs:/ needs the project's workspace connection")
            local_root = Path(tmp)
            try:
                copied = dbfs.download_event_logs(gateway, source, local_root)
            except DatabricksNotFound:
                raise NotFound(f"{source}: no such DBFS path") from None
            say(f"copied {copied} event-log file(s) from {source}")
        else:
            local_root = Path(source).expanduser().resolve()
            if not local_root.exists():
                raise NotFound(f"{source}: no such file or directory")
        found = find_applications(local_root)
        if not found:
            raise FailedPrecondition(f"{source}: no event logs found (expected "
                                     "<cluster-id>/eventlog/<cluster-id>_<driver-ip>/<spark-context-id>/eventlog*)")
        say(f"parsing {len(found)} application(s) on the {engine} engine")
        tasks = _tasks(found, local_root, source)
        results: list[ParsedApplication] = parse_all(tasks, engine, spark_master=spark_master, workers=workers)
    if not dbfs.is_dbfs(source):
        gateway = _gateway(gateway_for, project, say, needed=False)
    writer = open_writer(store)
    app_ids: list[str] = []
    # (application id, where its log lives, what reading it skipped, events read) for the report
    health: list[tuple[str, str, LogHealth, int]] = []
    imported = present = stored = duplicate = 0
    try:
        for app, task, parsed in zip(found, tasks, results, strict=True):
            events = [ingest_pb2.Event.FromString(b) for b in parsed.events]
            app_id = application_id_of(events, app.spark_context_id)
            health.append((app_id, task.event_log_path or task.path, parsed.health, len(events)))
            if not events:
                continue
            outcome = store_application(writer, app_id, events, app.cluster_id)
            app_ids.append(app_id)
            imported += 0 if outcome.already_present else 1
            present += 1 if outcome.already_present else 0
            stored += outcome.stored_events
            duplicate += outcome.duplicate_events
    finally:
        writer.close()
    known = [a for a in app_ids if _exists(store, a)]
    say(f"stored {stored} new event(s) of {len(app_ids)} application(s); making runs")
    cut = {app_id for app_id, _, h, _ in health if not h.ended and h.cut}
    runs = make_runs(store, project, known, _pricing(store, project.workspace, catalog), cut=cut,
                     runs_get=_runs_get(gateway, say) if gateway is not None else None,
                     clusters=_clusters(gateway, say) if gateway is not None else None)
    if runs.no_job:
        say(f"{len(runs.no_job)} application(s) name no job (an all-purpose cluster's): no run made for them")
    if runs.other_cluster:
        say(f"{len(runs.other_cluster)} application(s) ran on another cluster of the job: no run made for them")
    if runs.unknown_cluster:
        say(f"{len(runs.unknown_cluster)} application(s) on a cluster not known to be {project.name}'s (no "
            "task of their run in the workspace ran on it, and their log has no trimtab:project-id tag): "
            "no run made")
    if runs.setup_unknown:
        say(f"{runs.setup_unknown} run(s) made from the event log alone: setup time unknown, stored unpriced")
    damaged = tuple(
        DamagedLog(app_id, path, h.lines_corrupt, h.lines_oversized, h.unreadable_segments, not h.ended,
                   not h.ended and h.cut, n, store.runs.for_application(app_id) is not None if n else False)
        for app_id, path, h, n in health if h.damaged or not n)
    return BackfillReport(
        project=project.name, source=source, engine=engine, applications_found=len(found), imported=imported,
        already_present=present, runs_created=len(runs.created), events_stored=stored,
        events_duplicate=duplicate, application_ids=tuple(app_ids),
        run_ids=tuple(int(r.id or 0) for r in runs.created), skipped_other_job=runs.other_job,
        already_tied_to_runs=runs.already_tied, tied_to_existing_runs=runs.tied_to_existing, runs_unpriced=runs.unpriced, damaged_logs=damaged,
        incomplete_logs=sum(1 for d in damaged if d.incomplete),
        unusable_logs=sum(1 for _, _, _, n in health if not n), skipped_no_job=tuple(runs.no_job),
        skipped_other_cluster=tuple(runs.other_cluster), skipped_unknown_cluster=tuple(runs.unknown_cluster),
        runs_setup_unknown=runs.setup_unknown)


def _gateway(gateway_for: GatewayFor | None, project: Project, say: Callable[[str], None], *,
             needed: bool) -> DatabricksGateway | None:
    """The project's workspace gateway; None without one (a dbfs:/ source then fails, a local one goes
    on from the logs alone and says so)."""
    if gateway_for is None:
        return None
    try:
        return gateway_for(project.workspace)
    except TrimtabError as err:
        if needed:
            raise
        say(f"workspace {project.workspace} not available ({err}): no runs/get, so only applications whose "
            "log carries the project's trimtab:project-id tag make runs, from the log alone")
        return None


def _runs_get(gateway: DatabricksGateway, say: Callable[[str], None]) -> RunLookup:
    """``runs/get`` for each Databricks run once; None for a run the workspace does not hold (purged
    after about 60 days) or cannot be asked for now (said once)."""
    seen: dict[int, dict[str, Any] | None] = {}
    failing: list[str] = []

    def lookup(run_id: int) -> dict[str, Any] | None:
        if run_id in seen:
            return seen[run_id]
        detail: dict[str, Any] | None = None
        if not failing:
            try:
                detail = gateway.get_run(run_id)
            except DatabricksNotFound:
                detail = None
            except DatabricksCallError as err:
                failing.append(str(err))
                say(f"runs/get failed ({err}): the remaining runs are made from the event logs alone")
        seen[run_id] = detail
        return detail

    return lookup


def _clusters(gateway: DatabricksGateway, say: Callable[[str], None]) -> ClusterLookup:
    """``clusters/get`` and every ``clusters/events`` event of a run's cluster, as the collector reads
    them; None for a cluster the workspace no longer holds (purged 30 days after it ended) or cannot be
    asked for now (said once): such a run is sized from its event log's executors."""
    failing: list[str] = []
    pools: dict[str, dict[str, dict[str, Any]]] = {}  # instance-pools/get once per pool for the whole backfill

    def lookup(cluster_id: str) -> ClusterRecord | None:
        if failing:
            return None
        try:
            cluster = call_or_none(lambda: gateway.get_cluster(cluster_id))
            events = cluster_events_or_none(gateway, cluster_id) if cluster is not None else None
            pool_id = str((cluster or {}).get("instance_pool_id") or "")
            if pool_id and pool_id not in pools:
                pools[pool_id] = pools_of(gateway, cluster or {})
        except DatabricksCallError as err:
            failing.append(str(err))
            say(f"clusters/events failed ({err}): the remaining runs are sized from their event logs' executors")
            return None
        if cluster is None or events is None:
            return None
        return ClusterRecord(cluster, events, pools.get(pool_id, {}))

    return lookup


def _pricing(store: Store, workspace: str, catalog: PriceCatalog | None) -> Pricing | None:
    if catalog is None:
        return None
    try:
        ws = store.workspaces.get(workspace)
    except NotFound:
        return None  # a project whose workspace is gone: its runs are stored unpriced
    return Pricing(catalog, ws.cloud, ws.pricing_region, ws.plan)


def _exists(store: Store, application_id: str) -> bool:
    # An application whose log never reached ApplicationStart has events but no application row.
    try:
        store.applications.get(application_id)
    except NotFound:
        return False
    return True
