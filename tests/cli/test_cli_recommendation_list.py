"""`trimtab recommendation list`, the pending recommendation in `project show`, and a pending
recommendation the job already runs in `recommendation show`, through a real server (SQLite).

Before, no command listed what Trimtab recommended for a project and what became of it,
`project show` did not name the pending recommendation, and one of exactly the job's cluster read
as a change to apply.
"""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from server.already_runs import ALREADY_RUNS
from server.cli import recommendation as rec_cli
from server.domain import ClusterConfig, CostBreakdown, Project, Recommendation, Run, Workspace
from server.services import runs
from server.services.secrets import SecretBox
from server.store import Store
from tests.cli.conftest import Trimtab, shown

T0 = 1_796_000_000_000
MINUTE_MS = 60_000
# The nightly project's cluster (`NIGHTLY_SPEC`) as the planner names it: AWS's default availability.
SAME = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, availability="SPOT_WITH_FALLBACK", first_on_demand=1,
                     spark_version="15.4.x-scala2.12")
SMALLER = ClusterConfig(node_type_id="m5.xlarge", num_workers=2, availability="SPOT_WITH_FALLBACK",
                        first_on_demand=1, spark_version="15.4.x-scala2.12")
BIGGER = ClusterConfig(node_type_id="r5.2xlarge", num_workers=6, driver_node_type_id="m5.xlarge")


@pytest.fixture
def prod(cli_store: Store) -> None:
    """The nightly project's workspace, on AWS (what its spec is read on)."""
    cli_store.workspaces.add(Workspace(name="prod", host="https://dbc.example", cloud="aws"),
                             SecretBox(Fernet.generate_key()).encrypt("dapi-secret"), "")


def _rec(store: Store, p: Project, config: ClusterConfig, minute: int, state: str = "pending",
         cost: float = 0.8, **fields: object) -> str:
    rec = store.recommendations.add(Recommendation(
        project_id=int(p.id or 0), config=config, state=state, created_at_ms=T0 + minute * MINUTE_MS,
        predicted_cost=cost, predicted_runtime_s=1500.0 if cost else 0.0, reason="test", **fields))  # type: ignore[arg-type]
    return str(rec.id)


def _run(store: Store, p: Project, config: ClusterConfig, minute: int, cost: float) -> None:
    store.runs.add(Run(project_id=int(p.id or 0), databricks_run_id=minute, start_ms=T0 + minute * MINUTE_MS,
                       end_ms=T0 + (minute + 1) * MINUTE_MS, runtime_s=60.0, config=config,
                       created_at_ms=T0 + (minute + 1) * MINUTE_MS, cost=CostBreakdown(total=cost, currency="USD")))


def test_list_shows_each_recommendation_and_what_became_of_it(trimtab: Trimtab, cli_store: Store,
                                                              nightly: Project, prod: None) -> None:
    _run(cli_store, nightly, SAME, 0, 1.0)
    first = _rec(cli_store, nightly, SMALLER, 5, state="reverted", applied_at_ms=T0 + 6 * MINUTE_MS,
                 applied_by="auto", reverted_at_ms=T0 + 90 * MINUTE_MS, reverted_by="ops (token ab12)")
    _run(cli_store, nightly, SMALLER, 10, 0.6)
    second = _rec(cli_store, nightly, BIGGER, 15, state="rejected", cost=0.0)  # made before any prediction
    third = _rec(cli_store, nightly, SAME, 30)

    code, out, err = trimtab("recommendation", "list", nightly.name)

    assert code == 0, err
    header, _rule, *rows = out.splitlines()
    assert header.split()[:4] == ["ID", "CREATED", "(UTC)", "STATE"]
    assert "FROM -> TO" in header and "APPLIED (UTC, BY)" in header and "REVERTED (UTC, BY)" in header
    assert [r.split()[0] for r in rows] == [third, second, first]
    # The pending one is the very cluster the job runs now.
    assert "pending (already on the job)" in rows[0] and "m5.xlarge x2 spot -> m5.xlarge x4 spot" in rows[0]
    assert "rejected" in rows[1] and "m5.xlarge x2 spot -> r5.2xlarge x6 driver m5.xlarge" in rows[1]
    assert rows[1].split()[-4:] == ["-"] * 4  # no prediction, never applied, never reverted
    assert "reverted" in rows[2] and "m5.xlarge x4 spot -> m5.xlarge x2 spot" in rows[2]
    assert "$0.80" in rows[2] and "25m00s" in rows[2]
    assert "2026-11-30 00:59 auto" in rows[2] and "2026-11-30 02:23 ops (token ab12)" in rows[2]

    code, out, _ = trimtab("recommendation", "list", str(nightly.id), "--state", "rejected")
    assert code == 0 and [r.split()[0] for r in out.splitlines()[2:]] == [second]

    code, out, _ = trimtab("recommendation", "list", str(nightly.id), "--limit", "2")
    assert code == 0 and out.splitlines()[-1] == f"more: --page-token {second}"
    code, out, _ = trimtab("recommendation", "list", str(nightly.id), "--limit", "2", "--page-token", second)
    assert code == 0 and [r.split()[0] for r in out.splitlines()[2:]] == [first]

    code, out, _ = trimtab("--json", "recommendation", "list", str(nightly.id))
    data = json.loads(out)
    assert code == 0 and [r["id"] for r in data["recommendations"]] == [third, second, first]
    assert data["recommendations"][0]["already_on_job"] is True and data["next_page_token"] == ""
    assert data["recommendations"][1]["predicted"] is False and "predicted_cost" not in data["recommendations"][1]
    assert data["recommendations"][2]["planned_from"]["num_workers"] == 4

    code, _, err = trimtab("recommendation", "list", str(nightly.id), "--state", "done")
    assert code == 2 and "'done' is not one of" in err
    code, _, err = trimtab("recommendation", "list", "prod/42/nope")
    assert code == 1 and "NOT_FOUND" in err


def test_project_show_names_the_pending_recommendation_and_how_to_apply_it(
        trimtab: Trimtab, cli_store: Store, nightly: Project, prod: None) -> None:
    code, out, _ = trimtab("project", "show", str(nightly.id))
    assert code == 0 and shown(out, "pending") == [] and shown(out, "apply it with") == []

    for minute, cost in ((0, 1.0), (2, 1.4), (4, 1.2)):
        _run(cli_store, nightly, SAME, minute, cost)
    rec = _rec(cli_store, nightly, SMALLER, 10, cost=0.9)

    code, out, _ = trimtab("project", "show", nightly.name)
    assert code == 0
    assert shown(out, "pending") == [f"recommendation {rec}: m5.xlarge x2 spot, predicted saving $0.30 a run (25%): "
                                     "$0.90 against $1.20 for the current cluster's recent runs"]
    assert shown(out, "apply it with") == [f"trimtab recommendation apply {nightly.id} --id {rec}"]

    dearer = _rec(cli_store, nightly, BIGGER, 20, cost=2.0)
    code, out, _ = trimtab("project", "show", nightly.name)
    assert shown(out, "pending") == [f"recommendation {dearer}: r5.2xlarge x6 driver m5.xlarge, predicted to cost "
                                     "$0.80 a run more: $2.00 against $1.20 for the current cluster's recent runs"]

    same = _rec(cli_store, nightly, SAME, 30)
    code, out, _ = trimtab("project", "show", nightly.name)
    assert shown(out, "pending") == [f"recommendation {same}: m5.xlarge x4 spot: {ALREADY_RUNS} (nothing to apply)"]
    assert shown(out, "apply it with") == []
    code, out, _ = trimtab("--json", "project", "show", nightly.name)
    assert json.loads(out)["pending_recommendation"]["already_on_job"] is True


def test_recommendation_show_says_the_job_already_runs_it(trimtab: Trimtab, cli_store: Store, nightly: Project,
                                                          prod: None) -> None:
    _rec(cli_store, nightly, SMALLER, 1)
    code, out, _ = trimtab("recommendation", "show", nightly.name)
    assert code == 0 and ALREADY_RUNS not in out

    same = _rec(cli_store, nightly, SAME, 2)
    code, out, _ = trimtab("recommendation", "show", nightly.name)
    assert code == 0 and out.splitlines()[:2] == [
        f"recommendation {same} for project {nightly.id}: pending (learning)",
        f"  note:     {ALREADY_RUNS}: applying it changes nothing (it stays pending until the next run plans again)"]


def test_the_cli_keeps_the_servers_words_and_caps() -> None:
    assert rec_cli.ALREADY_RUNS == ALREADY_RUNS
    assert rec_cli.MAX_PAGE == runs.MAX_PAGE
    from server.domain import RECOMMENDATION_STATES

    assert rec_cli.STATES == RECOMMENDATION_STATES
