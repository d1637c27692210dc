"""A person's ``recommendation apply`` (and revert, detach) retries a job's 5xx answers for
`WRITE_5XX_RETRY_S`, not the gateway's whole budget: a ``jobs/update`` answering 500 held the CLI for
121 s with nothing shown (review "failures": a minute of retries for the write, another for the
write-back). The real databricks-sdk against the emulator (its fault answers every ``jobs/update`` of
the job with 500), the gateway's retries on a fake clock, so the time they cost is read, not waited."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.databricks import DatabricksGateway, DatabricksServerError
from server.domain import Workspace
from server.services import recommendations
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.loop import _Loop


def test_an_apply_on_a_job_answering_500_gives_up_after_the_write_budget(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway, integration_clock: FakeClock) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    before = loop.live()
    emulator.inject_fault("POST", "jobs/update", job_id=loop.project.job_id)
    started = integration_clock.monotonic()
    with pytest.raises(DatabricksServerError, match="nothing was written"):
        recommendations.apply_recommendation(store, secrets, str(loop.pid))
    spent = integration_clock.monotonic() - started
    assert emulator.fault_hits >= 2  # retried, not given up at once
    # The gateway's budget is 60 s (`GatewayConfig.retry_timeout_s`): the write's retries stop at 20 s.
    assert spent <= recommendations.WRITE_5XX_RETRY_S + 5, spent
    assert loop.live() == before
    # Only this call's: the thread's budget is back to the gateway's whole one after it.
    from server.databricks import transport
    assert getattr(transport._THREAD_BUDGET, "server_error_s", None) is None
