"""A server stopped between a write to a job (``jobs/update``) and its record in the store: the next
server settles the write first (`server.write_intent`, `server.recover`), so the job and the store
agree again and no run on Trimtab's own write is taken for a user's edit (emulator, real SDK, the
collector and the planner; SQLite and PostgreSQL).

The stop is made as the crash review made it (SIGKILL right after ``update_job`` returned): the call
returns, then an exception no handler catches unwinds the process's work, and a fresh collector and
planner ("the restarted server") go on over the same database and workspace."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.apply import ONBOARDED_KEY, apply_recommendation, restore_original, revert
from server.clock import SystemClock
from server.collect import Collector
from server.collect.job_collect import JobCollection
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import OWNER_SIZING_KEY, Recommendation, Run, Workspace
from server.errors import FailedPrecondition
from server.plan.candidates import REJECTED_KEY, config_id_of
from server.plan.planner import Planner, edit_hold
from server.services import workspaces
from server.services.agent_install import SECRET_READER_KEY
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from server.write_intent import INTENT_KEY
from tests.integration.conftest import WIRING
from tests.integration.loop import _Loop


class _Killed(BaseException):
    """The process ending (SIGKILL): no ``except Exception`` in the server catches it."""


@contextmanager
def _killed_after_update(monkeypatch: pytest.MonkeyPatch, job_id: int) -> Iterator[None]:
    """The next ``jobs/update`` of ``job_id`` is written, and then the "process" ends."""
    original = DatabricksGateway.update_job

    def update_then_die(self: DatabricksGateway, jid: int, *args: Any, **kwargs: Any) -> Any:
        result = original(self, jid, *args, **kwargs)
        if jid == job_id:
            monkeypatch.setattr(DatabricksGateway, "update_job", original)
            raise _Killed
        return result

    monkeypatch.setattr(DatabricksGateway, "update_job", update_then_die)
    with pytest.raises(_Killed):
        yield
    monkeypatch.setattr(DatabricksGateway, "update_job", original)


class _Restarted:
    """A fresh server's collector and planner over the same database and workspace."""

    def __init__(self, store: Store, secrets: SecretBox, emulator: RunningWorkspace) -> None:
        catalog = load_catalog()
        self.collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws),
                                   clock=SystemClock(), catalog=catalog)
        self.planner = Planner(store, catalog, lambda ws: workspaces.gateway_for(store, secrets, ws))
        self.emulator = emulator

    def collect(self) -> tuple[Run, Recommendation | None]:
        """The run going or just started, once it ends, collected and planned after."""
        assert self.emulator.wait_idle(120)
        (run,) = self.collector.poll_once()
        return run, self.planner.after_run(run)

    def cycle(self, gateway: DatabricksGateway, job_id: int) -> tuple[Run, Recommendation | None]:
        gateway.run_now(job_id)
        return self.collect()


def _applied(store: Store, secrets: SecretBox, job_id: int, emulator: RunningWorkspace,
             gateway: DatabricksGateway) -> tuple[_Loop, Recommendation]:
    """A loop of the job, run once, its recommendation applied by hand (not yet confirmed by a run)."""
    loop = _Loop(store, secrets, job_id, emulator, gateway, auto_apply=False)
    loop.cycle()
    applied = apply_recommendation(store, gateway, loop.pid).recommendation
    assert applied is not None and applied.id is not None
    return loop, applied


def _live(gateway: DatabricksGateway, job_id: int) -> dict[str, Any]:
    return find_cluster_spec(gateway.get_job(job_id)["settings"], "main") or {}


def test_an_apply_killed_with_a_run_in_flight_is_recorded_before_that_run_is_planned_after(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Crash review 1: the old-spec run in flight was collected, the planner superseded the written
    # recommendation, and the first run on it was taken for a user's edit (auto-apply paused).
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    rec = store.recommendations.pending(loop.pid)
    assert rec is not None and rec.id is not None
    gateway.run_now(loop.project.job_id)  # the nightly run starts on the imported spec
    with _killed_after_update(monkeypatch, loop.project.job_id):
        apply_recommendation(store, gateway, loop.pid)
    assert store.recommendations.get(rec.id).state == "pending"  # nothing recorded: the crash

    server = _Restarted(store, secrets, emulator)
    run, _ = server.collect()  # the run in flight, on the spec before the apply
    assert "user_edit" not in run.anomalies and run.recommendation_id != rec.id
    assert store.recommendations.get(rec.id).state == "applied"
    project = store.projects.get(loop.pid)
    assert INTENT_KEY not in project.state and "user_edit_paths" not in project.state
    assert project.pending_apply["recommendation_id"] == rec.id and project.pending_apply["confirmed"] is False

    run, _ = server.cycle(gateway, loop.project.job_id)  # the first run on the written spec
    assert "user_edit" not in run.anomalies
    assert run.recommendation_id == rec.id
    project = store.projects.get(loop.pid)
    assert project.pending_apply["recommendation_id"] == rec.id and project.pending_apply["confirmed"] is True
    assert "user_edit_paths" not in project.state and OWNER_SIZING_KEY not in project.state
    assert edit_hold(project, store.runs.history(loop.pid)) == ""  # auto-apply not paused


def test_a_revert_killed_after_its_write_is_recorded_as_reverted_and_rejected(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Crash review 2: the store still said "applied"; the next run was a user's edit (owner_sizing,
    # auto-apply paused), the reverted configuration was not remembered, a second revert said
    # "nothing to revert".
    loop, applied = _applied(store, secrets, job_ids[0], emulator, gateway)
    loop.cycle()  # confirms it
    with _killed_after_update(monkeypatch, loop.project.job_id):
        revert(store, gateway, loop.pid)

    server = _Restarted(store, secrets, emulator)
    run, _ = server.cycle(gateway, loop.project.job_id)
    assert "user_edit" not in run.anomalies
    assert store.recommendations.get(applied.id).state == "reverted"
    project = store.projects.get(loop.pid)
    assert project.pending_apply["reverted"] is True and project.pending_apply["confirmed"] is True
    assert config_id_of(applied.config) in project.state.get(REJECTED_KEY, [])
    assert INTENT_KEY not in project.state and OWNER_SIZING_KEY not in project.state
    assert "user_edit_paths" not in project.state
    with pytest.raises(FailedPrecondition, match="already reverted"):
        revert(store, gateway, loop.pid)


def test_a_revert_killed_after_its_write_is_recorded_by_the_next_revert(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    loop, applied = _applied(store, secrets, job_ids[0], emulator, gateway)
    with _killed_after_update(monkeypatch, loop.project.job_id):
        revert(store, gateway, loop.pid)
    held = _live(gateway, loop.project.job_id)
    assert revert(store, gateway, loop.pid).applied  # recorded, not written again
    assert _live(gateway, loop.project.job_id) == held
    assert store.recommendations.get(applied.id).state == "reverted"
    assert store.projects.get(loop.pid).pending_apply["reverted"] is True


def _import_killed(store: Store, secrets: SecretBox, job_id: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Import ``job_id``, killed right after its onboarding ``jobs/update``: the project's id."""
    with _killed_after_update(monkeypatch, job_id):
        workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    (project,) = [p for p in store.projects.list("sbx") if p.job_id == job_id]
    return int(project.id or 0)


def test_an_import_killed_after_onboarding_is_recorded_before_the_first_run_is_judged(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Crash review 3: the project stood without the record of its wiring; its first run was a user's edit.
    pid = _import_killed(store, secrets, job_ids[0], monkeypatch)
    server = _Restarted(store, secrets, emulator)
    run, _ = server.cycle(gateway, job_ids[0])
    assert "user_edit" not in run.anomalies
    project = store.projects.get(pid)
    assert ONBOARDED_KEY in project.state and INTENT_KEY not in project.state
    assert SECRET_READER_KEY in project.state
    assert "user_edit_paths" not in project.state
    assert project.current_spec.get("init_scripts") == _live(gateway, job_ids[0]).get("init_scripts")


def test_a_detach_after_a_killed_import_takes_the_init_script_off(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Crash review 3: detached before any run, the init script (run as root) stayed on the job while
    # detach printed that Trimtab was gone.
    pid = _import_killed(store, secrets, job_ids[0], monkeypatch)
    assert WIRING.init_script in (_live(gateway, job_ids[0]).get("init_scripts") or [])
    restore_original(store, gateway, pid)
    live = _live(gateway, job_ids[0])
    assert WIRING.init_script not in (live.get("init_scripts") or [])
    assert not any(k.startswith("TRIMTAB_") for k in live.get("spark_env_vars") or {})
    assert store.projects.get(pid).detached


def test_a_detach_killed_after_its_write_is_recorded_as_detached(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Crash review 4: the project stayed attached, and the next run paused it as a user's edit.
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    apply_recommendation(store, gateway, loop.pid)
    with _killed_after_update(monkeypatch, loop.project.job_id):
        restore_original(store, gateway, loop.pid)
    server = _Restarted(store, secrets, emulator)
    gateway.run_now(loop.project.job_id)
    assert emulator.wait_idle(120)
    assert server.collector.poll_once() == []  # detached: nothing collected for it
    project = store.projects.get(loop.pid)
    assert project.detached and project.pending_apply is None and INTENT_KEY not in project.state
    assert "user_edit_paths" not in project.state


def test_a_run_stored_by_a_server_killed_before_updating_the_project_confirms_the_apply(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Crash review 5: the run and the project's update are two writes; a stored run is skipped after
    # a restart, so the apply waited for the next run to be confirmed.
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    rec = apply_recommendation(store, gateway, loop.pid).recommendation
    assert rec is not None
    original: Callable[..., None] = JobCollection._after_run

    def die(*args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(JobCollection, "_after_run", original)
        raise _Killed

    monkeypatch.setattr(JobCollection, "_after_run", die)
    gateway.run_now(loop.project.job_id)
    assert emulator.wait_idle(120)
    with pytest.raises(_Killed):
        loop._collector.poll_once()
    assert store.projects.get(loop.pid).pending_apply["confirmed"] is False

    server = _Restarted(store, secrets, emulator)
    assert server.collector.poll_once() == []  # stored already
    record = store.projects.get(loop.pid).pending_apply
    assert record["recommendation_id"] == rec.id and record["confirmed"] is True


def test_a_detach_with_no_record_of_the_onboarding_still_takes_trimtabs_init_script_off(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    # A project an import stopped before recording left (before intents were kept): no record of what
    # the import added, its spec as found. The script the workspace's other imports recorded is
    # Trimtab's all the same.
    imported = workspaces.import_jobs(store, secrets, "sbx", job_ids[:2], wiring=WIRING).projects
    first, second = imported[0].project, imported[-1].project
    assert first.job_id != second.job_id
    assert ONBOARDED_KEY in store.projects.get(int(first.id or 0)).state
    bare = store.projects.get(int(second.id or 0))
    store.projects.update(dataclasses.replace(
        bare, current_spec=bare.original_spec,
        state={k: v for k, v in bare.state.items() if k != ONBOARDED_KEY}))
    restore_original(store, gateway, int(second.id or 0))
    live = find_cluster_spec(gateway.get_job(second.job_id)["settings"], second.cluster_key) or {}
    assert WIRING.init_script not in (live.get("init_scripts") or [])
    assert not any(k.startswith("TRIMTAB_") for k in live.get("spark_env_vars") or {})


def test_a_reimport_killed_after_a_persons_resize_keeps_the_resize_theirs(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Review 19: settled, the killed re-import took the live spec as Trimtab's own (no
    # ``user_edit_paths``), so the next detach put the imported 4 workers back over the person's 9.
    loop, _ = _applied(store, secrets, job_ids[0], emulator, gateway)
    loop.cycle()  # confirms it
    job = loop.project.job_id
    spec = dict(_live(gateway, job))
    resized = int(spec.get("num_workers") or 2) + 5
    spec["num_workers"] = resized  # a person's resize
    gateway.update_job(job, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}]})
    rewired = dataclasses.replace(WIRING, secret_key="agent-token-2")  # the wiring changed: the import writes
    with _killed_after_update(monkeypatch, job):
        workspaces.import_jobs(store, secrets, "sbx", [job], wiring=rewired)

    _Restarted(store, secrets, emulator).collector.poll_once()
    project = store.projects.get(loop.pid)
    assert INTENT_KEY not in project.state
    assert project.state.get("user_edit_paths") == ["num_workers"]  # as the same import not killed records
    restore_original(store, gateway, loop.pid)
    assert _live(gateway, job).get("num_workers") == resized


def _reimported_at_a_new_address_killed(store: Store, secrets: SecretBox, job_id: int,
                                        monkeypatch: pytest.MonkeyPatch) -> int:
    """Import ``job_id``, then import it again once the server's address changed, killed right after
    the re-import's ``jobs/update``: the project's id."""
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    moved = dataclasses.replace(WIRING, server_address="10.0.0.7:50999")
    with _killed_after_update(monkeypatch, job_id):
        workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=moved)
    return int(imported.project.id or 0)


def test_a_reimport_at_a_new_address_killed_is_settled_not_taken_for_another_servers(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Review 19: the poll's take-over check ran before the intent was settled: the project was
    # orphaned as "taken over by another Trimtab server" at its own new address, and its detach then
    # left the init script and the TRIMTAB_* variables on the job.
    pid = _reimported_at_a_new_address_killed(store, secrets, job_ids[0], monkeypatch)
    server = _Restarted(store, secrets, emulator)
    gateway.run_now(job_ids[0])
    assert emulator.wait_idle(120)
    assert len(server.collector.poll_once()) == 1
    project = store.projects.get(pid)
    assert not project.orphaned and INTENT_KEY not in project.state
    restore_original(store, gateway, pid)
    live = _live(gateway, job_ids[0])
    assert WIRING.init_script not in (live.get("init_scripts") or [])
    assert not any(k.startswith("TRIMTAB_") for k in live.get("spark_env_vars") or {})


def test_an_apply_after_a_reimport_at_a_new_address_killed_settles_it_first(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = _reimported_at_a_new_address_killed(store, secrets, job_ids[0], monkeypatch)
    with pytest.raises(FailedPrecondition, match="onboard was written to the job but not recorded"):
        apply_recommendation(store, gateway, pid)
    project = store.projects.get(pid)
    assert not project.orphaned and INTENT_KEY not in project.state
    assert (project.current_spec.get("spark_env_vars") or {}).get("TRIMTAB_SERVER") == "10.0.0.7:50999"


def _reattach_killed(store: Store, secrets: SecretBox, job_id: int, gateway: DatabricksGateway,
                     monkeypatch: pytest.MonkeyPatch) -> int:
    """Import ``job_id``, detach it, then re-attach it (``import --job``) killed right after the
    re-attach's ``jobs/update``: the project's id."""
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    restore_original(store, gateway, pid)
    with _killed_after_update(monkeypatch, job_id):
        workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING, reattach=True)
    assert WIRING.init_script in (_live(gateway, job_id).get("init_scripts") or [])
    assert store.projects.get(pid).detached  # nothing recorded: the crash
    return pid


def test_a_reattach_killed_after_its_write_is_recorded_by_the_next_poll(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Review 19: the collector skipped the detached project, so its intent was never settled; the
    # init script stayed on the job of a project that read detached.
    pid = _reattach_killed(store, secrets, job_ids[0], gateway, monkeypatch)
    server = _Restarted(store, secrets, emulator)
    run, _ = server.cycle(gateway, job_ids[0])
    assert "user_edit" not in run.anomalies
    project = store.projects.get(pid)
    assert not project.detached and INTENT_KEY not in project.state
    assert project.pending_apply["reattached"] is True


def test_a_detach_after_a_killed_reattach_takes_the_init_script_off(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Review 19: "already detached", the init script (run as root) left on the job.
    pid = _reattach_killed(store, secrets, job_ids[0], gateway, monkeypatch)
    result = restore_original(store, gateway, pid)
    assert result.applied
    live = _live(gateway, job_ids[0])
    assert WIRING.init_script not in (live.get("init_scripts") or [])
    assert not any(k.startswith("TRIMTAB_") for k in live.get("spark_env_vars") or {})
    project = store.projects.get(pid)
    assert project.detached and INTENT_KEY not in project.state


def test_a_revert_after_a_killed_first_apply_settles_the_apply_first(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Review 19: "nothing to revert (no apply recorded)" while the job held the apply: the intent was
    # settled only after revert's own checks.
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=False)
    loop.cycle()
    rec = store.recommendations.pending(loop.pid)
    assert rec is not None and rec.id is not None
    with _killed_after_update(monkeypatch, loop.project.job_id):
        apply_recommendation(store, gateway, loop.pid)
    written = _live(gateway, loop.project.job_id)
    # The apply is recorded first, then reverted in the same call: what the person asked for.
    assert revert(store, gateway, loop.pid).applied
    assert INTENT_KEY not in store.projects.get(loop.pid).state
    assert store.recommendations.get(rec.id).state == "reverted"
    assert _live(gateway, loop.project.job_id) != written
    assert store.projects.get(loop.pid).pending_apply["reverted"] is True


def test_a_killed_reattach_whose_job_is_deleted_since_leaves_the_project_detached(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # A detached project is read only to settle its intent: with its job gone there is nothing to
    # settle, and it is not orphaned (every poll would say so again).
    pid = _reattach_killed(store, secrets, job_ids[0], gateway, monkeypatch)
    gateway.delete_job(job_ids[0])
    server = _Restarted(store, secrets, emulator)
    assert server.collector.poll_once() == []
    project = store.projects.get(pid)
    assert project.detached and not project.orphaned and INTENT_KEY not in project.state
