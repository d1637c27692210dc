"""Only the cloud's capacity codes say an instance type would not launch (`no_capacity`, which the
decision core counts to avoid a type); other transient launch failures are explained, not blamed on
the type (review of 08e3bc7: a secret the cluster could not read walked the job from type to type)."""

from __future__ import annotations

import pytest

from server.collect.failure import classify_failure, no_capacity


@pytest.mark.parametrize(("code", "type_", "capacity"), [
    ("AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", "CLOUD_FAILURE", True),
    ("CLOUD_PROVIDER_RESOURCE_STOCKOUT", "CLOUD_FAILURE", True),
    ("GCP_INSUFFICIENT_CAPACITY", "", True),
    ("SPOT_INSTANCE_TERMINATION", "CLOUD_FAILURE", False),
    ("REQUEST_THROTTLED", "SERVICE_FAULT", False),
    ("SECRET_RESOLUTION_ERROR", "CLIENT_ERROR", False),
    ("INTERNAL_ERROR", "SERVICE_FAULT", False),
])
def test_only_capacity_codes_say_the_type_would_not_launch(code: str, type_: str, capacity: bool) -> None:
    cause = classify_failure([], {"code": code, "type": type_})
    assert no_capacity(cause) is capacity
    assert no_capacity(None) is False
