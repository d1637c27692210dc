"""EBS advice attached to a recommendation from the runs' disk use."""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, JobSchedule, Project, Run, Stage
from server.plan.storage import advise, disk_use, runs_per_month, volumes_of

GB = 10**9


def _config(**kw) -> ClusterConfig:
    base = dict(node_type_id="m5.2xlarge", num_workers=4, availability="ON_DEMAND",
                ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=3, ebs_volume_size_gb=1000)
    return ClusterConfig(**{**base, **kw})


def test_disk_use_sums_spill_and_shuffle_over_workers() -> None:
    run = Run(project_id=1, databricks_run_id=1, config=_config())
    stages = [Stage("a", 1, metrics={"disk_bytes_spilled": 40 * GB, "shuffle_bytes_written": 20 * GB}),
              Stage("a", 2, metrics={"shuffle_bytes_written": 20 * GB})]
    use = disk_use(run, stages)
    assert use is not None and use.per_node_bytes() == 80 * GB / 4


def test_oversized_volumes_shrink_to_gp3_with_a_saving() -> None:
    config = _config()
    uses = [disk_use(Run(project_id=1, databricks_run_id=1, config=config),
                     [Stage("a", 1, metrics={"disk_bytes_spilled": 200 * GB})])]
    new, advice = advise(config, uses, 3600.0, load_catalog(), cloud="aws", region="us-east-1", runs_per_month=30)
    assert advice is not None and advice.changed and advice.projected_monthly_saving > 0
    per_node_needed = 200 / 4 * 1.5
    assert new.ebs_volume_count * new.ebs_volume_size_gb >= per_node_needed
    assert new.ebs_volume_count * new.ebs_volume_size_gb < 3 * 1000
    # gp3 at the node's gp2 speed: 3x gp2 1000 GB give 3 x 3000 IOPS and 3 x 250 MiB/s.
    assert (new.spec["aws_attributes"]["ebs_volume_iops"], new.spec["aws_attributes"]["ebs_volume_throughput"]) \
        == (9000, 750)
    assert volumes_of(new)[0].type == "gp3"


def test_no_advice_on_azure_or_without_runs() -> None:
    config = _config()
    assert advise(config, [], 600.0, load_catalog(), cloud="aws", region="us-east-1") == (config, None)
    use = disk_use(Run(project_id=1, databricks_run_id=1, config=config), [])
    assert advise(config, [use], 600.0, load_catalog(), cloud="azure", region="eastus")[1] is None


def test_general_purpose_volumes_without_iops_are_gp2_and_moving_them_to_gp3_is_advised() -> None:
    # Costing's rule (run_cost.ebs_volume_type): GENERAL_PURPOSE_SSD is gp2 unless IOPS or
    # throughput are given. The advice took every such volume for gp3, so the cheaper gp3 of the
    # same size was never advised; the live cluster's gp3 IOPS (kept by apply) count as gp3.
    config = _config(ebs_volume_count=1, ebs_volume_size_gb=150)
    assert volumes_of(config)[0].type == "gp2"
    live_gp3 = {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_iops": 3000, "ebs_volume_throughput": 125}
    assert volumes_of(config, live_gp3)[0].type == "gp3"
    uses = [disk_use(Run(project_id=1, databricks_run_id=1, config=config),
                     [Stage("a", 1, metrics={"disk_bytes_spilled": 300 * GB})])]
    new, advice = advise(config, uses, 3600.0, load_catalog(), cloud="aws", region="us-east-1", runs_per_month=30)
    assert advice is not None and advice.changed and advice.projected_monthly_saving > 0
    assert volumes_of(new)[0].type == "gp3"


def _spilled(config: ClusterConfig) -> list:
    return [disk_use(Run(project_id=1, databricks_run_id=1, config=config),
                     [Stage("a", 1, metrics={"disk_bytes_spilled": 200 * GB})])]


def test_the_monthly_saving_is_priced_at_the_jobs_own_cadence_or_labelled_per_30_runs() -> None:
    config, catalog = _config(), load_catalog()
    # An hourly job runs 730 times a month: its saving is 730/30 of a nightly job's (a fixed 30 runs a
    # month made it 24x too low, "saves 48.70 USD/month" where 1,185 was saved).
    _, nightly = advise(config, _spilled(config), 3600.0, catalog, cloud="aws", region="us-east-1", runs_per_month=30)
    _, hourly = advise(config, _spilled(config), 3600.0, catalog, cloud="aws", region="us-east-1",
                       runs_per_month=730)
    assert nightly is not None and hourly is not None and nightly.projected_monthly_saving
    assert hourly.projected_monthly_saving == pytest.approx(nightly.projected_monthly_saving * 730 / 30)
    assert f"(saves {hourly.projected_monthly_saving:.2f} USD/month)" in hourly.reason
    # No cadence known: the figure is over 30 runs, said so, and no monthly saving is claimed.
    _, unknown = advise(config, _spilled(config), 3600.0, catalog, cloud="aws", region="us-east-1")
    assert unknown is not None and unknown.changed and unknown.projected_monthly_saving is None
    assert unknown.projected_saving == pytest.approx(nightly.projected_saving)
    assert f"(saves {unknown.projected_saving:.2f} USD per 30 runs)" in unknown.reason and "/month" not in unknown.reason


def test_runs_a_month_come_from_the_schedule_else_the_observed_runs() -> None:
    hourly = Project(id=1, workspace="w", job_id=1, cluster_key="main", schedule=JobSchedule("0 0 * * * ?", "UTC"))
    one = [Run(project_id=1, databricks_run_id=1, start_ms=1_780_000_000_000, end_ms=1_780_000_600_000,
               runtime_s=600.0)]
    assert runs_per_month(hourly, one) == pytest.approx(8760 / 12)
    daily = [Run(project_id=1, databricks_run_id=i, start_ms=1_780_000_000_000 + i * 86_400_000) for i in range(3)]
    plain = Project(id=1, workspace="w", job_id=1, cluster_key="main")
    assert runs_per_month(plain, daily) == pytest.approx(365 / 12)
    assert runs_per_month(plain, one) is None  # one run, no schedule: no cadence


def test_the_plan_prices_the_storage_advice_at_the_jobs_schedule(store) -> None:
    import dataclasses

    from server.plan.planner import plan_project
    from tests.plan.test_review14_ebs_workers import IMPORTED, _run

    catalog = load_catalog()
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=IMPORTED,
                                         original_spec=IMPORTED))
    for n in (1, 2):  # a day apart: observed, 365 a year
        _run(store, project, n, 800)
    daily = plan_project(store, int(project.id or 0), catalog)
    assert daily is not None and daily.storage_advice and daily.projected_monthly_saving, daily.reason
    fresh = store.projects.get(int(project.id or 0))
    store.projects.update(dataclasses.replace(fresh, schedule=JobSchedule("0 0 * * * ?", "UTC")))
    hourly = plan_project(store, int(project.id or 0), catalog)
    assert hourly is not None and hourly.config == daily.config, (daily.reason, hourly.reason)
    assert hourly.projected_monthly_saving == pytest.approx(daily.projected_monthly_saving * 24)
    assert f"{hourly.projected_monthly_saving:.2f} USD/month" in hourly.storage_advice
