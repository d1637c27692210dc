"""`ProjectSettings.sla_every_run` on both engines: stored, read back, and False for settings stored
before the key existed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from server.domain import Project, ProjectSettings
from server.store import Store
from server.store.tables import ProjectRow

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


def _project(store: Store, settings: ProjectSettings) -> Project:
    return store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                      original_spec=SPEC, current_spec=SPEC, settings=settings))


@pytest.mark.parametrize("name", ["sla_every_run", "working_sla"])
@pytest.mark.parametrize("first", [True, False])
def test_the_sla_switches_round_trip(store: Store, name: str, first: bool) -> None:
    p = _project(store, ProjectSettings(sla_seconds=2700.0, **{name: first}))
    assert p.id is not None
    assert getattr(store.projects.get(p.id).settings, name) is first
    back = store.projects.update_settings(p.id, ProjectSettings(sla_seconds=2700.0, **{name: not first}))
    assert getattr(back.settings, name) is (not first)
    assert getattr(store.projects.get(p.id).settings, name) is (not first)


def test_settings_stored_without_the_key_read_as_the_typical_run(store: Store) -> None:
    p = _project(store, ProjectSettings(sla_seconds=2700.0, sla_every_run=True))
    assert p.id is not None
    # The JSON as a server from before `sla_every_run` wrote it: no migration, the dataclass default fills in.
    old = {"sla_seconds": 2700.0, "auto_apply": True, "min_workers": None, "max_workers": None,
           "allowed_families": ["m5"], "spot_allowed": True, "driver_node_type_id": None,
           "keep_autoscaling": False, "learning_budget": 3}
    table = ProjectRow.__table__
    with store.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == p.id).values(settings=old))
        raw = conn.execute(sa.select(table.c.settings).where(table.c.id == p.id)).scalar_one()
    assert "sla_every_run" not in raw
    assert store.projects.get(p.id).settings == ProjectSettings(sla_seconds=2700.0, auto_apply=True,
                                                                allowed_families=("m5",), sla_every_run=False)


def test_new_projects_promise_the_sla_for_every_run(store: Store) -> None:
    # A max-runtime SLA is a promise about each run: the default, stored as such and read back.
    p = _project(store, ProjectSettings(sla_seconds=2700.0))
    assert p.id is not None
    assert store.projects.get(p.id).settings.sla_every_run is True


def test_worker_bounds_of_zero_stored_before_the_check_read_as_unset(store: Store) -> None:
    """Before bounds needed a worker, `--min-workers 0` was stored: read as unset, such a project
    stays plannable and its other settings changeable after an upgrade (review)."""
    p = _project(store, ProjectSettings(min_workers=2, max_workers=8))
    assert p.id is not None
    table = ProjectRow.__table__
    with store.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == p.id).values(
            settings={"min_workers": 0, "max_workers": 0, "learning_budget": 3}))
    settings = store.projects.get(p.id).settings
    assert (settings.min_workers, settings.max_workers) == (None, None)

    from server.services.projects import apply_changes

    assert apply_changes(settings, {"sla_seconds": 3600.0}).sla_seconds == 3600.0  # not refused for the old zeros
    # Bounds of one worker or more read as stored (the control).
    store.projects.update_settings(p.id, ProjectSettings(min_workers=1, max_workers=3))
    assert (store.projects.get(p.id).settings.min_workers, store.projects.get(p.id).settings.max_workers) == (1, 3)


def test_working_sla_is_on_for_settings_stored_before_it(store: Store) -> None:
    p = _project(store, ProjectSettings(sla_seconds=2700.0, working_sla=False))
    assert p.id is not None
    # Stored before the key existed: the working SLA already applied to every project (eleventh
    # session), so such settings read as on.
    table = ProjectRow.__table__
    with store.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == p.id).values(settings={"sla_seconds": 2700.0}))
    assert store.projects.get(p.id).settings.working_sla is True
