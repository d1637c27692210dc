"""The cluster policies a job's clusters name, read for import (`server.onboard.qualify`).

What a policy fixes (or fills in as a default the spec asks for) is the cluster's as much as what its
spec sets: a policy fixing ``data_security_mode: USER_ISOLATION`` makes a standard-access cluster of a
spec that says nothing of it, where Trimtab's workspace init script fails every run; Databricks'
"Single Node" policy makes a single-node one. Import judges the cluster Databricks creates, so it
reads each policy named, once per import. One that cannot be read (403, 404, a definition that is
not JSON) is why its clusters are left out, never a reason to onboard them blind.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from server.databricks import (
    DatabricksCallError,
    DatabricksGateway,
    DatabricksUnavailable,
    WorkspaceAuthError,
)
from server.errors import FailedPrecondition
from server.onboard import named_policies
from server.plan.policy import ClusterPolicy

log = logging.getLogger("server.services.workspaces")  # import's log lines keep one name

# A policy as read, or why it could not be.
PolicyRead = ClusterPolicy | str


def job_policies(gateway: DatabricksGateway, job: dict[str, Any],
                 read: MutableMapping[str, PolicyRead]) -> dict[str, PolicyRead]:
    """The policies ``job``'s clusters name, by id (`named_policies`), each read at most once into
    ``read`` (the import's copies: jobs often share a policy). A failing workspace (unavailable, the
    token refused outright) raises, as for any call of the import; any other refusal is the answer."""
    for policy_id in named_policies(job):
        if policy_id in read:
            continue
        read[policy_id] = read_policy(gateway, policy_id)
        if not isinstance(read[policy_id], ClusterPolicy):
            log.info("cluster policy %s not read at import: %s", policy_id, read[policy_id])
    return {policy_id: read[policy_id] for policy_id in named_policies(job)}


def read_policy(gateway: DatabricksGateway, policy_id: str) -> PolicyRead:
    """One policy as read, or why it could not be (refused, unknown, a definition that is not JSON):
    that policy's alone. A failing workspace (unavailable, the token refused outright) raises."""
    try:
        return ClusterPolicy.from_api(gateway.get_cluster_policy(policy_id))
    except (DatabricksUnavailable, WorkspaceAuthError):
        raise
    except (DatabricksCallError, FailedPrecondition) as err:
        return err.message


def policy_states(policies: Mapping[str, PolicyRead], ids: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Each of ``ids`` (among a job's ``policies``, `job_policies`) with `policy_state`: what auto-import
    compares a later read with."""
    return tuple((policy_id, policy_state(policies.get(policy_id, ""))) for policy_id in ids)


def policy_state(policy: PolicyRead) -> str:
    """A digest of what import judges of a policy (its parsed rules), "" when it could not be read:
    equal while neither the policy's rules nor Trimtab's access to it change. Why a read failed is
    not part of it (a message may differ between two refusals)."""
    if not isinstance(policy, ClusterPolicy):
        return ""
    return hashlib.sha256(repr(policy).encode()).hexdigest()
