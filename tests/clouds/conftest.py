"""Cloud stand-ins shared by the tests of this folder (moto's state is per process anyway)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.clouds.aws import AwsStandIn
from sandbox.clouds.azure import AzureStandIn


@pytest.fixture(scope="session")
def aws_stand_in() -> Iterator[AwsStandIn]:
    with AwsStandIn(ce_page_days=1) as stand_in:
        yield stand_in


@pytest.fixture
def azure_stand_in() -> Iterator[AzureStandIn]:
    with AzureStandIn(page_size=2) as stand_in:
        yield stand_in


@pytest.fixture
def cluster_id() -> str:
    return f"1124-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def billing_reset(aws_stand_in: AwsStandIn) -> Iterator[None]:
    """Detaches a test's billing observer from the shared AWS stand-in afterwards."""
    yield
    aws_stand_in.before_query = None


@pytest.fixture
def no_databricks_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No DATABRICKS_* variable and a HOME of its own (no ~/.databrickscfg): the real databricks-sdk
    client against the emulator reads nothing of this machine's."""
    for key in list(os.environ):
        if key.startswith("DATABRICKS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
