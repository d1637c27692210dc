"""Import of a workspace's jobs: one project per qualified job cluster, onboarded.

Import lists the workspace's jobs (or the named ones), creates one project
per qualified job cluster, and onboards each cluster with one ``jobs/update``
per job that sends the complete entry of every changed key (see
`server.onboard`). It is idempotent: a second import finds the projects and
the specs already onboarded and changes nothing in the workspace; it refreshes
what the store keeps of the job (name, schedule). ``dry_run`` shows the diffs
and changes nothing, neither in the store nor in the workspace.

A detached project is left as it is by an import of every job (and by auto-import): the
person who detached it put the job back as it was. Only an import that names the job
(``job_ids``, `workspace import W --job N`) onboards it again, and says so
(`ImportedProject.reattached`). A job named that way and not found is skipped with
`SkippedJob.not_found`, which
the CLI turns into a failure; an import of every job skips quietly.

A cluster in standard access mode is onboarded only when the service will run Trimtab's
init script there (`server.onboard.standard_access_problem`): import reads the metastore's
INIT_SCRIPT allowlist for that, at most once, and only when a job has such a cluster.

A job whose cluster's ``trimtab:project-id`` tag names an attached project of another workspace of
this server is skipped naming it (`server.services.job_owner`): it is the same Databricks workspace
added twice, and importing would take the job from the project that manages it.

Each job is judged and onboarded holding its import lock, across the servers on one database
(`server.services.import_lock`); auto-import's new jobs (`ImportLimits.new_jobs`) are checked again under
it, and one another server imported meanwhile is left to it.

Onboarding one job (its one ``jobs/update``, read back): `server.services.job_onboard`. Split from
`server.services.workspaces`, which re-exports `import_jobs` and the reasons. One judged job's import
(its projects, under their locks), and the reasons a job is skipped with:
`server.services.job_import_one`; the READ grants and the carry between an import's calls:
`server.services.job_import_carry`. Their names stay importable from here.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from server.config import shared_location_warning
from server.costing.errors import TrimtabCostError
from server.databricks import (
    DatabricksCallError,
    DatabricksGateway,
    DatabricksNotFound,
    DatabricksRejected,
    DatabricksUnavailable,
    WorkspaceAuthError,
)
from server.databricks.gateway import DatabricksPermissionDenied
from server.domain import (
    ImportedProject,
    ImportLimits,
    ImportResult,
    LeftOut,
    SkippedJob,
    Workspace,
)
from server.errors import Cancelled, InvalidArgument
from server.log_context import log_context
from server.onboard import (
    AgentWiring,
    AllowlistMatcher,
    ImportTarget,
    StandardAccess,
    qualify,
    run_as_principal,
    script_location,
    was_taken_over,
)
from server.services.agent_install import (
    DBFS_WARNING,
    REASON_NO_OWNER,
    agent_wheel_plan,
    check_secret,
    grant_secret_read,
    prepare_agent,
    standard_plan,
)
from server.services.import_lock import job_import_lock, locked_elsewhere
from server.services.job_import_carry import ImportCarry, _release_refused, _SecretReads
from server.services.job_import_one import (
    REASON_DETACHED,
    REASON_IMPORTED_ELSEWHERE,
    REASON_NOT_EDITABLE,
    REASON_NOT_KEPT,
    REASON_REFUSED,
    _import_job,
    _split_detached,
)
from server.services.job_onboard import OnboardNotTaken
from server.services.job_owner import other_server, other_server_reason, owned_reason, owner_elsewhere
from server.services.job_policies import PolicyRead, job_policies, policy_states
from server.services.secrets import SecretBox
from server.services.workspace_access import agent_wiring, check_answers, gateway_for, recording_status
from server.services.workspace_checks import CLOUDS, pricing_catalog
from server.store import Store
from server.store.locks import LockedElsewhere

if TYPE_CHECKING:
    from server.costing.catalog import PriceCatalog

log = logging.getLogger("server.services.workspaces")  # split from it: its log lines keep their name

# The most job ids one ImportJobs call may name. A person names jobs one `--job` at a time; to import
# more, name none (every job, paged). Unpaged, each named job is some five Databricks calls, so 1,000 is
# already 10-25 minutes against a real workspace (100-300 ms a call), past the CLI's deadline; and a
# paged import carries the ids not reached in its page token. Without a bound, 200,000 ids read jobs for
# minutes in one call.
MAX_NAMED_JOBS = 1000

# What moved out keeps its name here (`server.services.workspaces` and `import_pages` import them from it).
__all__ = [
    "REASON_DETACHED", "REASON_IMPORTED_ELSEWHERE", "REASON_NOT_EDITABLE", "REASON_NOT_KEPT", "REASON_REFUSED",
    "ImportCarry", "import_jobs", "read_init_script_allowlist", "unpriced_node_types", "wiring_warnings",
]


def import_jobs(store: Store, secrets: SecretBox, workspace: str, job_ids: list[int],
                dry_run: bool = False, *, wiring: AgentWiring | None = None,
                reattach: bool = False, take_over: bool = False, limits: ImportLimits | None = None,
                carry: ImportCarry | None = None, stop: threading.Event | None = None) -> ImportResult:
    """One project per qualified job cluster, onboarded; skipped jobs with the reason why.

    A detached project is left alone (reported skipped) unless ``reattach``: set only when a
    person named the job (`workspace import W --job N`), never by auto-import, which passes
    job ids too but must not undo a detach. A job wired to another Trimtab server, and a token
    secret this database never wrote, are left alone unless ``take_over`` (a person's explicit
    `--take-over`; never auto-import's).

    What is the workspace's rather than a job's is done once for all ``job_ids``: the token secret and
    the init script (`prepare_agent`), each run-as principal's READ on the scope, the allowlist. So
    auto-import passes a discovery pass's new jobs in one call, with ``limits`` (`ImportLimits`): a
    deadline, and one job's failure reported rather than raised.

    ``carry``: this call is one of an import split into calls (`server.services.import_pages`), whose
    later calls pass the jobs not reached (``job_ids``, whether the person named them or not); what the
    earlier calls did for the whole workspace is read from it, and what this one did is added to it.

    ``stop``: set when the caller's call ends (its deadline passed, it was cancelled); no job is started
    after that (`Cancelled`). Each job already started is finished whole, as any job of an import is.
    """
    ws = store.workspaces.get(workspace)
    wiring = wiring or agent_wiring()
    # Before any call: jobs wired to a loopback server would send their agents' data nowhere.
    wiring.check_reachable_from(ws.host)
    # Also before any call: without a wheel the clusters could install, onboarding is for nothing.
    wiring, wheel_upload = agent_wheel_plan(wiring)
    gateway = gateway_for(store, secrets, ws)
    imported: list[ImportedProject] = []
    skipped: list[SkippedJob] = []
    left_out: list[LeftOut] = []
    deferred: list[int] = []
    locked: list[SkippedJob] = []  # jobs auto-import left at a lock another session held past the wait
    access = StandardAccess(init_script=wiring.init_script)
    # The cluster policies the jobs name, each read once (`job_policies`): what they fill in is judged.
    policies: dict[str, PolicyRead] = {}
    # A cluster on the other cloud is left out, naming the command that puts the workspace's cloud right.
    catalog = pricing_catalog()
    into = ImportTarget(ws.name, ws.host, ws.cloud, {c: frozenset(catalog.node_types(c)) for c in CLOUDS},
                        listed=lambda t: catalog.entry("node_types", ws.cloud, t))
    with recording_status(store, ws), log_context(workspace=ws.name):
        check_answers(ws, gateway)
        # A job named twice is imported once (order kept).
        ids = list(dict.fromkeys(job_ids)) or [int(j["job_id"]) for j in gateway.list_jobs()]
        # A job not found is the person's typo only when they named it (a later call's ids may be listed ones).
        named = carry.named if carry is not None else bool(job_ids)
        if carry is not None and not carry.total:
            carry.total = len(ids)
        agent_ready = False  # prepared by this call: once a call, its first job (a call may be hours after the last)
        # The token secret written by this import whatever it held: by an earlier call too, or each call of a
        # --take-over import made one more agent token and wrote it over the last.
        rewritten = carry.rewritten if carry is not None else False
        # The READ earlier calls put is this import's as much: recorded so on the projects (`reader_record`)
        # as an import in one call records it, so a detach later takes it back.
        reads = _SecretReads(granted=set(carry.granted) if carry is not None else set())
        warnings = list(wiring_warnings(wiring))
        for warning in warnings:
            log.warning("workspace %s: %s", ws.name, warning)
        try:
            for n, job_id in enumerate(ids):
                if stop is not None and stop.is_set():
                    # Outside the job's own try, which takes any error for the job's. Nobody reads the rest:
                    # 30,000 named jobs went on being read for minutes after a client's 3 s deadline.
                    raise Cancelled(f"import of {ws.name} stopped after {n} of {len(ids)} jobs: the call ended "
                                    "(its deadline passed, or it was cancelled)")
                if limits is not None and n and limits.monotonic() >= limits.deadline:
                    # The first job always goes: a pass always gets somewhere, however slow the workspace.
                    deferred = ids[n:]
                    break
                found = None
                try:
                    # The whole step, from reading the job to recording its projects: a second server
                    # importing the same job waits, then finds what this one did (`job_import_lock`).
                    with (nullcontext() if dry_run else job_import_lock(store, ws, job_id)), \
                            log_context(job_id=job_id):
                        try:
                            job = gateway.get_job(job_id)
                        except DatabricksNotFound:
                            skipped.append(SkippedJob(job_id, "", "job not found in the workspace", not_found=named))
                            continue
                        except DatabricksPermissionDenied as err:  # the token may not even view this job
                            skipped.append(SkippedJob(job_id, "", f"Databricks refused to read the job: {err.message}"))
                            continue
                        its_policies = job_policies(gateway, job, policies)
                        found = qualify(job, access, into, its_policies)
                        if found.needs_allowlist:
                            # Only the allowlist decides now: read it (once per import) and judge the job again.
                            access = read_init_script_allowlist(gateway, access)
                            found = qualify(job, access, into, its_policies)
                        if found.skipped_reason is not None:
                            skipped.append(SkippedJob(job_id, found.job_name, found.skipped_reason, found.allowlist_bound,
                                                      policy_states(its_policies, found.left_out_policies)))
                            continue
                        if limits is not None and job_id in limits.new_jobs and any(
                                store.projects.get_by_key(ws.name, job_id, t.cluster_key) is not None
                                for t in found.clusters):
                            # Checked again under the lock: new when the caller listed it, imported since by
                            # another server's auto-import (or a person's import). Onboarded again here, it
                            # got this server's wiring over the other's, which the store did not record.
                            log.info("workspace %s: job %d (%s) already imported by another server; left to it",
                                     ws.name, job_id, found.job_name)
                            skipped.append(SkippedJob(job_id, found.job_name, REASON_IMPORTED_ELSEWHERE))
                            continue
                        elsewhere = None if take_over else other_server(store, ws, found.clusters, wiring.server_address)
                        if elsewhere is not None:
                            # The whole job, as for an owner of another workspace below.
                            skipped.append(SkippedJob(job_id, found.job_name,
                                                      other_server_reason(*elsewhere, wiring.server_address)))
                            continue
                        owned = owner_elsewhere(store, ws, found.clusters)
                        if owned is not None:
                            # The whole job, not the one cluster: its other clusters are the owner's to import too.
                            skipped.append(SkippedJob(job_id, found.job_name, owned_reason(store, ws, *owned)))
                            continue
                        clusters = found.clusters
                        if limits is not None and job_id in limits.new_clusters_only:
                            # Judged as a first import judges the job (above), but only its clusters without a
                            # project are onboarded: the imported ones, their projects and runs stay as they are.
                            clusters = [t for t in clusters if store.projects.get_by_key(ws.name, job_id, t.cluster_key)
                                        is None]
                            if not clusters:
                                why = "; ".join(dict.fromkeys(found.notes)) or "each of its clusters is a project already"
                                skipped.append(SkippedJob(job_id, found.job_name, why, found.allowlist_bound,
                                                          policy_states(its_policies, found.left_out_policies)))
                                continue
                        targets, detached = _split_detached(store, ws, clusters, reattach)
                        if detached:
                            names = ", ".join(p.name for p in detached)
                            skipped.append(SkippedJob(job_id, found.job_name, REASON_DETACHED.format(
                                projects=names, workspace=ws.name, job_id=job_id)))
                        if not targets:
                            continue
                        # A job this server takes back from another one (a project of it orphaned as taken over):
                        # the secret holds that server's token, though this database's own is live.
                        retaking = any(was_taken_over(store.projects.get_by_key(ws.name, t.job_id, t.cluster_key))
                                       for t in targets)
                        if dry_run and not agent_ready:
                            check_secret(store, gateway, ws, wiring, take_over=take_over)  # what the import would refuse
                            agent_ready = True
                        elif not dry_run and (not agent_ready or (retaking and not rewritten)):
                            for note in prepare_agent(store, gateway, ws, wiring, wheel_upload,
                                                      take_over=(take_over or retaking) and not rewritten):
                                log.warning("workspace %s: %s", ws.name, note)
                                warnings.append(note)
                            agent_ready = True
                            rewritten = rewritten or take_over or retaking
                        reader: dict[str, Any] | None = None
                        if not dry_run and not standard_plan(ws):
                            principal = run_as_principal(job)
                            if not principal:
                                skipped.append(SkippedJob(job_id, found.job_name, REASON_NO_OWNER))
                                continue
                            # The grant comes before the job's jobs/update, never after it: the update puts the
                            # secret's reference on the clusters, and a cluster whose owner cannot read it does
                            # not start (SECRET_PERMISSION_DENIED). Granted after, an import stopped between the
                            # two (a refused grant, a failing workspace, the server killed) left an onboarded job
                            # whose every run failed. Granted before, the same stop leaves one READ too many, and
                            # a job then left as found has the READ taken back (`_release_refused`).
                            if principal not in reads.answers:
                                reads.answers[principal] = grant_secret_read(gateway, wiring, principal, reads.granted)
                            if reads.answers[principal] is not None:
                                skipped.append(SkippedJob(job_id, found.job_name, str(reads.answers[principal])))
                                continue
                            reader = {"scope": wiring.secret_scope, "principal": principal,
                                      "granted": principal in reads.granted}
                            # Needed until the job's outcome says otherwise: an error ending the import leaves it so.
                            reads.jobs[job_id] = (principal, True)
                        done: list[ImportedProject] = []
                        try:
                            done = _import_job(store, gateway, ws, job, targets, wiring, dry_run, reader=reader,
                                               written=reads.written)
                            imported.extend(done)
                            for warning in unpriced_node_types(done, catalog, ws):
                                log.warning("workspace %s: %s", ws.name, warning)
                                warnings.append(warning)
                        except (WorkspaceAuthError, DatabricksPermissionDenied) as err:
                            # jobs/list shows jobs the token may only view: a 403 editing one is that job's
                            # alone (the gateway's `DatabricksPermissionDenied`), unless the token is refused
                            # outright (then this raises, for the workspace).
                            gateway.check_token()
                            skipped.append(SkippedJob(job_id, found.job_name, REASON_NOT_EDITABLE.format(error=err.message)))
                        except (DatabricksRejected, OnboardNotTaken) as err:
                            # This job's own refusal (its cluster policy fixes a field onboarding sets, a spec
                            # Databricks no longer accepts): nothing of it is recorded or left written
                            # (`_onboard_job`), and the other jobs are imported, as auto-import does.
                            log.warning("workspace %s: job %d (%s) not imported: %s", ws.name, job_id, found.job_name, err)
                            why = REASON_NOT_KEPT if isinstance(err, OnboardNotTaken) else REASON_REFUSED
                            skipped.append(SkippedJob(job_id, found.job_name, why.format(error=err.message)))
                        if reader is not None and not done and job_id not in reads.written:
                            # Left as found: its clusters reference no secret, so their owner needs no READ for them.
                            reads.jobs[job_id] = (reader["principal"], False)
                        if done:
                            # The job's tasks and clusters that stay as they are: said with its projects, as a
                            # job with none of them qualified says it as its skip reason.
                            states = policy_states(its_policies, found.left_out_policies)
                            left_out.extend(LeftOut(job_id, found.job_name, note, found.allowlist_bound, states)
                                            for note in dict.fromkeys(found.notes))
                except (WorkspaceAuthError, DatabricksUnavailable):
                    raise  # the workspace's trouble, not the job's: the import ends (auto-import's pass too)
                except LockedElsewhere as err:
                    if limits is None or not limits.keep_going:
                        raise  # a person's import says it in one line, and they retry
                    # Another session's import or apply of this job is still going (or hung): neither this
                    # job's failure (remembered, it would wait for an edit or a restart) nor a bug to trace.
                    locked.append(SkippedJob(job_id, found.job_name if found else "", locked_elsewhere(store, err)))
                except Exception as err:
                    # A value of this job the store refuses (a cluster key with NUL: `server.store.convert`)
                    # is that job's failure, as a refusal by Databricks is: one such job stopped a person's
                    # whole import on PostgreSQL, and no job after it was imported.
                    own = isinstance(err, InvalidArgument)
                    if not own and (limits is None or not limits.keep_going):
                        raise  # a person's import says what went wrong, and where it stopped
                    # Auto-import: one job's failure (a bug, a refusal not recognised above) must not cost
                    # the pass's other jobs; the caller remembers the job, so it is not rewritten every pass.
                    log.warning("workspace %s: import of job %d failed: %s", ws.name, job_id, err, exc_info=True)
                    skipped.append(SkippedJob(job_id, found.job_name if found else "", f"import failed: {err}",
                                              failed=True))
        finally:
            # However the pass ended (an error too): the READ it gave for jobs it left as found goes again.
            _release_refused(store, gateway, ws, wiring, reads)
    if carry is not None:
        carry.granted |= reads.granted
        carry.rewritten = rewritten
    return ImportResult(tuple(imported), tuple(skipped), tuple(left_out), tuple(warnings), tuple(deferred),
                        tuple(locked))


def unpriced_node_types(done: list[ImportedProject], catalog: PriceCatalog, ws: Workspace) -> list[str]:
    """A warning for each node type (workers' or driver's) of an imported project's cluster that the
    price catalog cannot price in ``ws``'s cloud and region: one it does not know, or a fleet whose
    member it lacks. Such a job is onboarded all the same (its runs are collected, and a later catalog
    prices them while they are recent), but until then no run of it has a cost and the planner has no
    price to compare configurations with: said at import, not first found on a run's "not priced"
    note days later. A pool-backed cluster names the pool, not the type: not judged here (its runs
    say so if the pool's type is unknown)."""
    out = []
    for item in done:
        p = item.project
        spec = p.current_spec or {}
        for node_type in dict.fromkeys(spec.get(k) for k in ("node_type_id", "driver_node_type_id")):
            if not isinstance(node_type, str) or not node_type:
                continue
            try:
                info = catalog.node_type(ws.cloud, node_type)
                catalog.hourly_price(ws.cloud, ws.pricing_region, node_type)
                catalog.spot_discount(ws.cloud, info.family)
            except TrimtabCostError as err:
                out.append(f"project {p.name} (job {p.job_id}, cluster {p.cluster_key!r}): price catalog "
                           f"{catalog.version} cannot price node type {node_type!r} ({err.message}): the job is "
                           "onboarded and its runs are collected, but they are not priced and no recommendation "
                           "is made for it until the server runs on a catalog that prices it (`trimtab prices "
                           f"show --cloud {ws.cloud}` lists the node types it knows)")
    return out


def wiring_warnings(wiring: AgentWiring) -> tuple[str, ...]:
    """What is wrong with where the import wires clusters to (not with any job): an init script on DBFS,
    which clusters no longer run; one or the agent wheel under /Shared, which every workspace user can
    edit and which runs as root on every onboarded cluster. Logged by the server, and in the import's
    answer: the person importing rarely reads the server's log."""
    kind, destination = script_location(wiring.init_script)
    found: list[str] = []
    if "dbfs" in wiring.init_script:
        found.append(DBFS_WARNING % destination)
    if shared := shared_location_warning(destination if kind == "workspace" else "", wiring.agent_wheel or ""):
        found.append(shared)
    return tuple(found)


def read_init_script_allowlist(gateway: DatabricksGateway, access: StandardAccess) -> StandardAccess:
    """``access`` with the metastore's INIT_SCRIPT allowlist, or with why it could not be read.

    A refusal here says nothing about the token (it did the other calls): the jobs that need the
    allowlist are skipped saying so, and the rest of the import goes on."""
    try:
        info = gateway.get_artifact_allowlist("INIT_SCRIPT")
    except DatabricksPermissionDenied as err:
        log.info("INIT_SCRIPT allowlist not readable: %s", err.message)
        return dataclasses.replace(access, allowlist_error="403: needs metastore admin or MANAGE ALLOWLIST "
                                                           "on the metastore")
    except DatabricksNotFound as err:
        log.info("INIT_SCRIPT allowlist not found: %s", err.message)
        return dataclasses.replace(access, allowlist_error="404: is a Unity Catalog metastore assigned "
                                                           "to the workspace?")
    except DatabricksUnavailable:
        raise  # the workspace is failing: as for any other call of the import
    except DatabricksCallError as err:
        return dataclasses.replace(access, allowlist_error=err.message)
    matchers = tuple(AllowlistMatcher(str(m.get("artifact") or ""), str(m.get("match_type") or ""))
                     for m in info.get("artifact_matchers") or [] if isinstance(m, dict))
    return dataclasses.replace(access, allowlist=matchers)
