"""A detached or orphaned project says so on the dashboard as `trimtab project show` does ("learning —
detached"), and its recommendation section says nothing is applied to it (review 9: the dashboard
showed "learning" alone, and a pending recommendation looked applicable). Real dashboard and gRPC
server on 127.0.0.1:0, SQLite."""

from __future__ import annotations

import html
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.cli.main import main
from server.config import ServerConfig
from server.dashboard import serve_dashboard
from server.domain import ClusterConfig, Project, ProjectSettings, Recommendation, Run
from server.render.fmt import phase_marks, phase_text
from server.serve import start_server
from server.store import Store, open_store

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 8}


@dataclass
class Setup:
    store: Store
    dash_url: str
    grpc: str
    token: str
    ids: dict[str, int]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    ids = {}
    for job, (name, flags) in enumerate({"active": {}, "detached": {"detached": True},
                                         "orphaned": {"orphaned": True},
                                         "both": {"detached": True, "orphaned": True}}.items(), start=1):
        p = store.projects.add(Project(workspace="ws", job_id=job, cluster_key="main", job_name=f"job {job}",
                                       settings=ProjectSettings(sla_seconds=3600), original_spec=SPEC,
                                       current_spec=SPEC, **flags))
        pid = int(p.id or 0)
        store.runs.add(Run(project_id=pid, databricks_run_id=1, start_ms=86_400_000, end_ms=87_400_000,
                           runtime_s=1000, config=ClusterConfig(node_type_id="m5.xlarge", num_workers=8, spec=SPEC)))
        store.recommendations.add(Recommendation(
            project_id=pid, reason="smaller", config=ClusterConfig(
                node_type_id="m5.2xlarge", num_workers=3, spec={**SPEC, "node_type_id": "m5.2xlarge",
                                                                "num_workers": 3})))
        ids[name] = pid
    _, token = store.tokens.create("dash", "admin")
    dash = serve_dashboard(store, "127.0.0.1:0")
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state"), store)
    try:
        yield Setup(store, dash.url.rstrip("/"), running.address, token, ids)
    finally:
        running.stop(0)
        dash.stop()
        store.close()


def _get(s: Setup, path: str) -> str:
    req = urllib.request.Request(s.dash_url + path, headers={"Authorization": f"Bearer {s.token}"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        assert reply.status == 200
        return str(reply.read().decode("utf-8"))


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def _cli(s: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.delenv("TRIMTAB_TOKEN", raising=False)
    capsys.readouterr()
    code = main(["--server", s.grpc, "--token", s.token, *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_the_words_are_the_project_shows(capsys: pytest.CaptureFixture[str]) -> None:
    assert phase_text("learning", False, False) == "learning"
    assert phase_text("learning", True, False) == "learning — detached"
    assert phase_text("optimizing", False, True) == "optimizing — orphaned"
    assert phase_text("monitoring", True, True) == "monitoring — detached — orphaned"
    assert phase_marks(False, False) == ()


def test_the_dashboard_says_detached_and_orphaned_as_project_show_does(
        setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {"active": "learning", "detached": "learning — detached", "orphaned": "learning — orphaned",
                "both": "learning — detached — orphaned"}
    listing = _get(setup, "/")
    for name, pid in setup.ids.items():
        row = re.search(rf'<tr class="project-row" data-project-id="{pid}">(.*?)</tr>', listing, re.S)
        assert row is not None
        assert _text(re.findall(r"<td>(.*?)</td>", row.group(1))[2]) == expected[name], name

        page = _get(setup, f"/projects/{pid}")
        phase = re.search(r"<dt>phase</dt><dd>(.*?)</dd>", page, re.S)
        assert phase is not None and _text(phase.group(1)) == expected[name], name
        # The same words as `trimtab project show` (the CLI's own output, through the real server).
        shown = _cli(setup, capsys, monkeypatch, "project", "show", str(pid))
        line = next(line for line in shown.splitlines() if line.startswith("phase"))
        assert line.split(None, 1)[1] == expected[name], shown

        note = re.search(r'<p class="bad" id="inactive-note">(.*?)</p>', page, re.S)
        recommendation = page.index('id="recommendation"')
        if name == "active":
            assert note is None
            continue
        # Above the pending recommendation, which would otherwise look like one about to be applied.
        assert note is not None and page.index('id="inactive-note"') < recommendation
        assert "nothing is applied to it" in _text(note.group(1))
        assert ("is detached" if name in ("detached", "both") else "is orphaned") in _text(note.group(1))


def test_project_list_in_the_cli_marks_detached_and_orphaned(
        setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = _cli(setup, capsys, monkeypatch, "project", "list")
    phases = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "learning (detached)" in phases[str(setup.ids["detached"])]
    # An orphaned project said nothing in the list (ninth session's note).
    assert "learning (orphaned)" in phases[str(setup.ids["orphaned"])]
    assert "learning (detached) (orphaned)" in phases[str(setup.ids["both"])]
    active = phases[str(setup.ids["active"])]
    assert "(detached)" not in active and "(orphaned)" not in active, active
