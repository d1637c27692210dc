"""EBS advice attached to a recommendation from the runs' disk use."""

from __future__ import annotations

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Run, Stage
from server.plan.storage import advise, disk_use, volumes_of

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
    new, advice = advise(config, uses, 3600.0, load_catalog(), cloud="aws", region="us-east-1")
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
    new, advice = advise(config, uses, 3600.0, load_catalog(), cloud="aws", region="us-east-1")
    assert advice is not None and advice.changed and advice.projected_monthly_saving > 0
    assert volumes_of(new)[0].type == "gp3"
