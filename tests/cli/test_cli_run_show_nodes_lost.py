"""`trimtab run show` says how many nodes a run's cluster lost and how many were replaced (the spot
review's run 1: "lost 5 spot workers, 3 replaced", where it said only "8 at most" and spot_loss), and
`--json` carries both counts; a run whose count is unknown or none says nothing of it."""

from __future__ import annotations

import json

from server.domain import ClusterConfig, Project, Run
from server.store import Store
from tests.cli.conftest import Trimtab

SPOT = ClusterConfig(node_type_id="m5d.xlarge", num_workers=8, availability="SPOT_WITH_FALLBACK")
SPEC = {"node_type_id": "m5d.xlarge", "num_workers": 8, "spark_version": "15.4.x-scala2.12",
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK"}}


def _run(store: Store, n: int, lost: int | None, replaced: int | None, config: ClusterConfig = SPOT) -> Run:
    project = store.projects.add(Project(workspace="prod", job_id=n, cluster_key="main", job_name=f"job{n}",
                                         current_spec=SPEC, original_spec=SPEC))
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=1_700_000_000_000,
                              runtime_s=600.0, config=config, peak_workers=8,
                              anomalies=("spot_loss",) if lost is None or lost else (),
                              nodes_lost=lost, nodes_replaced=replaced))


def test_run_show_says_how_many_spot_workers_were_lost_and_replaced(trimtab: Trimtab, cli_store: Store) -> None:
    run = _run(cli_store, 1, 5, 3)
    code, out, _ = trimtab("run", "show", str(run.id))
    assert code == 0 and "workers: 8 at start, 8 at most" in out and "lost 5 spot workers, 3 replaced" in out, out
    code, out, _ = trimtab("--json", "run", "show", str(run.id))
    assert code == 0 and (json.loads(out)["nodes_lost"], json.loads(out)["nodes_replaced"]) == (5, 3)


def test_run_show_words_one_loss_none_replaced_and_on_demand_nodes(trimtab: Trimtab, cli_store: Store) -> None:
    code, out, _ = trimtab("run", "show", str(_run(cli_store, 2, 1, 0).id))
    assert code == 0 and "lost 1 spot worker, none replaced" in out, out
    on_demand = ClusterConfig(node_type_id="m5d.xlarge", num_workers=8, availability="ON_DEMAND")
    code, out, _ = trimtab("run", "show", str(_run(cli_store, 3, 2, 2, on_demand).id))
    assert code == 0 and "lost 2 workers, 2 replaced" in out, out


def test_run_show_says_nothing_of_losses_unknown_or_none(trimtab: Trimtab, cli_store: Store) -> None:
    for n, lost in ((4, None), (5, 0)):
        code, out, _ = trimtab("run", "show", str(_run(cli_store, n, lost, lost).id))
        assert code == 0 and "lost " not in out, out
