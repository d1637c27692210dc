"""The project page's savings with the context `trimtab savings` gives them (review rev15e 4): the
CLI's per-project notes (here: runs re-priced at the workspace's plan now, runs edited outside
Trimtab), the cost before and now per run, and the runs a year with where that count comes from.
Real dashboard over HTTP on 127.0.0.1:0, SQLite."""

from __future__ import annotations

import re
import urllib.request
from html import unescape
from pathlib import Path

from server.cli.savings import project_notes  # the CLI's own notes: the page says the same
from server.dashboard import serve_dashboard
from server.domain import Workspace
from server.render.fmt import money
from server.services.savings import stored_project_savings
from server.store import open_store
from tests.timeline.seed import seed


def test_the_project_page_shows_the_clis_savings_notes_and_figures(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    # The seeded runs were priced at $0.20/DBU; the workspace's plan now prices DBUs otherwise.
    store.workspaces.add(Workspace(name="ws", host="https://ws.example", cloud="aws", plan="premium"), "sealed")
    project, _ = seed(store)
    _, token = store.tokens.create("dash", "admin")
    dash = serve_dashboard(store, "127.0.0.1:0")
    try:
        savings = stored_project_savings(store, project)
        assert savings is not None and savings.repriced_runs > 0 and savings.user_edited_runs > 0
        request = urllib.request.Request(f"{dash.url}projects/{project.id}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            page = reply.read().decode()
        notes = re.search(r'<ul class="muted" id="savings-notes">(.*?)</ul>', page, re.S)
        # Before: no note at all; the re-priced figures read as the stored costs `run list` shows.
        assert notes is not None
        shown = [unescape(n) for n in re.findall(r"<li>(.*?)</li>", notes.group(1))]
        assert shown == project_notes(savings, savings.has_sla)
        assert any("priced under another plan" in n and "(premium)" in n for n in shown)
        per_run = re.search(r'<span id="savings-per-run">(.*?)</span>', page)
        assert per_run is not None
        assert unescape(per_run.group(1)) == f"{money(savings.baseline_cost_per_run)} / {money(savings.current_cost_per_run)}"
        a_year = re.search(r'<span id="savings-runs-a-year">(.*?)</span>', page)
        assert a_year is not None and unescape(a_year.group(1)) == "365 (observed)"
    finally:
        dash.stop()
        store.close()
