"""What import puts in a workspace for the agent: its token as a secret the clusters' owners may
read, Trimtab's init script, and the agent's wheel beside it (or where the operator says).

Split from `server.services.workspaces`, which decides what to import; this module holds how the
agent gets onto the clusters (Databricks: the cluster owner needs READ on the secret scope; an
init script is fetched alone, so the wheel must be somewhere the node reads).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from server.databricks import (
    DatabricksCallError,
    DatabricksGateway,
    DatabricksNotFound,
    DatabricksServerError,
    DatabricksUnavailable,
    WorkspaceAuthError,
)
from server.databricks.gateway import DatabricksPermissionDenied
from server.domain import Project, Workspace
from server.errors import FailedPrecondition
from server.onboard import (
    AgentWiring,
    check_agent_wheel,
    run_as_principal,
    script_location,
    wheel_beside_script,
    wheel_locations,
)
from server.services.agent_secret import (
    agent_token_name,
    has_live_token,
    refuse_same_host,
    refuse_unsafe_write,
)
from server.services.agent_secret import check_secret as check_secret  # where import has always found it
from server.services.agent_secret_check import not_accepted, replaced
from server.services.agent_wheel import agent_wheel_file, agent_wheel_name
from server.store import Store

log = logging.getLogger(__name__)

# Trimtab's init script, uploaded where the wiring points. Beside the packages in a checkout, and in
# site-packages where the wheel puts it (pyproject.toml: init_scripts/ is packaged as package data).
INIT_SCRIPT = Path(__file__).resolve().parents[2] / "init_scripts" / "trimtab-init.sh"
# Why import refuses when this installation has no init script to upload: onboarded clusters would
# name a script nobody put there, and Databricks fails a cluster whose init script is missing
# (INIT_SCRIPT_FAILURE), so every run of every onboarded job would fail at start.
REASON_NO_SCRIPT = ("Trimtab's init script is not in this installation ({path} does not exist), so import cannot "
                    "upload it to {destination}: clusters onboarded to run it would fail to start "
                    "(INIT_SCRIPT_FAILURE). Reinstall trimtab (its wheel and sdist carry init_scripts/trimtab-init.sh)")


# Init scripts on DBFS: accepted (a workspace may still run them), said loudly at each import.
DBFS_WARNING = ("Trimtab's init script %s is on DBFS: Databricks has ended init scripts on DBFS (end of life; "
                "see 'Migrate init scripts from DBFS'), and a cluster that no longer runs them starts without "
                "the agent: set TRIMTAB_INIT_SCRIPT to a workspace path or a /Volumes path")
# Why a job is skipped when its run-as principal could not be given READ on the token's scope.
REASON_SECRET_ACL = ("its clusters run as {principal}, who must be able to read the agent's token "
                     "{{{{secrets/{scope}/{key}}}}} (Databricks: the cluster owner needs READ on the secret scope) "
                     "and Trimtab could not grant it: {error}. A manager of the scope can run `databricks secrets "
                     "put-acl {scope} {principal} READ`, then import again")


REASON_NO_OWNER = ("jobs/get names no run-as principal or creator, so Trimtab cannot give the clusters' owner "
                   "READ on the agent token's secret scope")


def standard_plan(ws: Workspace) -> bool:
    """A Standard-plan workspace has no secret ACLs: every user manages every scope."""
    return ws.plan == "standard"


def grant_secret_read(gateway: DatabricksGateway, wiring: AgentWiring, principal: str,
                      granted: set[str] | None = None) -> str | None:
    """Give ``principal`` (a job's run-as) READ on the agent token's scope unless it holds some
    permission there already (acls/put overwrites: a MANAGE must not become READ); None when it
    can read, else why not (a per-job skip reason naming the principal and the permission).
    ``granted`` gets ``principal`` when this call put the READ: only such a READ is Trimtab's to
    take away again (`release_secret_reads`)."""
    scope = wiring.secret_scope
    try:
        if gateway.secret_acl(scope, principal) is None:
            gateway.put_secret_acl(scope, principal, "READ")
            if granted is not None:
                granted.add(principal)
            log.info("granted %s READ on secret scope %s (the owner of onboarded job clusters)", principal, scope)
        return None
    except DatabricksPermissionDenied as err:
        error = err.message
    except DatabricksUnavailable:
        raise  # the workspace is failing: as for any other call of the import
    except DatabricksCallError as err:
        error = err.message  # e.g. 400 INVALID_PARAMETER_VALUE: no such principal
    return REASON_SECRET_ACL.format(principal=principal, scope=scope, key=wiring.secret_key, error=error)


# Where a project's state keeps whose READ on the agent token's scope its clusters need:
# ``{"scope": S, "principal": P, "granted": bool, "earlier": [Q, ...]}``, ``granted`` when an import of
# Trimtab's put that READ (P held nothing on the scope); ``earlier`` (absent when empty) the principals
# the job ran as at earlier imports whose READ Trimtab put and has not taken back (the job was handed
# over since). Databricks records no grantor on a secret ACL, so this is how Trimtab tells its own
# READ (which detach takes away again) from an admin's (which it never touches).
SECRET_READER_KEY = "secret_reader"


def reader_record(previous: Any, scope: str, principal: str, granted: bool) -> dict[str, Any]:
    """The `SECRET_READER_KEY` record of a project imported with clusters running as ``principal``.

    A grant recorded before for the same scope stays recorded: for the same principal, the next import
    finds the READ held (Trimtab's own) and puts none, which is no sign that someone else gave it; for
    another one (the job handed over since), it goes to ``earlier``, still Trimtab's to take back."""
    earlier = granted_readers(previous, scope)
    record: dict[str, Any] = {"scope": scope, "principal": principal, "granted": granted or principal in earlier}
    earlier.discard(principal)
    if earlier:
        record["earlier"] = sorted(earlier)
    return record


def granted_readers(record: Any, scope: str) -> set[str]:
    """The principals a `SECRET_READER_KEY` record says Trimtab gave READ on ``scope`` and still holds as its own."""
    if not (isinstance(record, dict) and record.get("scope") == scope):
        return set()
    earlier = record.get("earlier")
    readers = {str(p) for p in earlier if p} if isinstance(earlier, list) else set()
    if record.get("granted") and record.get("principal"):
        readers.add(str(record["principal"]))
    return readers


def _without_reader(record: dict[str, Any], principal: str) -> dict[str, Any]:
    """``record`` once the READ Trimtab gave ``principal`` is no longer its own (taken, or changed since)."""
    fresh = {**record, "granted": bool(record.get("granted")) and record.get("principal") != principal}
    earlier = sorted(granted_readers(record, str(record.get("scope"))) - {principal, str(record.get("principal"))})
    fresh.pop("earlier", None)
    if earlier:
        fresh["earlier"] = earlier
    return fresh



# Why a job handed over since its import cannot start, when the collector could not grant its new run-as READ.
REASON_HANDOVER_REFUSED = ("its run-as {principal} has no READ on secret scope {scope}, so its clusters cannot read the "
                           "agent token and do not start: a manager of the scope can run `databricks secrets put-acl "
                           "{scope} {principal} READ` (Trimtab could not: {error})")


def follow_run_as(store: Store, gateway: DatabricksGateway, projects: Iterable[Project], principal: str) -> str | None:
    """The job of ``projects`` now runs as ``principal`` (handed over since its import): give it READ on
    the scope its clusters read the agent token from, as import does (`grant_secret_read`: a permission
    it holds already is left as it is), and record it as import does (`reader_record`: the READ
    Trimtab gave the earlier run-as stays Trimtab's to take back, so a detach takes both). Its runs
    fail at cluster start without it. None when done or nothing to do (the records name ``principal``
    already, or keep no scope: imported before records were kept, or on a Standard plan); else why
    not, with the command a scope manager can run. `DatabricksUnavailable` and `WorkspaceAuthError`
    are raised: the workspace's trouble."""
    from server.apply import project_lock  # imports databricks-sdk: only where a lock is taken

    changed = [p for p in projects if isinstance(record := p.state.get(SECRET_READER_KEY), dict)
               and record.get("scope") and record.get("principal") and record.get("principal") != principal]
    if not principal or not changed:
        return None
    scope = str(changed[0].state[SECRET_READER_KEY]["scope"])
    try:
        granted = gateway.secret_acl(scope, principal) is None
        if granted:
            gateway.put_secret_acl(scope, principal, "READ")  # one put, the same READ if it is made again
    except DatabricksPermissionDenied as err:
        return REASON_HANDOVER_REFUSED.format(principal=principal, scope=scope, error=err.message)
    except DatabricksServerError as err:  # the secrets service failing: this job's note, tried again next poll
        return REASON_HANDOVER_REFUSED.format(principal=principal, scope=scope, error=err.message)
    except (DatabricksUnavailable, WorkspaceAuthError):
        raise
    except DatabricksCallError as err:  # e.g. 400: no such principal; tried again at the next poll
        return REASON_HANDOVER_REFUSED.format(principal=principal, scope=scope, error=err.message)
    for project in changed:
        with project_lock(int(project.id or 0), store):
            fresh = store.projects.get(int(project.id or 0))
            record = fresh.state.get(SECRET_READER_KEY)
            if not isinstance(record, dict) or record.get("principal") == principal:
                continue  # an import recorded it meanwhile
            state = {**fresh.state, SECRET_READER_KEY: reader_record(record, str(record.get("scope")), principal,
                                                                     granted)}
            store.projects.update(dataclasses.replace(fresh, state=state))
    return None


def release_secret_reads(store: Store, gateway: DatabricksGateway, ws: Workspace, scope: str,
                         candidates: Iterable[str], *, made: Iterable[str] = ()) -> list[str]:
    """Take READ on ``scope`` away from each of ``candidates`` that no project of ``ws`` still needs
    it for, when Trimtab gave it (recorded on a project of ``ws``, or ``made`` by the running import);
    the principals it was taken from.

    Needed by: every project of the workspace that is not detached, attached or orphaned (an orphan's
    job may still carry the wiring: another server took it over, reading the same scope), by the
    principal its record names and by its job's run-as read now (a job gone needs nothing). Only a
    READ is taken: a principal raised since to WRITE or MANAGE (Trimtab's own MANAGE included) was
    given that by someone else. Raises `DatabricksCallError` (nothing taken) when the workspace does
    not answer or one of those jobs cannot be read."""
    from server.apply import project_lock  # imports databricks-sdk: only where a lock is taken

    projects = store.projects.list(ws.name)
    ours = set(made).union(*(granted_readers(p.state.get(SECRET_READER_KEY), scope) for p in projects))
    wanted = {c for c in candidates if c in ours}
    if not wanted:
        return []
    attached = [p for p in projects if not p.detached]
    needed: set[str] = set()
    for project in attached:
        record = project.state.get(SECRET_READER_KEY)
        if isinstance(record, dict) and record.get("principal"):
            needed.add(str(record["principal"]))
    if wanted - needed:
        # A record names the run-as at the job's import: a job handed over since (bob -> eve) runs as
        # eve now and needs her READ as much, so every attached job's run-as is read, and added to the
        # records' principals (not put in their place: a run started before the change may still be
        # going as bob; detaching bob's last project takes his READ then).
        for job_id in sorted({p.job_id for p in attached}):
            try:
                needed.add(run_as_principal(gateway.get_job(job_id)))
            except DatabricksNotFound:
                continue  # a job gone runs nothing
            except DatabricksCallError as err:
                # Whom it runs as is unknown: it may be any of ``wanted``, so none is taken (the caller
                # logs what a scope manager can run once it is sure).
                raise type(err)(f"job {job_id} could not be read to see whom it runs as, so no READ was "
                                f"taken: {err.message}") from err
    released: list[str] = []
    for principal in sorted(wanted - needed):
        held = gateway.secret_acl(scope, principal)
        if held == "READ":
            gateway.delete_secret_acl(scope, principal)
            released.append(principal)
            log.info("workspace %s: took READ on secret scope %s from %s (no job it runs is onboarded any more)",
                     ws.name, scope, principal)
        # Taken, or no longer the READ Trimtab gave: either way no longer Trimtab's to take.
        for project in projects:
            if principal not in granted_readers(project.state.get(SECRET_READER_KEY), scope):
                continue
            with project_lock(int(project.id or 0), store):
                fresh = store.projects.get(int(project.id or 0))
                record = fresh.state.get(SECRET_READER_KEY)
                if principal not in granted_readers(record, scope):
                    continue  # an import rewrote it meanwhile
                state = {**fresh.state, SECRET_READER_KEY: _without_reader(record, principal)}
                store.projects.update(dataclasses.replace(fresh, state=state))
    return released


def release_detached_reader(store: Store, gateway: DatabricksGateway, project: Project) -> list[str]:
    """After ``project`` was detached: `release_secret_reads` of every principal Trimtab gave READ on the
    scope its clusters read (recorded on any project of the workspace: not only the one its record
    names, as a job handed over since runs as someone else, whose READ a detach of another project
    kept for it), logged (not raised) when the workspace refuses, with the command a scope manager can run."""
    record = project.state.get(SECRET_READER_KEY)
    if not isinstance(record, dict) or not record.get("principal"):
        return []  # imported before records were kept, or on a Standard plan: nothing known as Trimtab's
    scope = str(record["scope"])
    candidates = set().union(*(granted_readers(p.state.get(SECRET_READER_KEY), scope)
                               for p in store.projects.list(project.workspace)))
    try:
        return release_secret_reads(store, gateway, store.workspaces.get(project.workspace), scope, candidates)
    except DatabricksCallError as err:
        for principal in sorted(candidates):
            log.warning("project %s detached, but READ on secret scope %s given to %s was not taken back (%s): "
                        "a manager of the scope can run `databricks secrets delete-acl %s %s` once no job it "
                        "runs is onboarded", project.name, scope, principal, err, scope, principal)
        return []


# Why import refuses when the clusters would have no wheel to install the agent from.
REASON_NO_WHEEL = ("onboarded clusters could not install the agent: Trimtab's init script {script} is {why}, so "
                   "import cannot put the agent's wheel beside it; set TRIMTAB_AGENT_WHEEL_LOCATION to where clusters can "
                   "install it from ({where}), or TRIMTAB_INIT_SCRIPT to a workspace or /Volumes path import uploads "
                   "the script and the wheel to")
def agent_wheel_plan(wiring: AgentWiring) -> tuple[AgentWiring, str | None]:
    """The wiring with the wheel location clusters install from, and where import uploads the
    wheel (None: not uploaded, the location is the operator's). FailedPrecondition, saying what
    to set, when there is neither a usable setting nor an uploaded init script to put it beside,
    and when the init script import is to upload is not in this installation (`check_init_script`)."""
    check_init_script(wiring)
    if wiring.agent_wheel:
        try:
            check_agent_wheel(wiring.agent_wheel, wiring.init_script)
        except ValueError as exc:
            raise FailedPrecondition(str(exc)) from exc
        return wiring, None
    beside = wheel_beside_script(wiring.init_script, agent_wheel_name()) if wiring.upload_init_script else None
    if beside is None:
        kind, destination = script_location(wiring.init_script)
        why = ("not uploaded by Trimtab (managed elsewhere)" if not wiring.upload_init_script
               else f"in cloud storage ({kind}), which Trimtab holds no credentials for")
        raise FailedPrecondition(REASON_NO_WHEEL.format(script=destination or dict(wiring.init_script), why=why,
                                                        where=wheel_locations(wiring.init_script)))
    upload, on_node = beside
    return dataclasses.replace(wiring, agent_wheel=on_node), upload


def check_init_script(wiring: AgentWiring) -> None:
    """FailedPrecondition (`REASON_NO_SCRIPT`) when import is to upload Trimtab's init script and this
    installation has none: before any job is onboarded, as for a wheel clusters could not install."""
    if wiring.upload_init_script and not INIT_SCRIPT.is_file():
        _, destination = script_location(wiring.init_script)
        raise FailedPrecondition(REASON_NO_SCRIPT.format(path=INIT_SCRIPT,
                                                         destination=destination or dict(wiring.init_script)))


def _upload_wheel(gateway: DatabricksGateway, destination: str) -> None:
    """The agent's wheel at ``destination`` (a volume, workspace or dbfs: path), replacing it."""
    contents = agent_wheel_file().read_bytes()
    if destination.startswith("/Volumes/"):
        gateway.put_volume_file(destination, contents)
    elif destination.startswith("dbfs:"):
        gateway.put_dbfs_file(destination.removeprefix("dbfs:"), contents)
    else:
        gateway.put_workspace_file(destination, contents)


def prepare_agent(store: Store, gateway: DatabricksGateway, ws: Workspace, wiring: AgentWiring,
                   wheel_upload: str | None = None, *, take_over: bool = False) -> list[str]:
    """The agent's token as a Databricks secret, the init script where the spec points (a workspace
    file, DBFS, or a Unity Catalog volume through the Files API), and the agent's wheel beside it.

    A held secret this database never made a token for is not overwritten unless ``take_over``
    (`FOREIGN_SECRET`): only the warning below said so, and a second server importing one job took
    every agent of the workspace from the first. Nor is one read by the projects of another workspace
    name of this database at the same Databricks workspace, ``take_over`` or not (`SHARED_SECRET`):
    one job imported under a second name took every agent from the first's runs.

    Returns what the person importing should read about the secret (`server.services.agent_secret_check`):
    what a write replaced, or why the secret left as it is is not accepted by this server."""
    name = agent_token_name(ws)
    notes: list[str] = []
    written = gateway.secret_written_ms(wiring.secret_scope, wiring.secret_key)
    held = written is not None
    # The secret's value cannot be read back, but the token it holds is the newest live one of this
    # name: with none live (revoked by `trimtab token revoke`, or a new database behind the server)
    # every agent of the workspace is refused and its runs are collected without their data, which
    # only the agents' logs on the drivers said. Importing again writes a new token. One bound to
    # another workspace, or to none (made by hand), is not the workspace's: its data would be
    # refused or tied to other workspaces' runs alike.
    live = has_live_token(store, ws)
    if not held or not live or take_over:
        # Before anything is written: `check_secret`, without listing the secrets again.
        refuse_unsafe_write(store, gateway, ws, wiring, held=held, take_over=take_over)
    else:
        refuse_same_host(store, ws, wiring)
    if held and not live:
        log.warning("workspace %s: no live agent token %r bound to it in this database (revoked, made without "
                    "--workspace, or another database wrote the secret): writing a new one into secret %s/%s",
                    ws.name, name, wiring.secret_scope, wiring.secret_key)
    # Taking over: whatever the secret holds may be another server's token, whatever this database
    # holds (a server taking a job back that the other one took over: its own token is live here).
    if not held or not live or take_over:
        # The plaintext exists only here: it goes straight into the workspace's secret scope. Bound to
        # the workspace: what its agents send is tied only to its own runs (`server.collect.build`).
        token, plaintext = store.tokens.create(name, "agent", workspace=ws.name)
        # A Standard-plan workspace refuses a scope without initial_manage_principal "users".
        gateway.put_secret(wiring.secret_scope, wiring.secret_key, plaintext,
                           initial_manage_principal="users" if standard_plan(ws) else None)
        if held:
            # Said, not only logged: a take-over replaced the secret without a word (review: deliv).
            notes.append(replaced(store, ws, wiring, token, written, take_over))
    elif (why := not_accepted(store, ws, wiring, name, written)) is not None:
        # The import leaves the secret: it may be another server's, whose agents an overwrite cuts off.
        notes.append(why)
    if wheel_upload is not None:
        _upload_wheel(gateway, wheel_upload)
    if not wiring.upload_init_script:
        return notes
    check_init_script(wiring)  # import checked it first (`agent_wheel_plan`): the file may have gone since
    workspace_file = (wiring.init_script.get("workspace") or {}).get("destination")
    dbfs = (wiring.init_script.get("dbfs") or {}).get("destination")
    volume = (wiring.init_script.get("volumes") or {}).get("destination")
    if workspace_file:
        gateway.put_workspace_file(str(workspace_file), INIT_SCRIPT.read_bytes())
    elif dbfs:
        gateway.put_dbfs_file(str(dbfs).removeprefix("dbfs:"), INIT_SCRIPT.read_bytes())
    elif volume:
        gateway.put_volume_file(str(volume), INIT_SCRIPT.read_bytes())
    else:
        # Cloud storage: Trimtab holds no credentials for the bucket or container.
        log.info("init script %s is not uploaded by Trimtab: make sure it is there", dict(wiring.init_script))
    return notes
