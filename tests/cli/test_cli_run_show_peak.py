"""`trimtab run show` says how many workers the run's cluster had up at most, beside the size it
started at: an autoscaling run's peak is what its range's max is kept for (`server.plan.peak_floor`)."""

from __future__ import annotations

import json

from server.domain import ClusterConfig, Project, Run
from server.store import Store
from tests.cli.conftest import Trimtab

RANGE = ClusterConfig(node_type_id="m5d.4xlarge", autoscale_min=4, autoscale_max=8)
SPEC = {"node_type_id": "m5d.4xlarge", "autoscale": {"min_workers": 4, "max_workers": 8},
        "spark_version": "15.4.x-scala2.12"}


def _runs(store: Store, peaks: list[int | None]) -> list[Run]:
    project = store.projects.add(Project(workspace="prod", job_id=7, cluster_key="main", job_name="bursty",
                                         current_spec=SPEC, original_spec=SPEC))
    return [store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=1_700_000_000_000 + n,
                               runtime_s=600.0, config=RANGE, peak_workers=peak))
            for n, peak in enumerate(peaks, start=1)]


def test_run_show_prints_the_peak_workers_when_known(trimtab: Trimtab, cli_store: Store) -> None:
    peaked, unknown = _runs(cli_store, [7, None])
    code, out, _ = trimtab("run", "show", str(peaked.id))
    assert code == 0 and "autoscale 4-8" in out and "workers: 4 at start, 7 at most" in out, out
    code, out, _ = trimtab("--json", "run", "show", str(peaked.id))
    assert code == 0 and json.loads(out)["peak_workers"] == 7
    code, out, _ = trimtab("run", "show", str(unknown.id))
    assert code == 0 and "autoscale 4-8" in out and "at most" not in out, out


def test_run_show_prints_a_fixed_clusters_peak_from_its_size(trimtab: Trimtab, cli_store: Store) -> None:
    # A fixed cluster of 4 that lost a node and never got it back ran on 3 at most.
    project = cli_store.projects.add(Project(workspace="prod", job_id=8, cluster_key="main", job_name="fixed",
                                             current_spec=SPEC, original_spec=SPEC))
    run = cli_store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1, start_ms=1_700_000_000_000,
                                 runtime_s=600.0, config=ClusterConfig(node_type_id="m5d.4xlarge", num_workers=4),
                                 peak_workers=3))
    code, out, _ = trimtab("run", "show", str(run.id))
    assert code == 0 and "4 workers" in out and "workers: 4 at start, 3 at most" in out, out
