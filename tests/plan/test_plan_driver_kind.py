"""A recommendation whose workers are of another kind of hardware than the current driver (allowed
families of both kinds) carries a driver of the workers' kind sized by the driver rule, and its
reason names that driver.

The driver was chosen on the current driver's kind before the workers; Graviton workers then got the
Graviton type nearest it in memory (`matching_driver`: price and cores unseen), and the reason named
the first driver or, when that one was kept, nothing at all: an m5d.2xlarge job went to c6gd workers
under an r6gd.xlarge driver (half the cores) with no word of the driver."""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.domain import AgentInfo, DriverPeaks, IngestBatch, IngestEvent, Project, ProjectSettings, Run
from server.plan.families import kind_of
from server.plan.planner import plan_project
from server.spec import config_from_spec

GIB = 1024**3
X86 = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.2xlarge", "driver_node_type_id": "m5d.2xlarge",
       "num_workers": 4, "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
# The same job on Graviton before: it ran faster there, so the plan moves it back to Graviton workers.
ARM = {**X86, "node_type_id": "m6gd.2xlarge", "driver_node_type_id": "m6gd.2xlarge"}
FAMILIES = ("m5d", "m6gd", "c6gd", "r6gd")


def _run(store, project: Project, n: int, spec: dict, heap_gib: float, runtime_s: float) -> None:
    app = f"ctx-{n}"
    beat = DriverPeaks(app, {"JVMHeapMemory": int(heap_gib * GIB), "TotalGCTime": 1_000})
    store.ingest.write([IngestBatch(batch_id=f"b{n}", agent=AgentInfo(agent_id="a", version="0", cluster_id="c"),
                                    events=(IngestEvent(application_id=app, key=f"driver/{n}", kind="DriverPeaks",
                                                        body=beat, payload=app.encode()),))])
    store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=n * 86_400_000,
                       end_ms=n * 86_400_000 + int(runtime_s * 1000), runtime_s=runtime_s, outcome="succeeded",
                       config=config_from_spec(spec), application_ids=(app,)))


@pytest.mark.parametrize(("heap_gib", "arm_s", "driver", "words"), [
    # 12 GiB peaks: the rule keeps a 32 GiB, 8-vCPU driver; on Graviton its counterpart (was: r6gd.xlarge,
    # 4 vCPUs, and no word of it in the reason).
    (12.0, 500.0, "m6gd.2xlarge", "driver m5d.2xlarge -> m6gd.2xlarge (32 GiB), its counterpart for the workers' "
                                  "arm64 (Graviton): its heap peaked at 12 GiB in 6 runs"),
    # 14 GiB peaks grow the driver: the reason named m5d.4xlarge, the cluster got r6gd.2xlarge.
    (14.0, 500.0, "r6gd.2xlarge", "driver m5d.2xlarge -> r6gd.2xlarge (64 GiB), for the workers' arm64 (Graviton), "
                                  "sized from m6gd.2xlarge, its counterpart there: its heap peaked at 14 GiB"),
    # 2 GiB peaks halve it: the reason named m5d.xlarge and its saving, the cluster got m6gd.xlarge.
    (2.0, 300.0, "m6gd.xlarge", "driver m5d.2xlarge -> m6gd.xlarge (16 GiB), for the workers' arm64 (Graviton), "
                                "sized from m6gd.2xlarge, its counterpart there: its heap peaked at 2.0 GiB"),
])
def test_workers_of_the_other_kind_get_the_rules_driver_of_their_kind_named_in_the_reason(
        store, heap_gib: float, arm_s: float, driver: str, words: str) -> None:
    catalog = load_catalog()
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=X86,
                                         original_spec=X86, settings=ProjectSettings(
                                             sla_seconds=3600.0, allowed_families=FAMILIES)))
    for n in (1, 2, 3):
        _run(store, project, n, ARM, heap_gib, arm_s)
    for n in (4, 5, 6):
        _run(store, project, n, X86, heap_gib, 900.0)
    rec = plan_project(store, int(project.id or 0), catalog)
    assert rec is not None
    workers = rec.config.node_type_id
    assert kind_of(catalog, "aws", workers).words() == "arm64 (Graviton)", rec.config  # the cheapest workers
    assert rec.config.driver_node_type_id == driver
    assert words in rec.reason, rec.reason
    assert "driver m5d.2xlarge -> m5d" not in rec.reason  # no x86 driver named beside Graviton workers
