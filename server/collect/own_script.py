"""Whether a cluster that failed at start failed on Trimtab's own init script (pure).

A cluster whose init script exits non-zero (or is missing, or refused) is terminated with
``INIT_SCRIPT_FAILURE``, and Databricks names the script in its words, by the destination the spec
gives it: ``Cluster scoped init script /Shared/trimtab/trimtab-init.sh failed: Script exit status is
non-zero`` (the cluster's ``termination_reason.parameters.databricks_error_message``, quoted in the
tasks' messages). Trimtab's script always exits 0 (init_scripts/trimtab-init.sh), so when it is the
one named, someone replaced it, removed it, or the runtime would not run it: every configuration
fails alike until it is put back. Held against the configuration, the run taught the model to avoid
a cluster that was fine and auto-apply moved the job off it. A failure of the user's own script
stays the configuration's, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from server.detach import ONBOARDED_KEY
from server.domain import Project
from server.standard_access import DEFAULT_INIT_SCRIPT, script_location

# compute.TerminationReasonCode of a cluster whose init script failed.
INIT_SCRIPT_CODE = "INIT_SCRIPT_FAILURE"
# A script in cloud storage (s3, abfss, gcs): import uploads Trimtab's script only to a workspace file,
# DBFS or a volume (`server.services.agent_install.prepare_agent`); there it is the operator's to put.
_CLOUD_URI = re.compile(r"^[a-z][a-z0-9+.-]*://")
# A path in Databricks' words: an absolute one, or a URI (dbfs:/, s3://, abfss://, file:/).
_PATH = re.compile(r"(?:\b[a-z][a-z0-9+.-]*:)?/[^\s,;'\"()\[\]]+")


def _normal(path: str) -> str:
    """One spelling of a path: a workspace file is ``/Shared/x`` or ``/Workspace/Shared/x``, a DBFS
    file ``dbfs:/x`` or, as a node reads it, ``/dbfs/x``."""
    path = path.rstrip(".:")
    if path.startswith("/Workspace/"):
        return path[len("/Workspace"):]
    if path.startswith("/dbfs/"):
        return "dbfs:" + path[len("/dbfs"):]
    return path.removeprefix("file:")


def trimtab_scripts(project: Project, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The init script entries that are Trimtab's on ``project``'s cluster: those its imports recorded
    (`ONBOARDED_KEY`), never one the cluster had when first imported. A project imported before the
    record was kept: a script of ``spec`` named as Trimtab's default one (``trimtab-init.sh``)."""
    theirs = project.original_spec.get("init_scripts") or []
    record = project.state.get(ONBOARDED_KEY)
    if isinstance(record, dict):
        scripts = record.get("init_scripts") or []
    else:
        name = DEFAULT_INIT_SCRIPT.rsplit("/", 1)[-1]
        scripts = [s for s in spec.get("init_scripts") or []
                   if isinstance(s, Mapping) and script_location(s)[1].rsplit("/", 1)[-1] == name]
    return [dict(s) for s in scripts if isinstance(s, Mapping) and s not in theirs and script_location(s)[1]]


def failed_own_script(failed_tasks: Sequence[Mapping[str, Any]], cluster_reason: Mapping[str, Any] | None,
                      own: Iterable[Mapping[str, Any]]) -> str:
    """The destination of the script of ``own`` (`trimtab_scripts`) whose failure failed the cluster,
    "" when the cluster failed otherwise or on another script.

    The cluster record's reason decides when it is at hand: ``INIT_SCRIPT_FAILURE`` naming the script.
    Without it (purged 30 days after the cluster ended, or not read), a task's message that quotes
    Databricks' words on an init script naming it."""
    reason = cluster_reason or {}
    code = str(reason.get("code") or "")
    if code and code != INIT_SCRIPT_CODE:
        return ""
    texts = [str((reason.get("parameters") or {}).get("databricks_error_message") or "")] if code else []
    texts += [str(t.get("message") or "") for t in failed_tasks]
    named = {_normal(p) for text in texts if "init script" in text.lower() for p in _PATH.findall(text)}
    destinations = (script_location(s)[1] for s in own)
    return next((d for d in destinations if d and _normal(d) in named), "")


# How the run's message of such a run opens (`own_script_message`), around the script's destination:
# what the workspace's health note reads it back from (`failed_script_of`).
_OPENING = "Trimtab's init script "
_FAILED = " failed the cluster at start ("


def own_script_fix(destination: str, workspace: str) -> str:
    """What puts Trimtab's init script back: an import uploads it, except to cloud storage."""
    return (f"put it back at {destination} (Trimtab does not upload to cloud storage)" if _CLOUD_URI.match(destination)
            else f"`trimtab workspace import {workspace}` uploads it again")


def own_script_message(destination: str, workspace: str, spec: Mapping[str, Any], cluster_id: str,
                       said: str) -> str:
    """The run's message when Trimtab's init script (at ``destination``) failed its cluster: what
    failed, that the configuration is not blamed, and what to do; then Databricks' own words (``said``)."""
    logs = _init_logs(spec, cluster_id)
    return (f"{_OPENING}{destination}{_FAILED}not this configuration's fault: "
            f"not learned, not avoided); {own_script_fix(destination, workspace)}, and the cluster's init script "
            f"logs{logs} say why" + (f". Databricks: {said}" if said else ""))


def failed_script_of(message: str) -> str:
    """The destination of Trimtab's init script a run's message says failed its cluster (`own_script_message`),
    "" for any other message."""
    if not message.startswith(_OPENING) or _FAILED not in message:
        return ""
    return message[len(_OPENING):].split(_FAILED, 1)[0]


def _init_logs(spec: Mapping[str, Any], cluster_id: str) -> str:
    """Where the cluster's init script logs were delivered (" in <dest>/<cluster>/init_scripts/"), ""
    when it has no log delivery."""
    conf = spec.get("cluster_log_conf") or {}
    for kind in ("dbfs", "volumes", "s3"):
        destination = str((conf.get(kind) or {}).get("destination") or "") if isinstance(conf, Mapping) else ""
        if destination:
            return f" (in {destination.rstrip('/')}/{cluster_id or '<cluster id>'}/init_scripts/)"
    return ""
