"""An SLA refused names the value as it was sent: ``:g`` kept six digits, so 604800.5 was refused as
"604800 is longer than the 7d (604800 s) allowed", and 0.9999999 as "1 is below 1 s". Real server."""

from __future__ import annotations

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2
from tests.server.conftest import Harness
from tests.timeline.seed import seed


@pytest.mark.parametrize("sla, said", [
    (604800.5, "604800.5 is longer than the 7d (604800 s) allowed"),
    (604801.0, "604801 is longer than the 7d (604800 s) allowed"),
    (1e20, "1e+20 is longer than the 7d (604800 s) allowed"),
    (0.9999999, "0.9999999 is below 1 s, the shortest SLA"),
    (90.0000001, "90.0000001 is not whole seconds"),
])
def test_a_refused_sla_is_shown_as_given(harness: Harness, sla: float, said: str) -> None:
    project, _ = seed(harness.store)
    with pytest.raises(grpc.RpcError) as refused:
        harness.projects.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(
            project=str(project.id), settings=admin_pb2.ProjectSettings(sla_seconds=sla)),
            metadata=harness.admin, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"settings.sla_seconds: {said}" in (refused.value.details() or ""), refused.value.details()
