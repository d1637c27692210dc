"""The driver heap a cluster policy fills in (a rule on ``spark_conf.spark.driver.memory``: fixed, or a
default the spec asks for) counts as set, as one the job's spark_conf sets does: the driver JVM gets it
on any node, so the driver is never moved to a node that cannot hold it. It was not read: a policy
fixing a 40g heap saw its job's 64 GiB r5.2xlarge driver moved to a 32 GiB r5.xlarge on 2 GiB peaks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from models.driver import DriverRun
from server.costing.catalog import load_catalog
from server.domain import ProjectSettings
from server.hardware import ARM64, X86_64, NodeKind
from server.plan.driver import driver_options, heap_set_gib, plan_driver, plan_drivers
from server.plan.policy import ClusterPolicy
from server.spec import config_from_spec

CATALOG = load_catalog()
HEAP = "spark_conf.spark.driver.memory"
SPEC: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": "r5.2xlarge", "num_workers": 8,
                        "policy_id": "P1", "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
SETTINGS = ProjectSettings(sla_seconds=3600.0, allowed_families=("r5",))
# Three quiet runs whose driver heap peaked at 2 GiB on the 64 GiB r5.2xlarge: alone, they halve it.
QUIET = [DriverRun(node_type="r5.2xlarge", memory_gib=64.0, ok=True, peak_heap_gib=2.0, gc_share=0.01)] * 3


def _policy(definition: dict[str, Any]) -> ClusterPolicy:
    return ClusterPolicy.from_api({"policy_id": "P1", "name": "heap", "definition": json.dumps(definition)})


FIXED = _policy({HEAP: {"type": "fixed", "value": "40g"}})
DEFAULT = _policy({HEAP: {"type": "unlimited", "defaultValue": "40g"}})


@pytest.mark.parametrize(("policy", "spec", "gib"), [
    (FIXED, SPEC, 40.0),
    (DEFAULT, {**SPEC, "apply_policy_default_values": True}, 40.0),
    # A default applies only when the spec asks for defaults (the Clusters API).
    (DEFAULT, SPEC, 0.0),
    # The spec's own value wins: Databricks fills in only what the spec leaves out (or null).
    (FIXED, {**SPEC, "spark_conf": {"spark.driver.memory": "8g"}}, 8.0),
    (FIXED, {**SPEC, "spark_conf": {"spark.driver.memory": None}}, 40.0),
    (FIXED, {**SPEC, "spark_conf": {"spark.sql.shuffle.partitions": "64"}}, 40.0),
    # A spec under another policy (or none) gets nothing of this one.
    (FIXED, {**SPEC, "policy_id": "P2"}, 0.0),
    (FIXED, {k: v for k, v in SPEC.items() if k != "policy_id"}, 0.0),
    (_policy({HEAP: {"type": "fixed", "value": 40960}}), SPEC, 40.0),  # a bare number is MiB
    (None, SPEC, 0.0),
])
def test_the_heap_a_policy_fills_in_counts_as_set(policy: ClusterPolicy | None, spec: dict[str, Any],
                                                 gib: float) -> None:
    assert heap_set_gib(spec, policy) == pytest.approx(gib)


def test_the_heap_rule_is_read_and_judges_nothing() -> None:
    # Read for what it fills in, as Databricks creates the cluster; a recommendation never writes
    # spark_conf, so whether the spec passes the rule does not depend on Trimtab.
    assert FIXED.filled_values(SPEC) == {HEAP: "40g"}
    assert FIXED.filled_spec(SPEC)["spark_conf"] == {"spark.driver.memory": "40g"}
    assert FIXED.refusals({**SPEC, "spark_conf": {"spark.driver.memory": "8g"}}) == {}
    assert HEAP not in FIXED.rules


def _planned(policy: ClusterPolicy | None, spec: dict[str, Any]) -> tuple[str, str]:
    current = config_from_spec(spec, cloud="aws")
    options = driver_options(CATALOG, "aws", ["r5"], current, region="us-east-1", plan="premium", sku="jobs",
                             policy=policy)
    choice = plan_driver(SETTINGS, current, QUIET, options, policy=policy, space=[current])
    assert choice is not None
    return choice.option.node_type, choice.reason


def test_without_the_policy_the_runs_halve_the_driver() -> None:
    assert _planned(None, SPEC)[0] == "r5.xlarge"


@pytest.mark.parametrize(("policy", "spec"), [(FIXED, SPEC), (DEFAULT, {**SPEC, "apply_policy_default_values": True})])
def test_a_heap_the_policy_fills_in_keeps_a_node_that_holds_it(policy: ClusterPolicy, spec: dict[str, Any]) -> None:
    driver, reason = _planned(policy, spec)
    assert driver == "r5.2xlarge", reason  # 40 GiB of heap + 2 GiB beside it: not 32 GiB
    # The policy's setting, said as the policy's: the owner cannot lower it in the job.
    assert "the cluster policy sets spark.driver.memory to 40 GiB, which needs a node of 42 GiB" in reason
    assert "its runs alone would take it to r5.xlarge (32 GiB)" in reason


def test_each_kind_of_driver_holds_the_heap_the_policy_fills_in() -> None:
    # Workers may move to Graviton (r6gd): that kind's driver is sized from the current one's
    # counterpart there (`choose_driver_across`), under the same heap.
    current = config_from_spec(SPEC, cloud="aws")
    x86, arm = NodeKind(X86_64), NodeKind(ARM64)
    for policy, wanted in ((None, {x86: "r5.xlarge", arm: "r6gd.xlarge"}),
                           (FIXED, {x86: "r5.2xlarge", arm: "r6gd.2xlarge"})):
        chosen = plan_drivers(SETTINGS, current, QUIET, CATALOG, "aws", ["r5", "r6gd"], [x86, arm],
                              region="us-east-1", plan="premium", sku="jobs", policy=policy, space=[current])
        assert {kind: choice.option.node_type for kind, choice in chosen.items()} == wanted, policy
