"""Whether a job's cluster already runs a recommendation's configuration.

A pending recommendation can name the very configuration the job runs (its owner edited the job to
exactly it by hand, or the plan keeps the cluster as it is). Applying it then writes nothing but
Trimtab's tag, so `recommendation show`, `project show` and `recommendation apply` say so instead,
and the collector takes such an edit for the recommendation applied by hand (`edited_to`).

`decided` is the one comparison of what Trimtab decides in two specs: every check here goes
through it. `already_runs` is the one answer to "would applying this change anything Trimtab
decides": `recommendation apply` asks it of the job as it reads it, and auto-apply
(`server.plan.planner`) and `project show` / `recommendation show` (`server.services.pending`) of the
job as Trimtab last read it (`already_on_job`). `server.plan.config_id.same_hardware` is another
question (one configuration to the model and its reasons), which gp3's performance or spot's
fallback do not change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from server.domain import ClusterConfig, Project
from server.owned_fields import owned_drift
from server.plan.policy import kept_values
from server.spec import GP3_FIELDS, POOL_ID_FIELDS, config_from_spec, recommended_spec, spec_drift

# How the CLI and the API say it, one wording everywhere.
ALREADY_RUNS = "the job already runs this configuration"


def decided(spec: Mapping[str, Any], *, cloud: str,
            policy_values: Mapping[str, Any] | None = None) -> tuple[ClusterConfig, tuple[Any, ...]]:
    """What Trimtab decides of ``spec``, as two specs are compared: its configuration as
    `server.spec.config_from_spec` reads it (on the workspace's ``cloud``, with what the cluster
    policy fills in, ``policy_values``) without the whole spec it keeps, and gp3's IOPS and
    throughput, which a recommendation writes (`server.spec.ebs_overlay`) but no named field holds:
    without them two clusters on gp3 volumes of different performance read as one."""
    config = dataclasses.replace(config_from_spec(spec, cloud=cloud, policy_values=policy_values), spec={})
    attrs = spec.get("aws_attributes") or {}
    # Unset, empty and 0 are all Databricks' default performance (`ebs_overlay` writes none of them).
    return config, tuple(attrs.get(k) or None for k in GP3_FIELDS)


def already_runs(spec: Mapping[str, Any], config: ClusterConfig, *, cloud: str,
                 policy_values: Mapping[str, Any] | None = None) -> bool:
    """Whether writing ``config`` over the cluster ``spec`` (merged as an apply merges it:
    `server.spec.recommended_spec`) leaves every field Trimtab decides as it is (`decided`). False
    for no spec.

    Both specs are read the same way, so an availability the spec leaves to the cloud's default or to
    its policy is not taken for a change when the recommendation writes that same value out. Over an
    instance pool only the workers are merged, so only they can differ.
    """
    if not spec:
        return False
    return decided(spec, cloud=cloud, policy_values=policy_values) == \
        decided(recommended_spec(spec, config, cloud=cloud), cloud=cloud, policy_values=policy_values)


def already_on_job(project: Project, config: ClusterConfig, *, cloud: str) -> bool:
    """`already_runs` of the project's job as Trimtab last read it (``current_spec``, which the
    collector and every apply keep), on the workspace's ``cloud``, with what the project's kept
    cluster policy fills in (`server.plan.policy.kept_values`: as the planner read the policy last).
    What auto-apply skips and `project show` calls already on the job: one answer for both."""
    spec = project.current_spec
    return already_runs(spec, config, cloud=cloud, policy_values=kept_values(project.state, spec))


def edited_to(live: Mapping[str, Any], base: Mapping[str, Any], config: ClusterConfig, *, cloud: str,
              policy_values: Mapping[str, Any] | None = None) -> bool:
    """Whether ``live`` is ``base`` (the spec Trimtab last knew) edited to exactly ``config``: the job
    already runs it (`already_runs`), and the edit changed nothing an apply of it over ``base`` leaves
    as it was: no field Trimtab does not own (a Spark conf key, tags, the runtime), and not which
    instance pools back the cluster, which no recommendation chooses. Fields Trimtab owns may be
    written another way than an apply writes them (an availability left to the cloud's default),
    as long as they read the same (`decided`)."""
    if not base or not already_runs(live, config, cloud=cloud, policy_values=policy_values):
        return False
    expected = recommended_spec(base, config, cloud=cloud)
    drift = spec_drift(live, expected)
    owned = set(owned_drift(drift, dict(live), expected, cloud=cloud))
    return all(path in owned and path.split(".")[0] not in POOL_ID_FIELDS for path in drift)
