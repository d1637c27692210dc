"""UpdateProjectSettings: driver_node_type_id "" was stored as set (HasField true with "") while every
reader took it for "chosen by Trimtab" (review grpcapi t_settings2). Now clear_driver_node_type_id clears
it as clear_sla clears the SLA, and "" (what older CLIs sent for `--driver-type auto`) clears it too.
Real server on 127.0.0.1:0."""

from __future__ import annotations

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2
from tests.server.conftest import Harness, planned_project


def _update(h: Harness, project: str, settings: admin_pb2.ProjectSettings) -> admin_pb2.Project:
    return h.projects.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(project=project, settings=settings),
                                            metadata=h.admin)


def test_an_empty_driver_clears_it_as_older_clis_meant(harness: Harness) -> None:
    project, _ = planned_project(harness)
    for blank in ("", "  "):
        set_one = _update(harness, str(project.id), admin_pb2.ProjectSettings(driver_node_type_id="r5.xlarge"))
        assert set_one.settings.driver_node_type_id == "r5.xlarge"
        cleared = _update(harness, str(project.id), admin_pb2.ProjectSettings(driver_node_type_id=blank))
        assert not cleared.settings.HasField("driver_node_type_id")
        assert harness.store.projects.get(int(project.id or 0)).settings.driver_node_type_id is None
    _update(harness, str(project.id), admin_pb2.ProjectSettings(driver_node_type_id="r5.xlarge"))

    cleared = _update(harness, str(project.id), admin_pb2.ProjectSettings(clear_driver_node_type_id=True))
    assert not cleared.settings.HasField("driver_node_type_id")
    assert harness.store.projects.get(int(project.id or 0)).settings.driver_node_type_id is None


def test_a_driver_and_its_clear_flag_together_are_refused(harness: Harness) -> None:
    project, _ = planned_project(harness)
    with pytest.raises(grpc.RpcError) as refused:
        _update(harness, str(project.id), admin_pb2.ProjectSettings(driver_node_type_id="r5.xlarge",
                                                                    clear_driver_node_type_id=True))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "clear_driver_node_type_id" in (refused.value.details() or "")
