"""Detach: give the job back to the user as it was before Trimtab, less what onboarding added."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from server.apply_lock import _locked
from server.apply_record import BEFORE_WRITES_KEY, LAST_WRITE_KEY, trimtab_wrote
from server.databricks import DatabricksGateway, DatabricksNotFound
from server.domain import OWNER_SIZING_KEY, Project
from server.errors import FailedPrecondition
from server.job_write import ApplyResult, WriteSettled, _settle_announced, _write_verified, project_cloud
from server.onboard import DEFAULT_INIT_SCRIPT, TRIMTAB_TAGS, spec_diff, taken_over
from server.owned_fields import OWNED_ATTRIBUTES, OWNED_NODE_FIELDS, _put_or_drop, _with_tag, owned_from
from server.spec import (
    SIZING_FIELDS,
    SPOT_CAP_FIELD,
    find_cluster_spec,
    spot_cap_node_types,
    without_stale_spot_cap,
)
from server.store import Store
from server.write_intent import announce, intent, without_intent


@_locked
def restore_original(store: Store, gateway: DatabricksGateway, project_id: int, *,
                     dry_run: bool = False) -> ApplyResult:
    """Detach: take Trimtab off the job's cluster, stop managing (`detached_spec`: Trimtab's agent,
    tags and log delivery removed, the sizing, node types and availability it wrote put back as
    imported where they still hold what it wrote; the user's own edits since stay)."""
    project = store.projects.get(project_id)
    try:
        # First, a detached project's too: a re-attach written and never recorded left Trimtab's init
        # script on the job of a project that still reads detached.
        settled_project = _settle_announced(store, gateway, project_id, dry_run=dry_run)
    except WriteSettled as settled:
        if settled.kind == "detach":
            return ApplyResult(None, "", applied=False, message=f"project {project.name} detached")
        settled_project = store.projects.get(project_id)  # recorded: detached from what it holds now
    if settled_project is None:  # an import that never reached the job: its project removed
        return ApplyResult(None, "", applied=False, message=f"project {project.name} detached")
    project = settled_project
    if project.detached:
        return ApplyResult(None, "", applied=False, message=f"project {project.name} is already detached")
    if not project.original_spec:
        raise FailedPrecondition(f"project {project.name}: no original spec recorded")
    diff = ""
    current = dict(project.original_spec)
    if not project.orphaned:
        try:
            job = gateway.get_job(project.job_id)
        except DatabricksNotFound:
            job = None
        settings = (job or {}).get("settings") or {}
        live = find_cluster_spec(settings, project.cluster_key)
        # Taken over by another server: its wiring is not Trimtab's to take off (that server's agents
        # would stop); the project is only let go here.
        if live is not None and taken_over(project, live) is None:
            restored = detached_spec(store, project, live)
            diff = spec_diff(live, restored, f"job {project.job_id} / {project.cluster_key}")
            current = live
            if not dry_run and diff:
                project = announce(store, project, intent("detach", expected=restored, before=live,
                                                          at_ms=store.clock.now_ms()))
                current = _write_verified(store, gateway, project, settings, live, restored)
    if dry_run:
        return ApplyResult(None, diff, applied=False, message="dry run: nothing changed")
    finish_detach(store, project, current)
    return ApplyResult(None, diff, applied=bool(diff), message=f"project {project.name} detached")


def finish_detach(store: Store, project: Project, current: dict[str, Any]) -> None:
    """Record the project detached, its cluster now ``current``: the pending recommendation
    superseded, the records of Trimtab's writes (and any announced write) gone. Call under the lock."""
    pending = store.recommendations.pending(int(project.id or 0))
    states = {pending.id: "superseded"} if pending is not None and pending.id is not None else {}
    # Detached, Trimtab has written nothing the next import should take for its own.
    state = {k: v for k, v in without_intent(project.state).items()
             if k not in (LAST_WRITE_KEY, BEFORE_WRITES_KEY, OWNER_SIZING_KEY)}
    store.projects.update(dataclasses.replace(project, detached=True, pending_apply=None, current_spec=current,
                                              state=state), recommendations=states)


# Where `Project.state` keeps what importing added to the cluster (`server.onboard.onboard_spec`)
# beyond the spec found: ``{"init_scripts": [entry...], "cluster_log_conf": {...} | None}``, so
# detach removes exactly those (`detached_spec`), never an init script the user added since.
ONBOARDED_KEY = "onboarded"


# The variables onboarding sets for the agent (`server.onboard`: TRIMTAB_SERVER, TRIMTAB_TOKEN, ...).
AGENT_ENV_PREFIX = "TRIMTAB_"


def onboard_record(original: dict[str, Any], found: dict[str, Any], onboarded: dict[str, Any],
                   init_script: dict[str, Any], recorded: dict[str, Any] | None) -> dict[str, Any]:
    """The `ONBOARDED_KEY` record after an import onboarded ``found`` as ``onboarded`` with
    ``init_script``: the scripts of earlier imports kept (the wiring may have changed since, and their
    entries stay on the job), none the spec had at first import (``original``)."""
    recorded = recorded or {}
    kept = list(original.get("init_scripts") or [])
    scripts = [s for s in recorded.get("init_scripts") or [] if s not in kept]
    if init_script not in kept and init_script not in scripts:
        scripts.append(copy.deepcopy(init_script))
    log_conf = recorded.get("cluster_log_conf")
    if not original.get("cluster_log_conf") and not found.get("cluster_log_conf"):
        log_conf = copy.deepcopy(onboarded.get("cluster_log_conf"))
    return {"init_scripts": scripts, "cluster_log_conf": log_conf}


def detached_spec(store: Store, project: Project, live: dict[str, Any]) -> dict[str, Any]:
    """The cluster ``live`` with Trimtab taken off: what detach writes.

    Started from the live spec, so the user's edits since the import (a newer spark_version, Spark
    conf, an instance profile...) stay. Removed: Trimtab's init script, its TRIMTAB_* variables and
    tags, and the log delivery the import added (`ONBOARDED_KEY`). Put back as imported: each field
    a recommendation owns (`owned_from`) that still holds what Trimtab last wrote (`trimtab_wrote`),
    as it was before Trimtab's first write (`BEFORE_WRITES_KEY`); one the user changed since (a resize
    after the apply, or before a re-attach) stays theirs. An Azure spot cap goes back only with the
    node types it was set for (`_unless_edited`)."""
    original = project.original_spec
    out = copy.deepcopy(live)
    pending = project.pending_apply or {}
    written = trimtab_wrote(project)
    if written:
        cloud = project_cloud(store, project)
        before = project.state.get(BEFORE_WRITES_KEY)
        before = before if isinstance(before, dict) else original  # applied before the key was kept
        out = owned_from(out, _unless_edited(before, live, written, cloud=cloud), cloud=cloud)
    added = project.state.get(ONBOARDED_KEY)
    recorded = pending.get("applied_spec") or project.current_spec
    if added is None:
        # Imported before the record was kept, or by an import stopped before recording it: the
        # scripts and log delivery Trimtab recorded beyond the original spec are taken as its own,
        # and so is any script on the cluster it knows for its own (`_known_scripts`): left on, it
        # runs as root at every start after Trimtab said it was gone.
        known = _known_scripts(store, project)
        added = {"init_scripts": [s for s in [*(recorded.get("init_scripts") or []), *(live.get("init_scripts") or [])]
                                  if s not in (original.get("init_scripts") or [])
                                  and (s in (recorded.get("init_scripts") or []) or s in known
                                       or (isinstance(s, dict) and _default_named(s)))],
                 "cluster_log_conf": None if original.get("cluster_log_conf") else recorded.get("cluster_log_conf")}
    theirs = original.get("init_scripts") or []
    ours = [s for s in added.get("init_scripts") or [] if s not in theirs]
    scripts = [s for s in out.get("init_scripts") or [] if s not in ours]
    _put_or_drop(out, "init_scripts", scripts, original)
    env = {k: v for k, v in (out.get("spark_env_vars") or {}).items() if not k.startswith(AGENT_ENV_PREFIX)}
    env.update({k: v for k, v in (original.get("spark_env_vars") or {}).items() if k.startswith(AGENT_ENV_PREFIX)})
    _put_or_drop(out, "spark_env_vars", env, original)
    tags = dict(out.get("custom_tags") or {})
    for tag in TRIMTAB_TAGS:
        tags = _with_tag(tags, original, tag)
    _put_or_drop(out, "custom_tags", tags, original)
    if not original.get("cluster_log_conf") and added.get("cluster_log_conf") and \
            out.get("cluster_log_conf") == added["cluster_log_conf"]:
        out.pop("cluster_log_conf", None)
    return out


def _known_scripts(store: Store, project: Project) -> list[dict[str, Any]]:
    """The init scripts Trimtab knows for its own in the project's workspace: those the other
    projects' import records name (`ONBOARDED_KEY`: the configured script, as imports wrote it)."""
    out: list[dict[str, Any]] = []
    for other in store.projects.list(project.workspace):
        record = other.state.get(ONBOARDED_KEY)
        for script in (record or {}).get("init_scripts") or [] if isinstance(record, dict) else []:
            if script not in out:
                out.append(script)
    return out


def _default_named(script: dict[str, Any]) -> bool:
    """Whether an InitScriptInfo names a file called as Trimtab's default init script."""
    name = DEFAULT_INIT_SCRIPT.rsplit("/", 1)[-1]
    return any(isinstance(v, dict) and str(v.get("destination", "")).rsplit("/", 1)[-1] == name
               for v in script.values())


def _unless_edited(before: dict[str, Any], live: dict[str, Any], written: dict[str, Any], *,
                   cloud: str) -> dict[str, Any]:
    """``before`` (the spec before Trimtab wrote) with each field Trimtab owns that ``live`` no longer
    has as Trimtab ``written`` it (the user's edit since) taken from ``live``: what detach puts back
    (`owned_from`) changes only the fields still Trimtab's. The sizing is one field (num_workers or
    autoscale)."""
    target = copy.deepcopy(before)

    def take(spec: dict[str, Any], key: str) -> None:
        if key in live:
            spec[key] = copy.deepcopy(live[key])
        else:
            spec.pop(key, None)

    if {k: live.get(k) for k in SIZING_FIELDS} != {k: written.get(k) for k in SIZING_FIELDS}:
        for key in SIZING_FIELDS:
            take(target, key)
    for key in OWNED_NODE_FIELDS:
        if live.get(key) != written.get(key):
            take(target, key)
    block = "azure_attributes" if cloud == "azure" else "aws_attributes"
    theirs, ours = live.get(block) or {}, written.get(block) or {}
    attrs = dict(target.get(block) or {})
    # An Azure spot cap is a price of the node types it was set for (`server.spec.without_stale_spot_cap`):
    # ``before``'s goes back only with ``before``'s node types. Under the types the owner chose since,
    # the cap stays as the job has it (Trimtab's -1, or the owner's own cap), as theirs.
    cap_from_live = spot_cap_node_types(target) != spot_cap_node_types(before)
    for key in OWNED_ATTRIBUTES:
        if theirs.get(key) != ours.get(key) or (key == SPOT_CAP_FIELD and cap_from_live):
            if key in theirs:
                attrs[key] = copy.deepcopy(theirs[key])
            else:
                attrs.pop(key, None)
    _put_or_drop(target, block, attrs, before)
    if cloud != "azure":
        return target
    # A cap taken from the job is a price of the job's node types: onto others (the owner edited the
    # cap, not the types Trimtab wrote, which go back to ``before``'s), -1 rather than a stale price.
    cap_from_live = cap_from_live or theirs.get(SPOT_CAP_FIELD) != ours.get(SPOT_CAP_FIELD)
    return without_stale_spot_cap(live if cap_from_live else before, target)
