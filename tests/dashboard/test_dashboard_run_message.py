"""The project page's run rows say why a run failed, escaped: the message is text from the workspace."""

from __future__ import annotations

import re
import urllib.request
from html import unescape
from pathlib import Path

from server.dashboard import serve_dashboard
from server.domain import Project, Run
from server.store import open_store

HOSTILE = ('Exception: <script>alert("x")</script> & "quoted" \'single\' '
           'in a message long enough to be cut in the row, with its whole text in the tooltip')


def test_a_failed_runs_message_is_shown_escaped_in_its_row(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    dashboard = serve_dashboard(store, "127.0.0.1:0")
    try:
        pid = int(store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", job_name="j")).id or 0)
        failed = store.runs.add(Run(project_id=pid, databricks_run_id=1, outcome="failed", message=HOSTILE))
        ok = store.runs.add(Run(project_id=pid, databricks_run_id=2))
        _, token = store.tokens.create("dash", "admin")
        request = urllib.request.Request(f"{dashboard.url.rstrip('/')}/projects/{pid}",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            page = reply.read().decode()
        # The run's own page says why too, in full and escaped.
        request = urllib.request.Request(f"{dashboard.url.rstrip('/')}/runs/{failed.id}",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            run_page = reply.read().decode()
    finally:
        dashboard.stop()
        store.close()
    assert "<script>" not in page and "&lt;script&gt;" in page  # no markup from the workspace gets through
    rows = dict(re.findall(r'<tr class="run-row" data-run-id="(\d+)">(.*?)</tr>', page))
    failed_row, ok_row = rows[str(failed.id)], rows[str(ok.id)]
    (title,) = re.findall(r'<td class="outcome" title="([^"]*)">', failed_row)
    assert unescape(title) == HOSTILE  # the whole message, attribute-escaped (quotes included)
    (shown,) = re.findall(r'<span class="why">(.*?)</span>', failed_row)
    assert unescape(shown) == HOSTILE[:59].rstrip() + "…" and "failed: " in failed_row
    assert "<td>succeeded</td>" in ok_row and "title=" not in ok_row
    assert "<script>" not in run_page
    (why,) = re.findall(r"<dt>why</dt><dd>(.*?)</dd>", run_page)
    assert unescape(why) == HOSTILE
