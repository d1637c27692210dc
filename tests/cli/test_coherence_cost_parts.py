"""A run's cost parts add up to the total shown, in `trimtab run show` and on the dashboard's run page
alike (review "coherence": DBU 0.04 + compute 0.10 + storage 0.01 = 0.15 beside "cost 0.16 USD", 27
of the demo's 66 runs), through the real CLI, gRPC server and dashboard."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from decimal import Decimal

import pytest

from server.dashboard import Dashboard, serve_dashboard
from server.domain import ClusterConfig, CostBreakdown, Project, Run
from server.render.fmt import breakdown_amounts
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


def _estimate(dbu: float, compute: float, storage: float) -> CostBreakdown:
    return CostBreakdown(dbu_cost=dbu, compute_cost=compute, storage_cost=storage, total=dbu + compute + storage,
                         dbus=dbu / 0.15, source="estimate", used_by_models="estimate")


# Runs of the review's demo (their stored parts): 2 decimals read 0.04 + 0.10 + 0.01 against 0.16, and
# 0.1999 + 0.1665 + 0.1561 against 0.5226 at 4 (a part moves by its last digit: 0.2000).
DEMO = _estimate(0.04479008416666667, 0.09852221722222222, 0.011811904109589043)
TIGHT = _estimate(0.19993509, 0.16649023146666667, 0.15612693150684934)
ROUND = _estimate(3.25, 2.5, 0.75)
BILLED = CostBreakdown(dbu_cost=0.04479008416666667, compute_cost=0.0985, storage_cost=0.0118,
                       total=0.04479008416666667 + 0.10451, dbus=0.3, source="billed", used_by_models="billed",
                       billed_cloud_cost=0.10451)


@pytest.fixture
def project(cli_store: Store) -> Project:
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=SPEC, original_spec=SPEC))


@pytest.fixture
def dashboard(cli_store: Store) -> Iterator[Dashboard]:
    running = serve_dashboard(cli_store, "127.0.0.1:0")
    yield running
    running.stop()


def _run(store: Store, project: Project, n: int, cost: CostBreakdown) -> Run:
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=1_700_000_000_000 + n,
                              runtime_s=600.0, cost=cost,
                              config=ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)))


def _cli_amounts(out: str) -> dict[str, str]:
    (total,) = re.findall(r"^cost \$([\d.,]+) ", out, re.M)
    parts = dict(re.findall(r"^  (DBU|compute|storage|billed) +([\d.,]+) ", out, re.M))
    return {"total": total, **parts}


def _page_amounts(dashboard: Dashboard, store: Store, run_id: int | None) -> dict[str, str]:
    _, token = store.tokens.create("reader", "admin")
    request = urllib.request.Request(f"{dashboard.url.rstrip('/')}/runs/{run_id}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        page = reply.read().decode()
    rows = dict(re.findall(r'<tr class="cost-row"><td>([^<]+)</td><td class=num>\$([\d.,]+)</td>', page))
    names = {"DBU": "DBU", "compute": "compute", "storage": "storage", "total": "total", "billed cloud cost": "billed"}
    return {names[k]: v for k, v in rows.items()}


@pytest.mark.parametrize(("cost", "decimals"), [(DEMO, 4), (TIGHT, 4), (ROUND, 2), (BILLED, 4)],
                         ids=["demo", "last-digit", "round", "billed"])
def test_the_parts_shown_add_up_to_the_total_shown_in_the_cli_and_on_the_dashboard(
        trimtab: Trimtab, project: Project, cli_store: Store, dashboard: Dashboard,
        cost: CostBreakdown, decimals: int) -> None:
    run = _run(cli_store, project, 1, cost)
    code, out, err = trimtab("run", "show", str(run.id))
    assert code == 0, err
    cli = _cli_amounts(out)
    summed = ("DBU", "billed") if cost.source == "billed" else ("DBU", "compute", "storage")
    assert sum(Decimal(cli[k]) for k in summed) == Decimal(cli["total"]), out
    assert all(len(v.split(".")[1]) == decimals for v in cli.values()), out
    # Each part stays within a unit of its last digit of what it is.
    for k, value in (("DBU", cost.dbu_cost), ("billed", cost.billed_cloud_cost)):
        if k in cli and value is not None:
            assert abs(Decimal(cli[k]) - Decimal(value)) <= Decimal(1).scaleb(-decimals)
    assert _page_amounts(dashboard, cli_store, run.id) == cli  # the same digits on the run page


def test_breakdown_amounts() -> None:
    assert breakdown_amounts(6.5, [3.25, 2.5, 0.75]) == (2, [3.25, 2.5, 0.75])
    assert breakdown_amounts(0.028, [0.014, 0.014]) == (3, [0.014, 0.014])  # 0.01 + 0.01 against 0.03
    d, parts = breakdown_amounts(TIGHT.total, [TIGHT.dbu_cost, TIGHT.compute_cost, TIGHT.storage_cost])
    assert (d, parts) == (4, [0.2, 0.1665, 0.1561]) and f"{TIGHT.total:.4f}" == "0.5226"
    # Parts that are not the total's (a cost kept without them) are shown as they are.
    assert breakdown_amounts(5.5, [0.0, 0.0, 0.0]) == (2, [0.0, 0.0, 0.0])
