"""Whether a job's cluster already runs a recommendation's configuration.

A pending recommendation can name the very configuration the job runs (its owner edited the job to
exactly it by hand, or the plan keeps the cluster as it is). Applying it then writes nothing but
Trimtab's tag, so `recommendation show`, `project show` and `recommendation apply` say so instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from server.domain import ClusterConfig
from server.spec import config_from_spec, recommended_spec

# How the CLI and the API say it, one wording everywhere.
ALREADY_RUNS = "the job already runs this configuration"


def already_runs(spec: Mapping[str, Any], config: ClusterConfig, *, cloud: str,
                 policy_values: Mapping[str, Any] | None = None) -> bool:
    """Whether writing ``config`` over the cluster ``spec`` (merged as an apply merges it:
    `server.spec.recommended_spec`) leaves every field Trimtab decides as it is. False for no spec.

    Both specs are read the same way (`server.spec.config_from_spec`, on the workspace's ``cloud``,
    with what the cluster policy fills in, ``policy_values``), so an availability the spec leaves to
    the cloud's default or to its policy is not taken for a change when the recommendation writes
    that same value out. Over an instance pool only the workers are merged, so only they can differ.
    """
    if not spec:
        return False

    def decided(s: Mapping[str, Any]) -> ClusterConfig:
        # The whole spec is kept on a config; only the fields Trimtab decides are compared.
        return dataclasses.replace(config_from_spec(s, cloud=cloud, policy_values=policy_values), spec={})

    return decided(spec) == decided(recommended_spec(spec, config, cloud=cloud))
