"""The driver choice under a cluster policy's ``dbus_per_hour`` cap: a driver is offered only if some
worker configuration of the project's space fits the policy with it (`ClusterPolicy.refuses_driver`,
`server.plan.driver.plan_driver`), the current configuration on another driver is judged like any
candidate, and the planner keeps a driver that fits, saying which rule held it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from models.driver import DriverOption, DriverRun
from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings, Run
from server.plan.candidates import Pricing, build_candidates, config_id_of, dbu_rates
from server.plan.driver import driver_options, plan_driver
from server.plan.planner import plan_project
from server.plan.policy import ClusterPolicy, DbuRate
from server.spec import config_from_spec
from server.store import Store

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
CATALOG = load_catalog()
RATES = dbu_rates(CATALOG, PRICING)  # m5.xlarge 0.69, m5.2xlarge 1.38, m5.4xlarge 2.76, r5.xlarge 0.9 DBU/h
# Eight m5.xlarge workers and the driver on their type: 9 x 0.69 = 6.21 DBU/h.
SPEC: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 8,
                        "policy_id": "P1", "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
# The project's bounds hold the worker count at 8: a bigger driver cannot make room by fewer workers.
EIGHT = ProjectSettings(sla_seconds=3600.0, allowed_families=("m5",), min_workers=8, max_workers=8)
# The last run's driver died on its 16 GiB m5.xlarge: the evidence asks for at least 32 GiB.
DIED = [DriverRun(node_type="m5.xlarge", memory_gib=16.0, ok=True, peak_heap_gib=2.0, gc_share=0.01),
        DriverRun(node_type="m5.xlarge", memory_gib=16.0, ok=False, driver_failed=True)]


def _policy(definition: dict[str, Any], rates: DbuRate | None = RATES) -> ClusterPolicy:
    return ClusterPolicy.from_api({"policy_id": "P1", "name": "capped", "definition": json.dumps(definition)},
                                  dbu_rate=rates)


def _cap(max_dbus: float) -> ClusterPolicy:
    return _policy({"dbus_per_hour": {"type": "range", "maxValue": max_dbus}})


def _space(current: ClusterConfig, settings: ProjectSettings) -> list[ClusterConfig]:
    """The project's configurations before the policy, as the planner builds them."""
    return [cfg for _, cfg in build_candidates(current, settings, CATALOG, PRICING)]


def _options(current: ClusterConfig, policy: ClusterPolicy | None) -> list[DriverOption]:
    return driver_options(CATALOG, "aws", ["m5"], current, region="us-east-1", plan="premium", sku="jobs",
                          policy=policy)


# ------------------------------------------------------------------ the judge


def test_a_driver_has_room_while_one_configuration_of_the_space_fits_the_cap_with_it() -> None:
    policy = _cap(12)
    six, seven = (ClusterConfig(node_type_id="m5.2xlarge", driver_node_type_id="m5.2xlarge", num_workers=n)
                  for n in (6, 7))
    base = {**SPEC, "node_type_id": "m5.2xlarge", "num_workers": 6}
    # m5.4xlarge drives 6 workers at 2.76 + 6 x 1.38 = 11.04, under 12: it leaves room.
    assert policy.refuses_driver("m5.4xlarge", [seven, six], base, azure=False) == []
    # Only 7 workers: 12.42 whatever else; the cap is what refuses.
    assert policy.refuses_driver("m5.4xlarge", [seven], base, azure=False) == ["caps dbus_per_hour at 12"]
    assert policy.refuses_driver("m5.2xlarge", [seven], base, azure=False) == []  # 8 x 1.38 = 11.04
    assert policy.no_room_words(["caps dbus_per_hour at 12"]) == "under the policy's dbus_per_hour cap of 12"
    # No configurations: nothing to refuse. A rule other than the cap is named as it is.
    assert policy.refuses_driver("m5.4xlarge", [], base, azure=False) == []
    workers = _policy({"num_workers": {"type": "range", "maxValue": 4}})
    rules = workers.refuses_driver("m5.4xlarge", [seven], base, azure=False)
    assert rules == ["caps num_workers at 4"]
    assert workers.no_room_words(rules) == "inside the policy (caps num_workers at 4)"


def test_the_current_configuration_on_another_driver_is_judged_like_any_candidate() -> None:
    # 7 x m5.2xlarge on its own driver: 8 x 1.38 = 11.04; on an m5.4xlarge driver: 12.42, over 12.
    current = config_from_spec({**SPEC, "node_type_id": "m5.2xlarge", "num_workers": 7})
    settings = ProjectSettings(allowed_families=("m5",), min_workers=7, max_workers=7)
    policy = _cap(12)
    own = {c.config_id for c, _ in build_candidates(current, settings, CATALOG, PRICING, policy=policy)}
    pairs = build_candidates(current, settings, CATALOG, PRICING, driver="m5.4xlarge", policy=policy)
    bigger = {c.config_id: cfg for c, cfg in pairs if c.allowed}
    assert config_id_of(current) in own
    # A change of driver: judged like any candidate, so refused. It stays observed only (its runs
    # still teach the model), never recommended.
    assert config_id_of(current) not in bigger
    assert [c.config_id for c, _ in pairs if not c.allowed] == [config_id_of(current)]
    assert bigger and all(cfg.driver_node_type_id == "m5.4xlarge" and policy.allows_config(cfg, SPEC, azure=False)
                          for cfg in bigger.values())


# ------------------------------------------------------------------ the choice


def test_without_room_for_a_bigger_driver_the_current_one_is_kept_and_the_cap_named() -> None:
    current = config_from_spec(SPEC)
    space = _space(current, EIGHT)
    policy = _cap(6.5)  # m5.2xlarge drives 8 workers at 1.38 + 8 x 0.69 = 6.9
    options = _options(current, policy)
    assert {o.node_type for o in options} >= {"m5.xlarge", "m5.2xlarge"}  # the types themselves are allowed
    free = plan_driver(EIGHT, current, DIED, options)
    assert free is not None and free.changed and free.option.node_type == "m5.2xlarge"
    choice = plan_driver(EIGHT, current, DIED, options, policy=policy, space=space, spec=SPEC)
    assert choice is not None and choice.option.node_type == "m5.xlarge"
    assert not choice.changed and choice.blocked
    assert choice.reason == ("driver m5.xlarge kept (the driver died on m5.xlarge (16 GiB); a bigger driver would "
                             "leave no configuration under the policy's dbus_per_hour cap of 6.5)")
    # Without the project's space the cap cannot be weighed against a driver: as before.
    blind = plan_driver(EIGHT, current, DIED, options, policy=policy)
    assert blind is not None and blind.option.node_type == "m5.2xlarge"


def test_with_room_the_bigger_driver_the_evidence_wants_is_chosen() -> None:
    current = config_from_spec(SPEC)
    policy = _cap(7)
    choice = plan_driver(EIGHT, current, DIED, _options(current, policy), policy=policy,
                         space=_space(current, EIGHT), spec=SPEC)
    assert choice is not None and choice.changed and choice.option.node_type == "m5.2xlarge"
    assert choice.reason == "driver m5.xlarge -> m5.2xlarge (32 GiB): the driver died on m5.xlarge (16 GiB)"


# Three made-up driver types: "big" is the cheapest that holds 32 GiB but burns 3 DBU/h; "lean" holds
# 32 GiB at 1 DBU/h for a higher price; "mid" burns as little but holds only 24 GiB.
LEAN_RATES = {"w": 1.0, "small": 1.0, "big": 3.0, "lean": 1.0, "mid": 1.0}
SMALL = DriverOption("small", 4.0, 16.0, 1.0)
BIG = DriverOption("big", 8.0, 32.0, 2.0)
LEAN = DriverOption("lean", 8.0, 32.0, 3.0)
MID = DriverOption("mid", 8.0, 24.0, 1.5)
LEAN_SPEC: dict[str, Any] = {"node_type_id": "w", "driver_node_type_id": "small", "num_workers": 4}


def _lean(options: list[DriverOption]) -> Any:
    current = config_from_spec(LEAN_SPEC)
    policy = _policy({"dbus_per_hour": {"type": "range", "maxValue": 6}}, rates=LEAN_RATES.get)
    runs = [DriverRun(node_type="small", memory_gib=16.0, ok=False, driver_failed=True)]
    return plan_driver(ProjectSettings(), current, runs, options, policy=policy, space=[current], spec=LEAN_SPEC)


def test_a_refused_driver_falls_back_to_the_cheapest_allowed_one_that_still_holds_the_need() -> None:
    # big: 3 + 4 = 7 DBU/h, over 6; lean: 1 + 4 = 5.
    choice = _lean([SMALL, BIG, LEAN, MID])
    assert choice is not None and choice.changed and choice.option == LEAN
    assert choice.reason == ("driver small -> lean (32 GiB): the driver died on small (16 GiB); big would leave "
                             "no configuration under the policy's dbus_per_hour cap of 6")
    # Only a driver below the need fits: not a fix for a driver that died, so the current one is kept.
    kept = _lean([SMALL, BIG, MID])
    assert kept is not None and kept.option == SMALL and not kept.changed and kept.blocked
    assert kept.reason.endswith("a bigger driver would leave no configuration under the policy's dbus_per_hour "
                                "cap of 6)")


# ------------------------------------------------------------------ the planner, on a real store


def _project(store: Store) -> int:
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=EIGHT))
    pid = int(project.id or 0)
    config = config_from_spec(SPEC)
    for n in (1, 2):
        store.runs.add(Run(project_id=pid, databricks_run_id=n, start_ms=n * 86_400_000,
                           end_ms=n * 86_400_000 + 1_500_000, runtime_s=1500.0, outcome="succeeded", config=config))
    store.runs.add(Run(project_id=pid, databricks_run_id=3, start_ms=3 * 86_400_000,
                       end_ms=3 * 86_400_000 + 300_000, runtime_s=300.0, outcome="failed",
                       anomalies=("failure", "driver_lost"), config=config))
    return pid


def _burn(config: ClusterConfig) -> float:
    driver = RATES(config.driver_node_type_id or config.node_type_id)
    node = RATES(config.node_type_id)
    assert driver is not None and node is not None
    return driver + (config.autoscale_max or config.num_workers) * node


@pytest.mark.parametrize(("cap", "driver"), [(6.5, "m5.xlarge"), (8.0, "m5.2xlarge")])
def test_the_plan_keeps_a_driver_the_cap_leaves_room_for(store: Store, cap: float, driver: str) -> None:
    pid = _project(store)
    policy = {"policy_id": "P1", "name": "capped",
              "definition": json.dumps({"dbus_per_hour": {"type": "range", "maxValue": cap}})}
    rec = plan_project(store, pid, CATALOG, policy=policy)
    assert rec is not None and (rec.config.driver_node_type_id or rec.config.node_type_id) == driver
    assert _burn(rec.config) <= cap
    if driver == "m5.xlarge":
        # The driver that died is kept (the cluster runs under the cap today) and the reason says why.
        assert "driver m5.xlarge kept (run 3's driver died on m5.xlarge (16 GiB); a bigger driver would leave no " \
               "configuration under the policy's dbus_per_hour cap of 6.5)" in rec.reason
    else:
        assert "driver m5.xlarge -> m5.2xlarge (32 GiB): run 3's driver died on m5.xlarge (16 GiB)" in rec.reason
        assert "dbus_per_hour cap" not in rec.reason
    # Without the policy the evidence alone decides: the bigger driver.
    free = plan_project(store, pid, CATALOG)
    assert free is not None and free.config.driver_node_type_id == "m5.2xlarge"
