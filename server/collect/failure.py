"""Whose fault a failed run is: the cloud's or the service's (transient), or the configuration's (pure).

A failed run teaches the model to avoid its configuration. That is right when the configuration
caused it (a cluster policy refused it, the job's code failed on it, it ran out of memory), and
wrong when the cloud or Databricks did (no capacity for the instance type, a reclaimed spot
driver, a request limit, a platform error): the same configuration would run tomorrow. Anything
this module does not recognise is the configuration's, as before it existed: avoiding a
configuration once too often costs a little, learning a broken one as fine costs a failed night.

Evidence, in order:
1. the failed tasks' own words that the configuration was refused or ran out of memory (these
   win: "Cluster validation error: ...", ``INVALID_CLUSTER_REQUEST``, ``OutOfMemoryError``);
2. ``INIT_SCRIPT_FAILURE`` naming Trimtab's own init script (`server.collect.own_script`): Trimtab's
   doing, not the configuration's (the job's own init scripts failing stay its fault, below);
3. the cluster's ``termination_reason {code, type}`` (``clusters/get``), the most specific word on
   why a cluster that was created died;
4. each failed task's ``status.termination_details {code, type, message}`` (Jobs API 2.2): every
   failed task must point at the cloud or the service, by a cluster code its message quotes, or
   by its type when its code does not name the job, its driver or its cluster (`OWN_RUN_CODES`).

The code names are databricks-sdk 0.167.0's enums, checked against the installed package (a test
keeps them so): ``jobs.TerminationCodeCode`` and ``jobs.TerminationTypeType`` (CLOUD_FAILURE:
"an issue with your cloud provider"; INTERNAL_ERROR: "an error occurred in the platform"), and
``compute.TerminationReasonCode`` / ``compute.TerminationReasonType`` (CLOUD_FAILURE: "AWS or
Azure infrastructure issue"; SERVICE_FAULT: "Databricks service issue. Clients may retry";
CLIENT_ERROR: "Client must fix parameters").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.collect.own_script import INIT_SCRIPT_CODE, failed_own_script
from server.memory_failure import says_out_of_memory

# jobs.TerminationTypeType: the run failed for the cloud or the platform, not its configuration.
TRANSIENT_RUN_TYPES = frozenset({"CLOUD_FAILURE", "INTERNAL_ERROR"})
# jobs.TerminationCodeCode for limits and outages outside the configuration.
TRANSIENT_RUN_CODES = frozenset({
    "CLOUD_FAILURE", "CLUSTER_REQUEST_LIMIT_EXCEEDED", "WORKSPACE_RUN_LIMIT_EXCEEDED",
    "MAX_CONCURRENT_RUNS_EXCEEDED", "INTERNAL_ERROR",
})
# jobs.TerminationCodeCode that say the configuration itself was refused.
REFUSED_RUN_CODES = frozenset({"INVALID_CLUSTER_REQUEST", "INVALID_RUN_CONFIGURATION"})
# jobs.TerminationCodeCode that name the job's run or its driver as what failed: the
# configuration's (or the job's own) whatever type the run reports. Review: a driver that ran out
# of memory, reported DRIVER_ERROR typed INTERNAL_ERROR, was read as the cloud's doing, so the
# driver was never sized up and the job failed the same way every night. Codes about things
# outside the cluster's size (a git checkout, storage access, a library index, permissions) are
# left to the type: typed as the cloud's or the platform's they are an outage, not the size.
OWN_RUN_CODES = frozenset({"RUN_EXECUTION_ERROR", "DRIVER_ERROR", "MAX_SPARK_CONTEXTS_EXCEEDED"})

# compute.TerminationReasonType of a cluster that died for the cloud or the service.
TRANSIENT_CLUSTER_TYPES = frozenset({"CLOUD_FAILURE", "SERVICE_FAULT"})
# compute.TerminationReasonCode: no capacity, a lost or unreachable instance, throttling, an outage.
# Transient even when the record carries no type.
TRANSIENT_CLUSTER_CODES = frozenset({
    "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", "AWS_REQUEST_LIMIT_EXCEEDED",
    "AZURE_VM_EXTENSION_FAILURE", "AZURE_RESOURCE_MANAGER_THROTTLING", "AZURE_RESOURCE_PROVIDER_THROTTLING",
    "GCP_INSUFFICIENT_CAPACITY", "GCP_API_RATE_QUOTA_EXCEEDED",
    "CLOUD_PROVIDER_LAUNCH_FAILURE", "CLOUD_PROVIDER_INSTANCE_NOT_LAUNCHED", "CLOUD_PROVIDER_RESOURCE_STOCKOUT",
    "CLOUD_PROVIDER_SHUTDOWN", "CLOUD_PROVIDER_DISK_SETUP_FAILURE", "BOOTSTRAP_TIMEOUT_CLOUD_PROVIDER_EXCEPTION",
    "UNEXPECTED_LAUNCH_FAILURE", "INSTANCE_UNREACHABLE", "SPOT_INSTANCE_TERMINATION", "COMMUNICATION_LOST",
    "CONTROL_PLANE_REQUEST_FAILURE", "CLUSTER_OPERATION_THROTTLED", "REQUEST_THROTTLED",
    "TEMPORARILY_UNAVAILABLE", "SPARK_IMAGE_DOWNLOAD_THROTTLED", "STORAGE_DOWNLOAD_FAILURE_THROTTLED",
    "INTERNAL_ERROR",
})
# Of those, the cloud having no capacity for the instance type asked for: another type may launch
# (`models.changes.refused_instance_types` avoids a type refused so a few times in a row). The
# others (throttling, a reclaimed or unreachable instance, an outage) say nothing of the type.
CAPACITY_CLUSTER_CODES = frozenset({
    "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", "GCP_INSUFFICIENT_CAPACITY",
    "CLOUD_PROVIDER_INSTANCE_NOT_LAUNCHED", "CLOUD_PROVIDER_RESOURCE_STOCKOUT",
})
# compute.TerminationReasonCode that the configuration causes even when typed as the service's or
# the cloud's: its driver's health (sized by the configuration), its init scripts (the job's own:
# Trimtab's is told apart first, `classify_failure`), and quotas and
# pool capacity, which the size asked for exceeds (a smaller configuration would have launched).
# Codes ending in _DUE_TO_MISCONFIG are the configuration's too.
CONFIGURATION_CLUSTER_CODES = frozenset({
    "DRIVER_OUT_OF_MEMORY", "DRIVER_OUT_OF_DISK", "DRIVER_UNRESPONSIVE", "DRIVER_UNHEALTHY",
    "DRIVER_UNEXPECTED_FAILURE", "SPARK_ERROR", "INIT_SCRIPT_FAILURE", "INVALID_ARGUMENT",
    "UNSUPPORTED_INSTANCE_TYPE", "INSTANCE_POOL_MAX_CAPACITY_REACHED",
    "AWS_MAX_SPOT_INSTANCE_COUNT_EXCEEDED_FAILURE", "AWS_RESOURCE_QUOTA_EXCEEDED",
    "AZURE_QUOTA_EXCEEDED_EXCEPTION", "GCP_QUOTA_EXCEEDED", "GCP_RESOURCE_QUOTA_EXCEEDED",
})
_MISCONFIG_SUFFIX = "_DUE_TO_MISCONFIG"
# compute.TerminationReasonCode of a cluster that could not read a secret its spark_env_vars name
# (the agent's token: the cluster owner lacks READ on the scope, or the secret is gone). Every
# configuration fails alike until someone fixes the grant, so it is not the configuration's: explained,
# not avoided (the run's message says what to fix).
ACCESS_CLUSTER_CODES = frozenset({"SECRET_RESOLUTION_ERROR", "SECRET_PERMISSION_DENIED"})

# The configuration's own failure in a task's words: a policy refusal ("Cluster validation error:
# ...", the service's sentence), or memory (the JVM's error, an executor killed for it:
# `server.memory_failure.says_out_of_memory`).
_CONFIGURATION_MARKERS = ("cluster validation error",)
# A cluster termination code quoted in a task's message (e.g. "... Terminated:
# AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE(CLOUD_FAILURE) ..."), for when the cluster record is not
# at hand. INTERNAL_ERROR is too common a word in messages to count.
_CODE_TOKEN = re.compile(r"\b[A-Z][A-Z0-9_]{6,}\b")
_MESSAGE_CODES = TRANSIENT_CLUSTER_CODES - {"INTERNAL_ERROR"}


@dataclass(frozen=True)
class FailureCause:
    """``transient``: the cloud's or the service's doing (or Trimtab's own init script's), not the
    configuration's. ``reason``: the evidence in Databricks' codes
    ("AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE (CLOUD_FAILURE)"), "" when none was given.
    ``own_init_script``: the destination of Trimtab's init script when it is what failed, else ""."""

    transient: bool
    reason: str = ""
    own_init_script: str = ""


def no_capacity(cause: FailureCause | None) -> bool:
    """The cloud had no capacity for the instance type (`CAPACITY_CLUSTER_CODES`)."""
    return cause is not None and cause.transient and cause.reason.split(" ", 1)[0] in CAPACITY_CLUSTER_CODES


def _text(value: Any) -> str:
    return str(value or "")


def _reason(code: str, type_: str) -> str:
    if code and type_ and code != type_:
        return f"{code} ({type_})"
    return code or type_


def _refused(details: Mapping[str, Any]) -> bool:
    message = _text(details.get("message"))
    return (_text(details.get("code")) in REFUSED_RUN_CODES or any(m in message.lower() for m in _CONFIGURATION_MARKERS)
            or says_out_of_memory(message))


def _cluster_cause(reason: Mapping[str, Any]) -> FailureCause | None:
    """The cluster record's verdict, or None when it says nothing about a failure (JOB_FINISHED,
    USER_REQUEST, no record)."""
    code, type_ = _text(reason.get("code")), _text(reason.get("type"))
    if code in CONFIGURATION_CLUSTER_CODES or code.endswith(_MISCONFIG_SUFFIX):
        return FailureCause(False, _reason(code, type_))
    if code in TRANSIENT_CLUSTER_CODES or code in ACCESS_CLUSTER_CODES or type_ in TRANSIENT_CLUSTER_TYPES:
        return FailureCause(True, _reason(code, type_))
    return None


def _task_cause(details: Mapping[str, Any]) -> FailureCause:
    code, type_ = _text(details.get("code")), _text(details.get("type"))
    # Most specific first: a cluster termination code the message quotes (the cluster record's
    # words, when the record is not at hand), then the run's code, and its type only last.
    quoted = [t for t in _CODE_TOKEN.findall(_text(details.get("message"))) if t in _MESSAGE_CODES]
    if quoted:
        return FailureCause(True, quoted[0])
    if code in OWN_RUN_CODES:  # the code names what failed: the type only says who reported it
        return FailureCause(False, _reason(code, type_))
    if type_ in TRANSIENT_RUN_TYPES or (type_ != "CLIENT_ERROR" and code in TRANSIENT_RUN_CODES):
        return FailureCause(True, _reason(code, type_))
    return FailureCause(False, _reason(code, type_))


def classify_failure(failed_tasks: Sequence[Mapping[str, Any]],
                     cluster_reason: Mapping[str, Any] | None = None,
                     own_init_scripts: Sequence[Mapping[str, Any]] = ()) -> FailureCause:
    """Whose fault a failed piece is.

    ``failed_tasks``: each failed task's ``termination_details`` ({code, type, message}; the message
    may be the task's ``state_message`` when the run reports no details). ``cluster_reason``: the
    cluster record's ``termination_reason`` ({code, type, parameters}), None when there was no
    cluster or it could not be read. ``own_init_scripts``: the InitScriptInfo entries that are
    Trimtab's on the cluster (`server.collect.own_script.trimtab_scripts`).
    """
    refusals = [d for d in failed_tasks if _refused(d)]
    if refusals:
        first = refusals[0]
        return FailureCause(False, _reason(_text(first.get("code")), _text(first.get("type"))))
    script = failed_own_script(failed_tasks, cluster_reason, own_init_scripts)
    if script:
        # Every configuration fails alike until the script is put back: explained, not avoided.
        type_ = _text((cluster_reason or {}).get("type"))
        return FailureCause(True, _reason(INIT_SCRIPT_CODE, type_), own_init_script=script)
    if cluster_reason:
        verdict = _cluster_cause(cluster_reason)
        if verdict is not None:
            return verdict
    causes = [_task_cause(d) for d in failed_tasks]
    if causes and all(c.transient for c in causes):
        return causes[0]
    # Unknown, or the job's own code failed (RUN_EXECUTION_ERROR, DRIVER_ERROR, CLIENT_ERROR ...):
    # the configuration's, as it always was.
    return next((c for c in causes if not c.transient), FailureCause(False))
