"""recommendations.applied_at_ms/applied_by/reverted_at_ms/reverted_by and the state "reverted" (0022): stamped with
the store's clock in the project write that records an apply or a revert; rows from before read unknown; a
downgrade gives an older Trimtab "rejected" back (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

from server.clock import FakeClock
from server.domain import ClusterConfig, Project, Recommendation
from server.store import Store, migrate, open_store
from tests.store.conftest import downgraded_to, seeded_at
from tests.store.old_schema import add_project_row


def test_apply_and_revert_are_stamped_with_when_and_who(store: Store, clock: FakeClock) -> None:
    project = store.projects.add(Project(workspace="prod", job_id=42, cluster_key="A"))
    pid = int(project.id or 0)
    rec = store.recommendations.add(Recommendation(project_id=pid, config=ClusterConfig(node_type_id="m5.xlarge")))
    rid = int(rec.id or 0)
    assert (rec.applied_at_ms, rec.applied_by, rec.reverted_at_ms, rec.reverted_by) == (None, "", None, "")
    applied_at = clock.now_ms()
    store.projects.update(store.projects.get(pid), recommendations={rid: "applied"}, by="auto")
    clock.advance(3600)
    store.projects.update(store.projects.get(pid), recommendations={rid: "reverted"}, by="me (token 0a1b2c)")
    got = store.recommendations.get(rid)
    assert (got.state, got.applied_at_ms, got.applied_by) == ("reverted", applied_at, "auto")
    assert (got.reverted_at_ms, got.reverted_by) == (applied_at + 3_600_000, "me (token 0a1b2c)")
    # Any other state change leaves the record of who applied and reverted it.
    store.projects.update(store.projects.get(pid), recommendations={rid: "superseded"}, by="someone")
    assert store.recommendations.get(rid).applied_by == "auto"


def _seed(conn: sa.Connection) -> int:
    pid = add_project_row(conn)
    conn.execute(sa.text(
        "INSERT INTO recommendations (project_id, created_at_ms, state, config, predicted_runtime_s, runtime_low_s, "
        "runtime_high_s, predicted_cost, cost_low, cost_high, reason, phase, storage_advice) VALUES "
        f"({pid}, 5, 'rejected', '{{\"node_type_id\": \"m5.xlarge\"}}', 0, 0, 0, 0, 0, 0, 'r', 'learning', '')"))
    return pid


def test_upgrade_from_0020_keeps_recommendations_with_unknown_audit(db_url: str) -> None:
    pid = seeded_at(db_url, "0020", _seed)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        (rec,) = store.recommendations.list(pid)
        assert (rec.state, rec.applied_at_ms, rec.applied_by, rec.reverted_at_ms, rec.reverted_by) == (
            "rejected", None, "", None, "")
        store.projects.update(store.projects.get(pid), recommendations={int(rec.id or 0): "reverted"}, by="auto")
        assert store.recommendations.get(int(rec.id or 0)).reverted_by == "auto"
    finally:
        store.close()
    engine = downgraded_to(db_url, "0021")
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT state FROM recommendations")).scalar_one() == "rejected"
    finally:
        engine.dispose()
