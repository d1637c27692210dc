"""The dashboard shows a run known from its event log alone (`Run.execution_only`) within the SLA as
"unknown (runtime without setup)", not as met, and leaves it out of the project's SLA-met share."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from server.dashboard import serve_dashboard
from server.domain import Project, ProjectSettings, Run
from server.store import open_store

SLA_S = 22 * 60.0
START_MS = 1_750_000_000_000


def _get(url: str, token: str) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.read().decode()


def test_project_and_run_pages_mark_a_runtime_without_setup(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    dashboard = serve_dashboard(store, "127.0.0.1:0")
    try:
        pid = int(store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", job_name="j",
                                             settings=ProjectSettings(sla_seconds=SLA_S))).id or 0)
        met = store.runs.add(Run(project_id=pid, databricks_run_id=1, start_ms=START_MS, runtime_s=21 * 60.0,
                                 setup_s=240.0))
        missed = store.runs.add(Run(project_id=pid, databricks_run_id=2, start_ms=START_MS + 1, runtime_s=25 * 60.0,
                                    execution_only=True))
        unknown = store.runs.add(Run(project_id=pid, databricks_run_id=3, start_ms=START_MS + 2,
                                     runtime_s=20 * 60.0, execution_only=True))
        _, token = store.tokens.create("dash", "admin")
        base = dashboard.url.rstrip("/")
        page = _get(f"{base}/projects/{pid}", token)
        run_page = _get(f"{base}/runs/{unknown.id}", token)
        index = _get(f"{base}/", token)
    finally:
        dashboard.stop()
        store.close()
    rows = dict(re.findall(r'<tr class="run-row" data-run-id="(\d+)">(.*?)</tr>', page))
    assert "<td>met</td>" in rows[str(met.id)]
    assert "<td>missed</td>" in rows[str(missed.id)]  # its runtime alone is over the SLA
    assert "<td>unknown (runtime without setup)</td>" in rows[str(unknown.id)]  # was "met"
    # 1 met of the 2 judged (was 67%: 2 of 3), and the latest run's verdict is unknown, not "missed".
    (sla,) = re.findall(r"<dt>SLA</dt><dd>(.*?)</dd>", page)
    assert "50% met" in sla and "latest unknown (runtime without setup)" in sla, sla
    assert "50%" in index
    (setup,) = re.findall(r"<dt>cluster setup</dt><dd>(.*?)</dd>", run_page)
    assert setup == "unknown, not in the runtime (known from its event log alone)"  # was "-"
