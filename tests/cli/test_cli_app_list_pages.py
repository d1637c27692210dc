"""`trimtab app list` pages and filters (ListApplications' page_token, run_id, cluster_id, unassigned):
it listed the newest 500 at most, so an older application could not be listed at all."""

from __future__ import annotations

import json

from server.domain import AgentInfo, Application, IngestBatch, IngestEvent, Project, Run
from server.store import Store
from tests.cli.conftest import Trimtab

T0 = 1_796_000_000_000


def _apps(store: Store, cluster: str, count: int, first: int = 0) -> list[str]:
    ids = [f"{cluster}-app-{n:03d}" for n in range(first, first + count)]
    store.ingest.write([IngestBatch(batch_id=f"b-{cluster}", agent=AgentInfo(agent_id="a"), events=tuple(
        IngestEvent(app, f"start/{app}", "Application",
                    Application(application_id=app, cluster_id=cluster, start_time_ms=T0 + n * 1000), b"s")
        for n, app in zip(range(first, first + count), ids, strict=True)))])
    return ids


def test_all_pages_and_filters(trimtab: Trimtab, cli_store: Store) -> None:
    ones = _apps(cli_store, "c-1", 7)
    twos = _apps(cli_store, "c-2", 2, first=20)
    project = cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main"))
    run = cli_store.runs.add(Run(project_id=project.id, databricks_run_id=9, start_ms=T0, runtime_s=60.0,
                                 application_ids=(ones[0],)))

    code, out, err = trimtab("--json", "app", "list", "--limit", "3")
    assert code == 0 and [a["application_id"] for a in json.loads(out)] == [*twos[::-1], ones[-1]]
    token = err.split("--page-token ")[1].split()[0]
    code, out, _ = trimtab("--json", "app", "list", "--limit", "3", "--page-token", token)
    assert code == 0 and [a["application_id"] for a in json.loads(out)] == ones[-2:-5:-1]

    code, out, err = trimtab("--json", "app", "list", "--limit", "2", "--all")
    assert code == 0 and [a["application_id"] for a in json.loads(out)] == [*twos[::-1], *ones[::-1]]
    assert "more:" not in err
    code, out, _ = trimtab("--json", "app", "list", "--all", "--cluster", "c-2")
    assert code == 0 and [a["application_id"] for a in json.loads(out)] == twos[::-1]
    code, out, _ = trimtab("--json", "app", "list", "--run", str(run.id))
    assert code == 0 and [a["application_id"] for a in json.loads(out)] == [ones[0]]
    code, out, _ = trimtab("--json", "app", "list", "--all", "--unassigned", "--cluster", "c-1")
    assert code == 0 and [a["application_id"] for a in json.loads(out)] == ones[:0:-1]

    code, out, _ = trimtab("app", "list", "--limit", "1")
    assert code == 0 and out.splitlines()[0].split()[0] == "APPLICATION"
    assert out.splitlines()[-1].startswith("more: --page-token ")
    code, _, err = trimtab("app", "list", "--all", "--page-token", token)
    assert code == 2 and "--all" in err
