"""The dashboard and `trimtab savings` agree after a change of plan; the page's savings wording fits a
revert and a project without an SLA, marks a preliminary saving; an applied recommendation's reason
reads as the CLI's. Plain HTTP against a real dashboard, the CLI against a real gRPC server, one store."""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.dashboard import Dashboard, serve_dashboard
from server.domain import ClusterConfig, Project, ProjectSettings, Recommendation, Workspace
from server.render.fmt import money, percent
from server.render.reason import MONITORING_PREFIX
from server.serve import RunningServer
from server.store import Store, open_store
from tests.timeline.seed import cli, seed


@dataclass
class Both:
    store: Store
    dashboard: Dashboard
    running: RunningServer
    token: str
    project: Project

    def page(self, path: str) -> str:
        request = urllib.request.Request(f"{self.dashboard.url.rstrip('/')}{path}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.read().decode()


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Both]:
    from server.config import ServerConfig
    from server.serve import start_server

    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    project, _ = seed(store)
    _, token = store.tokens.create("admin", "admin")
    dashboard = serve_dashboard(store, "127.0.0.1:0")
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state"), store)
    try:
        yield Both(store, dashboard, running, token, project)
    finally:
        running.stop(0)
        dashboard.stop()
        store.close()


def _fact(page: str, key: str) -> str:
    found = re.search(rf"<dt>{re.escape(key)}</dt><dd>(.*?)</dd>", page)
    assert found, f"no {key!r} on the page"
    return found.group(1)


def test_after_a_plan_change_the_dashboard_shows_the_clis_savings(both: Both,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # The seed's runs were priced at $0.20/DBU; the workspace is on premium ($0.15) now: every run's
    # DBUs re-priced alike, in the CLI (stored_project_savings) and, now, on the page.
    both.store.workspaces.add(Workspace(name="ws", host="https://ws.example", cloud="aws", plan="premium",
                                        region="us-east-1"), token_encrypted="x")
    code, text = cli(capsys, both.running, both.token, "--json", "savings")
    assert code == 0, text
    reply = json.loads(text)
    (p,) = reply["projects"]
    saved, fraction = p["saved_to_date"], 1 - p["current_cost_per_run"] / p["baseline_cost_per_run"]
    assert saved == pytest.approx(13.23)  # stored prices would say 14.70
    listing = both.page("/")
    assert f'<b id="total-saved">{money(saved)}</b>' in listing
    assert f'<b id="total-annual">{money(reply["total_projected_annual"])}</b>' in listing
    assert f'{percent(fraction)} <span class="muted preliminary">(preliminary)</span>' in listing
    page = both.page(f"/projects/{both.project.id}")
    # Two runs as found behind the baseline: saved to date is preliminary too, on the page and in the CLI.
    assert p["saved_to_date_preliminary"] is True and p["preliminary"] is True
    assert _fact(page, "saved to date") == f'{money(saved)} <span class="muted preliminary">(preliminary)</span>'
    assert _fact(page, "projected annual") == money(p["projected_annual"])
    # The runs behind it, as the CLI's row says them.
    assert _fact(page, "saving now") == (f'{percent(fraction)} <span class="muted" id="savings-runs">'
                                         "(2 vs 2 runs, preliminary)</span>")
    code, text = cli(capsys, both.running, both.token, "savings")
    assert f"{percent(fraction)} (2 vs 2 runs, preliminary)" in text
    assert f"{money(saved)} (preliminary)" in text


def test_the_now_from_wording_fits_a_revert_and_no_sla(both: Both) -> None:
    project = both.store.projects.get(int(both.project.id or 0))
    both.store.projects.update_settings(int(project.id or 0), ProjectSettings(sla_seconds=None))
    page = both.page(f"/projects/{project.id}")
    assert _fact(page, "savings now from") == "recommendation 3 (2 runs)"
    assert "within the SLA" not in page
    # A recommendation no run used yet is applied: the fallback, without an SLA to be within.
    both.store.projects.update(dataclasses.replace(both.store.projects.get(int(project.id or 0)),
                                                   pending_apply={"recommendation_id": 5, "applied_after_run_id": 1009,
                                                                  "confirmed": False}))
    page = both.page(f"/projects/{project.id}")
    assert _fact(page, "savings now from") == ("last 3 Trimtab runs, learning trials included (the applied "
                                               "recommendation has no succeeded run yet)")
    # `recommendation revert` to the cluster as found: the cost before Trimtab, no saving now.
    both.store.projects.update(dataclasses.replace(both.store.projects.get(int(project.id or 0)), pending_apply={
        "recommendation_id": None, "reverted": True, "applied_after_run_id": 1009, "confirmed": False}))
    page = both.page(f"/projects/{project.id}")
    assert _fact(page, "savings now from").startswith("the cluster as found (2 runs): reverted, so no saving now")
    assert _fact(page, "saving now").startswith("0% ")
    assert "last 3 Trimtab runs" not in page


def test_an_applied_recommendations_reason_reads_as_the_clis(both: Both, capsys: pytest.CaptureFixture[str]) -> None:
    pid = int(both.project.id or 0)
    reason = MONITORING_PREFIX + "m5.xlargex4 is the cheapest that meets the SLA"
    rec = both.store.recommendations.add(Recommendation(
        project_id=pid, config=ClusterConfig(node_type_id="m5.xlarge", num_workers=4), reason=reason,
        phase="monitoring"))
    page = both.page(f"/projects/{pid}")
    assert _fact(page, "reason") == reason  # true while pending
    # The cluster as the CLI shows it: availability and driver too (review: the page left them out).
    assert _fact(page, "cluster") == "m5.xlarge × 4 workers, on demand"
    spot = both.store.recommendations.add(Recommendation(
        project_id=pid, config=ClusterConfig(node_type_id="m5.xlarge", num_workers=4, availability="SPOT_WITH_FALLBACK",
                                             driver_node_type_id="m5.2xlarge"), reason=reason, phase="monitoring"))
    assert _fact(both.page(f"/projects/{pid}"), "cluster") == "m5.xlarge × 4 workers, spot, driver m5.2xlarge"
    rec = spot
    both.store.recommendations.set_state(int(rec.id or 0), "applied")
    page = both.page(f"/projects/{pid}")
    assert 'data-state="applied"' in page
    shown = _fact(page, "reason")
    assert shown == "made while auto-apply was off, since applied: m5.xlargex4 is the cheapest that meets the SLA"
    assert "recommendation only" not in page
    code, text = cli(capsys, both.running, both.token, "recommendation", "show", str(pid))
    assert code == 0 and f"why:      {shown}" in text
