"""A run the job's timeout stopped, over real HTTP (emulator + collector + planner, SQLite and PostgreSQL).

The emulator ends a run past the job's ``timeout_seconds`` as the service does: TERMINATED / TIMEDOUT,
"Run timed out", termination code CANCELED (the platform's cancel). The collector stores it "timed_out"
(shown "timed out"), labelled "timeout", not "failure"; the planner does not learn its runtime as the
configuration's normal, and does not run that configuration again as if nothing were known of it: the
run took at least that long there, so the next cluster is bigger, and the reason says why.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

import server.plan.planner as planner_module
from models.decide import Decision, Settings, decide
from models.observation import Observation
from models.space import Candidate
from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.plan.candidates import config_id_of
from server.plan.planner import Planner
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING, run_and_collect

START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC
TIMEOUT_S = 120  # well under a run of the seeded job (minutes of setup and work)


def test_a_run_past_the_jobs_timeout_is_stored_timed_out_and_its_configuration_is_not_run_again(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    job_id = job_ids[0]
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    gateway.update_job(job_id, {"timeout_seconds": TIMEOUT_S})
    seen: list[tuple[list[Candidate], list[Observation], Decision]] = []

    def recording(candidates: Sequence[Candidate], history: Sequence[Observation], settings: Settings,
                  *args: Any, **kwargs: Any) -> Decision:
        decision = decide(candidates, history, settings, *args, **kwargs)
        seen.append((list(candidates), list(history), decision))
        return decision

    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws),
                      clock=FakeClock(START_MS))
    caplog.set_level(logging.INFO, logger="server.collect.outcome_log")
    with monkeypatch.context() as patch:
        patch.setattr(planner_module, "decide", recording)
        run_id, (timed,) = run_and_collect(store, secrets, emulator, gateway, job_id)

        state = gateway._do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run_id})
        assert (state["state"]["life_cycle_state"], state["state"]["result_state"]) == ("TERMINATED", "TIMEDOUT")
        assert state["state"]["state_message"] == "Run timed out" and state["state"]["user_cancelled_or_timedout"]
        assert state["status"]["termination_details"]["code"] == "CANCELED"
        (task,) = state["tasks"]
        assert task["state"]["result_state"] == "TIMEDOUT"
        assert state["end_time"] - state["start_time"] >= TIMEOUT_S * 1000

        # Stored as what it is: timed out (not "failed"), with Databricks' words, at least the timeout long.
        assert timed.outcome == "timed_out"
        assert timed.anomalies == ("timeout",)
        assert timed.message == "Run timed out"
        assert timed.runtime_s >= TIMEOUT_S
        assert timed.config is not None
        slow = config_id_of(timed.config)

        planner.after_run(timed)
        candidates, history, decision = seen[-1]
        assert [(o.config_id, o.ok, o.anomalies) for o in history] == [(slow, False, ("timeout",))]
        why = decision.explained[f"0:{slow}"]
        assert why.startswith("timeout: the job's timeout stopped it") and "avoided as too slow" in why
        # Not the same cluster again: one bigger than the one that timed out, and the reason says so.
        known = {c.config_id: c for c in candidates}
        assert decision.candidate.config_id != slow
        assert decision.candidate.cores > known[slow].cores
        assert f"timed out: {known[slow].name} after" in decision.reason
        stored = store.runs.get_by_databricks_run(pid, run_id)
        assert stored is not None and stored.not_learned == why

    # One INFO line of the collector for it: the job, the run, the outcome and why it was not learned.
    said = [r.getMessage() for r in caplog.records if r.name == "server.collect.outcome_log"]
    assert any(f"job {job_id} run {run_id}: timed out (Run timed out)" in line and "not learned:" in line
               for line in said), said
