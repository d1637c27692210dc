"""A run the price catalog cannot price is stored without a cost, says why in its message (shown by
`trimtab run show` and the dashboard beside "not priced"), and is priced once the server runs on a
catalog that can, while it is in the re-cost window; never tried twice with one catalog version."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import Clock, FakeClock, SystemClock
from server.collect import Collector
from server.collect.build import MESSAGE_CHARS
from server.collect.collector import UNPRICED_MARK, with_unpriced_note, without_unpriced_note
from server.costing.billing import DEFAULT_RECOST_POLICY
from server.costing.catalog import PriceCatalog, load_catalog
from server.databricks import DatabricksGateway
from server.domain import Run, Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING


def _without_node_type(catalog: PriceCatalog, node_type: str, version: str) -> PriceCatalog:
    """The catalog as an older version that did not know ``node_type`` yet."""
    entries = {kind: tuple(e for e in rows if e.get("node_type") != node_type)
               for kind, rows in catalog.entries.items()}
    return PriceCatalog(version, catalog.currency, catalog.hours_per_month, entries, catalog.note)


def _collector(store: Store, secrets: SecretBox, catalog: PriceCatalog, clock: Clock | None = None) -> Collector:
    return Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws),
                     clock=clock or SystemClock(), catalog=catalog)


def _unpriced_run(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                  job_id: int, old: PriceCatalog) -> Run:
    workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    (run,) = _collector(store, secrets, old).poll_once()
    return run


def _node_type(gateway: DatabricksGateway, job_id: int) -> str:
    return str(gateway.get_job(job_id)["settings"]["job_clusters"][0]["new_cluster"]["node_type_id"])


@pytest.fixture
def full() -> PriceCatalog:
    return load_catalog()


def test_unpriced_run_says_why_and_is_priced_by_a_newer_catalog(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], full: PriceCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    node_type = _node_type(gateway, job_ids[0])
    old = _without_node_type(full, node_type, "old-1")
    run = _unpriced_run(store, secrets, emulator, gateway, job_ids[0], old)
    assert run.cost is None
    assert run.message.endswith(f"not priced with catalog old-1: unknown node type {node_type!r} on aws: "
                                "the price catalog has no DBUs per hour or sizes for it")

    # The same catalog does not try again: one try per run and catalog version.
    same = _collector(store, secrets, old)
    tries: list[str] = []
    priced = same._priced
    monkeypatch.setattr(same, "_priced", lambda ws, cid, *a: tries.append(cid) or priced(ws, cid, *a))
    assert same.poll_once() == []
    assert tries == [] and store.runs.get(int(run.id or 0)) == run

    # A server restarted on a refreshed catalog prices it, and the note goes.
    _collector(store, secrets, full).poll_once()
    now = store.runs.get(int(run.id or 0))
    assert now.cost is not None and now.cost.total > 0
    assert UNPRICED_MARK not in now.message and now.message == without_unpriced_note(run.message)
    assert now.cost.window_start_ms is not None and now.cost.window_end_ms is not None


def test_a_catalog_that_still_cannot_price_it_says_so_with_its_version(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], full: PriceCatalog) -> None:
    node_type = _node_type(gateway, job_ids[0])
    run = _unpriced_run(store, secrets, emulator, gateway, job_ids[0], _without_node_type(full, node_type, "old-1"))
    _collector(store, secrets, _without_node_type(full, node_type, "old-2")).poll_once()
    now = store.runs.get(int(run.id or 0))
    assert now.cost is None
    assert now.message.count(UNPRICED_MARK) == 1 and f"{UNPRICED_MARK}old-2: " in now.message


def test_past_the_recost_window_it_stays_unpriced(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], full: PriceCatalog) -> None:
    node_type = _node_type(gateway, job_ids[0])
    run = _unpriced_run(store, secrets, emulator, gateway, job_ids[0], _without_node_type(full, node_type, "old-1"))
    late = FakeClock(run.end_ms + DEFAULT_RECOST_POLICY.give_up_after_ms + 60_000)
    _collector(store, secrets, full, late).poll_once()
    assert store.runs.get(int(run.id or 0)) == run


def test_the_note_stays_whole_after_a_long_message() -> None:
    note = f"{UNPRICED_MARK}v9: unknown node type 'x9.huge' on aws"
    message = with_unpriced_note("Databricks said " + "a lot " * 200, note)
    assert len(message) <= MESSAGE_CHARS and message.endswith(note)
    again = with_unpriced_note(message, note.replace("v9", "v10"))
    assert again.count(UNPRICED_MARK) == 1 and again.endswith("v10: unknown node type 'x9.huge' on aws")
    assert with_unpriced_note("failed", "") == "failed"
    assert without_unpriced_note(f"failed; {note}") == "failed"


def test_runs_priced_again_plan_their_project_once(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], full: PriceCatalog) -> None:
    # Review: each re-priced run called the planner (a full plan, a recommendation, an auto-apply
    # try): after a catalog update, up to 200 plans superseding each other in one poll.
    node_type = _node_type(gateway, job_ids[0])
    old = _without_node_type(full, node_type, "old-1")
    _unpriced_run(store, secrets, emulator, gateway, job_ids[0], old)
    for _ in range(2):
        gateway.run_now(job_ids[0])
        assert emulator.wait_idle(60)
    assert len(_collector(store, secrets, old).poll_once()) == 2
    planned: list[int] = []
    refreshed = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=full, on_run_collected=lambda r: planned.append(int(r.id or 0)))
    refreshed.poll_once()
    runs = store.runs.history(int(store.projects.list("sbx")[0].id or 0))
    assert len(runs) == 3 and all(r.cost is not None for r in runs)
    assert planned == [max(int(r.id or 0) for r in runs)]  # once, after the newest
