"""A project row written back by an apply or the collector keeps the settings the user changed
meanwhile (API review, ninth session): `project set P --auto-apply off` made while an apply waited
on Databricks was undone by the apply's write of the row it had read before (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses

from server.domain import Project, ProjectSettings
from server.store import Store


def test_update_writes_the_row_but_never_the_settings(store: Store) -> None:
    project = store.projects.add(Project(workspace="prod", job_id=7, cluster_key="main", job_name="n",
                                         settings=ProjectSettings(sla_seconds=1800.0, auto_apply=True)))
    pid = int(project.id or 0)
    read_by_apply = store.projects.get(pid)  # an apply reads the row, then calls Databricks ...
    store.projects.update_settings(pid, dataclasses.replace(read_by_apply.settings, auto_apply=False,
                                                            sla_seconds=3600.0))  # ... the user turns it off
    written = store.projects.update(dataclasses.replace(read_by_apply, phase="optimizing",
                                                        current_spec={"num_workers": 3}))
    assert written.phase == "optimizing" and written.current_spec == {"num_workers": 3}
    assert (written.settings.auto_apply, written.settings.sla_seconds) == (False, 3600.0)
    assert store.projects.get(pid).settings == written.settings
