"""`project show` says what the search window is: the cores it reaches around the current cluster, and the rule."""

from __future__ import annotations

from protos.trimtab.v1 import admin_pb2, common_pb2
from server.cli.project import window_line


def test_the_window_line_gives_the_rule_and_the_current_clusters_reach() -> None:
    settings = admin_pb2.ProjectSettings()
    line = window_line(settings, common_pb2.ClusterConfig(node_type_id="c6id.xlarge", num_workers=5))
    assert line.startswith("4x either way of the worker cores of the cluster as imported and of the current one")
    assert "(current: 5..80 cores)" in line and "a pick at its edge says so" in line
    # The minimum raises the cluster first, as the planner does; an autoscaling cluster counts its max.
    assert "(current: 10..160 cores)" in window_line(admin_pb2.ProjectSettings(min_workers=10),
                                                     common_pb2.ClusterConfig(node_type_id="c6id.xlarge", num_workers=5))
    assert "(current: 8..128 cores)" in window_line(settings, common_pb2.ClusterConfig(
        node_type_id="c6id.xlarge", autoscale_min=2, autoscale_max=8))
    # Azure node types, and a pool-backed cluster with no node type of its own (the rule alone).
    assert "(current: " in window_line(settings, common_pb2.ClusterConfig(node_type_id="Standard_D4ds_v5",
                                                                          num_workers=2))
    assert "current:" not in window_line(settings, common_pb2.ClusterConfig(num_workers=2))
