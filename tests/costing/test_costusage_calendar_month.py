"""Cost review: EBS was spread over 730 hours a month; AWS prorates a GB-month over the hours of the month
the volume was up in (720 in a 30-day month, 744 in a 31-day one). A run's storage now is (the AWS
stand-in's bill too: tests/clouds/test_costusage_month_bill.py); planning's price of an hour that belongs to no month keeps the catalog's average
(pure; hand-computed with us-east-1 list prices: gp2 $0.10/GB-month, m5.xlarge $0.192/h)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.costing.catalog import load_catalog
from server.costing.run_cost import ClusterUsage, NodeUsage, cost_run, hourly_cost, months_of
from server.domain import ClusterConfig

H = 3_600_000
NOV_1_2023 = int(datetime(2023, 11, 1, tzinfo=UTC).timestamp() * 1000)  # a 30-day month: 720 h
JAN_31_2027_23H = int(datetime(2027, 1, 31, 23, tzinfo=UTC).timestamp() * 1000)
VOLUME = {"type": "gp2", "size_gb": 100, "count": 1}


def test_months_are_the_calendar_months_hours() -> None:
    assert months_of(NOV_1_2023, NOV_1_2023 + 24 * H) == pytest.approx(24 / 720)
    # One hour of January (744 h) and one of February 2027 (672 h).
    assert months_of(JAN_31_2027_23H, JAN_31_2027_23H + 2 * H) == pytest.approx(1 / 744 + 1 / 672)
    assert months_of(NOV_1_2023, NOV_1_2023) == 0


def test_a_runs_volumes_are_prorated_over_their_months_hours() -> None:
    node = NodeUsage("m5.xlarge", True, False, NOV_1_2023, NOV_1_2023 + 24 * H, [VOLUME])
    cost = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", [node]), load_catalog())
    # (30 + 150 default + 100) GB x $0.10 x 24 h / 720 h = $0.93333 (before: / 730 = $0.92055).
    assert cost.storage_cost == pytest.approx(280 * 0.10 * 24 / 720)
    assert cost.compute_cost == pytest.approx(0.192 * 24)


def test_an_hour_of_no_month_keeps_the_catalogs_average_month() -> None:
    cat = load_catalog()
    shape = ClusterConfig(node_type_id="m5.xlarge", num_workers=0, availability="ON_DEMAND",
                          ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=1, ebs_volume_size_gb=100)
    node = NodeUsage("m5.xlarge", True, False, 0, H, [VOLUME])
    dbus = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", [node]), cat).dbu_cost
    assert hourly_cost(shape, "aws", "us-east-1", "premium", "jobs", cat) == \
        pytest.approx(dbus + 0.192 + 280 * 0.10 / cat.hours_per_month)

