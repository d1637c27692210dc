"""Running `trimtab demo` again resumes with the settings the user changed since (review: coherence):
the demo set auto-apply, the SLA, the learning budget, the families and spot on every invocation,
silently undoing a `trimtab project set` made between two demos."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from server.demo import DEMO_JOBS, STATE_FILE, DemoConfig, run_demo
from server.services.projects import update_settings
from server.store import open_store


def _projects(state_dir: Path) -> dict[str, object]:
    with contextlib.closing(open_store(f"sqlite:///{state_dir / 'trimtab.db'}", upgrade=False)) as opened:
        return {p.job_name: p for p in opened.projects.list()}


def test_a_second_demo_keeps_the_settings_the_user_changed(tmp_path: Path) -> None:
    run_demo(DemoConfig(state_dir=tmp_path, runs=0))
    sla_job = next(j for j in DEMO_JOBS if j.sla_seconds)
    first = _projects(tmp_path)
    assert first[sla_job.name].settings.auto_apply and first[sla_job.name].settings.sla_seconds == sla_job.sla_seconds
    with contextlib.closing(open_store(f"sqlite:///{tmp_path / 'trimtab.db'}", upgrade=False)) as opened:
        # As `trimtab project set` leaves them (the same service function behind UpdateProjectSettings).
        update_settings(opened, str(first[sla_job.name].id), {"auto_apply": False, "sla_seconds": 900.0,
                                                              "learning_budget": 5, "spot_allowed": True})
    run_demo(DemoConfig(state_dir=tmp_path, runs=0))
    again = _projects(tmp_path)[sla_job.name].settings
    assert not again.auto_apply and again.sla_seconds == 900.0 and again.learning_budget == 5 and again.spot_allowed
    # The other jobs still have the demo's settings from their first import.
    for job in DEMO_JOBS:
        if job.name != sla_job.name:
            assert _projects(tmp_path)[job.name].settings.auto_apply


def test_a_state_file_from_before_keeps_the_settings_of_the_projects_it_had(tmp_path: Path) -> None:
    """A state directory made by a demo that did not record which projects it set: every project it had
    imported got the demo's settings then, so they count as set."""
    run_demo(DemoConfig(state_dir=tmp_path, runs=0))
    path = tmp_path / STATE_FILE
    kept = json.loads(path.read_text())
    assert sorted(kept.pop("configured")) == sorted(j.name for j in DEMO_JOBS)
    path.write_text(json.dumps(kept))
    project = _projects(tmp_path)[DEMO_JOBS[0].name]
    with contextlib.closing(open_store(f"sqlite:///{tmp_path / 'trimtab.db'}", upgrade=False)) as opened:
        update_settings(opened, str(project.id), {"learning_budget": 6})
    run_demo(DemoConfig(state_dir=tmp_path, runs=0))
    assert _projects(tmp_path)[DEMO_JOBS[0].name].settings.learning_budget == 6
