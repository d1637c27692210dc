"""A project page shows its runs `RUNS_PER_PAGE` at a time, newest first, with links to older pages,
and draws the timeline over the newest `TIMELINE_RUNS` runs, saying so (review 9: a project with
20,000 runs was one 14.2 MB page, 8.8 MB of it an inline SVG). Real dashboard on 127.0.0.1:0, SQLite."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from server.dashboard import serve_dashboard
from server.dashboard.views import RUNS_PER_PAGE, TIMELINE_RUNS
from server.domain import ClusterConfig, CostBreakdown, Project, ProjectSettings, Recommendation, Run
from server.store import Store, open_store

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 8}
RUNS = 3 * RUNS_PER_PAGE + 50  # four pages, the last one short; more than the timeline draws
APPLIED_FROM = 100  # runs from this one on carry the applied recommendation


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class Site:
    url: str
    token: str
    project_id: int
    run_ids: list[int]  # oldest first
    small_id: int  # a project with a few runs


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    store: Store = open_store(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'trimtab.db'}")
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", job_name="busy",
                                         settings=ProjectSettings(sla_seconds=3600), original_spec=SPEC,
                                         current_spec=SPEC))
    pid = int(project.id or 0)
    config = ClusterConfig(node_type_id="m5.xlarge", num_workers=8, spec=SPEC)
    rec = store.recommendations.add(Recommendation(project_id=pid, config=config, reason="r", state="applied"))
    assert RUNS > TIMELINE_RUNS and RUNS - TIMELINE_RUNS > APPLIED_FROM
    ids = [int(store.runs.add(Run(
        project_id=pid, databricks_run_id=i, start_ms=i * 3_600_000, end_ms=i * 3_600_000 + 1_000_000,
        runtime_s=1000.0, config=config, cost=CostBreakdown(total=10.0, dbus=20.0),
        recommendation_id=rec.id if i >= APPLIED_FROM else None)).id or 0) for i in range(1, RUNS + 1)]
    small = store.projects.add(Project(workspace="ws", job_id=2, cluster_key="main", original_spec=SPEC,
                                       current_spec=SPEC))
    for i in range(1, 4):
        store.runs.add(Run(project_id=int(small.id or 0), databricks_run_id=i, start_ms=i * 3_600_000,
                           end_ms=i * 3_600_000 + 1000, runtime_s=1.0, config=config))
    _, token = store.tokens.create("dash", "admin")
    dash = serve_dashboard(store, "127.0.0.1:0")
    try:
        yield Site(dash.url.rstrip("/"), token, pid, ids, int(small.id or 0))
    finally:
        dash.stop()
        store.close()


def _get(site: Site, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(site.url + path, headers={"Authorization": f"Bearer {site.token}"}
                                 if headers is None else headers)
    try:
        with OPENER.open(req, timeout=30) as reply:
            return reply.status, dict(reply.headers), str(reply.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), str(err.read().decode("utf-8"))


def _run_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="run-row" data-run-id="(\d+)">', page)]


def test_the_runs_come_a_page_at_a_time_newest_first(site: Site) -> None:
    newest_first = site.run_ids[::-1]
    status, _, first = _get(site, f"/projects/{site.project_id}")
    assert status == 200
    assert _run_ids(first) == newest_first[:RUNS_PER_PAGE]
    assert f"runs 1–{RUNS_PER_PAGE} of {RUNS}, newest first (page 1 of 4)" in first
    links = set(re.findall(r'<a href="(/projects/\d+\?page=\d+)"', first))
    assert links == {f"/projects/{site.project_id}?page=2", f"/projects/{site.project_id}?page=4"}
    # Every page in turn, by the "older" link, until the oldest run; the pages neither skip nor repeat.
    seen: list[int] = []
    page, path = first, f"/projects/{site.project_id}"
    while True:
        seen += _run_ids(page)
        older = re.search(r'<a href="([^"]+)" data-page="\d+">older ›</a>', page)
        if older is None:
            break
        path = older.group(1)
        status, _, page = _get(site, path)
        assert status == 200, path
    assert seen == newest_first and path.endswith("?page=4")
    assert len(_run_ids(page)) == RUNS - 3 * RUNS_PER_PAGE
    assert f"runs {3 * RUNS_PER_PAGE + 1}–{RUNS} of {RUNS}" in page
    assert "‹ newer" in page and "older ›" not in page


def test_the_timeline_draws_the_newest_runs_and_says_so(site: Site) -> None:
    _, _, page = _get(site, f"/projects/{site.project_id}?page=2")
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert f'data-points="{TIMELINE_RUNS}"' in svg
    drawn = {int(i) for i in re.findall(r'<circle class="point runtime" data-run-id="(\d+)"', svg)}
    assert drawn == set(site.run_ids[-TIMELINE_RUNS:])
    assert f"The newest {TIMELINE_RUNS} of {RUNS} runs" in page and "draws every run" in page
    # The recommendation took over at run APPLIED_FROM, before the runs drawn: no apply marker at the
    # first run drawn, as if it had taken over there.
    assert "apply-marker" not in svg
    # The chart on its own is the page's chart.
    status, headers, alone = _get(site, f"/projects/{site.project_id}/timeline.svg")
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"
    assert f'data-points="{TIMELINE_RUNS}"' in alone
    # The whole page stays small: it was every run and a chart of every run.
    assert len(page.encode()) < 400_000


def test_a_project_with_few_runs_has_one_page_and_no_notes(site: Site) -> None:
    status, _, page = _get(site, f"/projects/{site.small_id}")
    assert status == 200 and len(_run_ids(page)) == 3
    assert 'class="pager' not in page and "timeline-note" not in page
    assert _get(site, f"/projects/{site.small_id}?page=1")[0] == 200


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=abc", "page=1.5", "page=%EF%BC%92",
                                   "page=" + "9" * 40])
def test_a_page_number_that_is_not_one_is_a_400(site: Site, query: str) -> None:
    status, _, body = _get(site, f"/projects/{site.project_id}?{query}")
    assert status == 400, body
    assert "give a page number from 1" in body


def test_a_page_past_the_last_is_a_404_naming_how_many_there_are(site: Site) -> None:
    status, _, body = _get(site, f"/projects/{site.project_id}?page=5")
    assert status == 404
    assert "has 4 pages of runs (200 a page): no page 5" in body


def test_signing_in_comes_back_to_the_page_asked_for(site: Site) -> None:
    status, headers, _ = _get(site, f"/projects/{site.project_id}?page=3", headers={"Accept": "text/html"})
    assert status == 303
    location = urllib.parse.urlsplit(headers["Location"])
    assert location.path == "/login"
    assert urllib.parse.parse_qs(location.query)["next"] == [f"/projects/{site.project_id}?page=3"]
