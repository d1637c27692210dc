"""One figure, one way of writing it, across `project show`, `recommendation show/list`, `run list/show`
and the timeline, through a real server (review of recommendation reasons, /tmp/review-reasons):

- the working SLA auto-apply aims at while the SLA is out of reach, said where the SLA is;
- one money format ($0.18, with the recommendation's currency) and one duration format (5m38s);
- the level of the runtime and cost intervals (90%);
- the run of the cluster as found is "baseline" in `run list` and `run show`, as on the timeline.
"""

from __future__ import annotations

import dataclasses
import json

from server.domain import ClusterConfig, CostBreakdown, Project, Recommendation, Run
from server.store import Store
from tests.cli.conftest import Trimtab

T0 = 1_796_000_000_000
MINUTE_MS = 60_000
SMALL = ClusterConfig(node_type_id="m5.xlarge", num_workers=2)
BIG = ClusterConfig(node_type_id="r5.2xlarge", num_workers=8)
WORKING = "6m00s (out of reach: aiming at 10m00s, the working SLA)"


def _field(out: str, key: str) -> str:
    """The value of `project show`'s line ``key`` (exactly: not "SLA met" for "SLA")."""
    (found,) = [line for line in out.splitlines() if line.split("  ", 1)[0] == key]
    return found.split("  ", 1)[1].strip()


def _sla(store: Store, p: Project, seconds: float) -> None:
    pid = int(p.id or 0)
    store.projects.update_settings(pid, dataclasses.replace(store.projects.get(pid).settings, sla_seconds=seconds))


def _rec(store: Store, p: Project, **fields: object) -> Recommendation:
    return store.recommendations.add(Recommendation(
        project_id=int(p.id or 0), config=BIG, created_at_ms=T0, predicted_runtime_s=338.0,
        runtime_interval_s=(300.0, 400.0), predicted_cost=0.1839, cost_interval=(0.15, 0.2204),
        p_meet_sla=0.06, reason="the 360s SLA is out of reach: ... so the plan aims at a 600s working SLA ...",
        phase="optimizing", **fields))  # type: ignore[arg-type]


def _run(store: Store, p: Project, minute: int, rec: int | None, phase: str = "learning") -> Run:
    return store.runs.add(Run(
        project_id=int(p.id or 0), databricks_run_id=minute, start_ms=T0 + minute * MINUTE_MS,
        end_ms=T0 + (minute + 8) * MINUTE_MS, runtime_s=480.0, setup_s=200.0 + minute, config=SMALL,
        created_at_ms=T0 + (minute + 9) * MINUTE_MS, cost=CostBreakdown(total=0.5, currency="USD"),
        recommendation_id=rec, phase=phase))


def test_the_working_sla_is_shown_beside_the_sla(trimtab: Trimtab, cli_store: Store, nightly: Project) -> None:
    _sla(cli_store, nightly, 360.0)
    rec = _rec(cli_store, nightly, working_sla_s=600.0)
    _run(cli_store, nightly, 0, None)
    _run(cli_store, nightly, 10, rec.id, phase="optimizing")

    code, out, err = trimtab("project", "show", str(nightly.id))
    assert code == 0, err
    assert _field(out, "SLA") == WORKING
    code, out, _ = trimtab("--json", "project", "show", str(nightly.id))
    project = json.loads(out)
    assert project["settings"]["sla_seconds"] == 360.0 and project["working_sla_seconds"] == 600.0
    assert project["pending_recommendation"]["working_sla_seconds"] == 600.0

    code, out, _ = trimtab("timeline", str(nightly.id))
    runtime = next(line for line in out.splitlines() if line.startswith("runtime"))
    assert code == 0 and runtime.endswith(f"SLA {WORKING}: 0/2 met")

    code, out, _ = trimtab("recommendation", "show", str(nightly.id))
    assert code == 0 and "  aimed at: 10m00s, the working SLA (the SLA was out of reach)" in out.splitlines()


def test_without_a_working_sla_the_sla_stands_alone(trimtab: Trimtab, cli_store: Store, nightly: Project) -> None:
    _sla(cli_store, nightly, 360.0)
    _rec(cli_store, nightly)
    code, out, _ = trimtab("project", "show", str(nightly.id))
    assert code == 0 and _field(out, "SLA") == "6m00s"
    code, out, _ = trimtab("--json", "project", "show", str(nightly.id))
    assert "working_sla_seconds" not in json.loads(out)
    code, out, _ = trimtab("recommendation", "show", str(nightly.id))
    assert code == 0 and "aimed at" not in out


def test_money_and_durations_read_the_same_in_show_and_list(trimtab: Trimtab, cli_store: Store,
                                                           nightly: Project) -> None:
    _rec(cli_store, nightly, storage_advice="gp3 volumes", projected_monthly_saving=6.851)
    code, out, err = trimtab("recommendation", "show", str(nightly.id))
    assert code == 0, err
    lines = [line.strip() for line in out.splitlines()]
    # Before: "338 s  [300, 400]" and "0.18 USD per run  [0.15, 0.22]", beside "$0.18" and "5m38s" in the list.
    assert "runtime:  5m38s, 90% interval [5m00s, 6m40s]" in lines
    assert "cost:     $0.18/run, 90% interval [$0.15, $0.22]" in lines
    assert "storage saving: $6.85 per month (projected, disks only)" in lines
    code, out, _ = trimtab("recommendation", "list", str(nightly.id))
    (row,) = out.splitlines()[2:]
    assert code == 0 and " $0.18 " in row and " 5m38s " in row
    code, out, _ = trimtab("--json", "recommendation", "show", str(nightly.id))
    assert code == 0 and json.loads(out)["currency"] == "USD"


def test_the_run_of_the_cluster_as_found_is_the_baseline(trimtab: Trimtab, cli_store: Store,
                                                        nightly: Project) -> None:
    rec = _rec(cli_store, nightly)
    found = _run(cli_store, nightly, 0, None)
    trial = _run(cli_store, nightly, 10, rec.id)
    code, out, err = trimtab("run", "list", str(nightly.id))
    assert code == 0, err
    header, _rule, *rows = out.splitlines()
    at = header.index("PHASE")
    phases = {row.split()[0]: row[at:].split()[0] for row in rows}
    # The timeline's letter B (`server.timeline.BASELINE`), not a learning trial: before, "learning".
    assert phases == {str(found.id): "baseline", str(trial.id): "learning"}
    code, out, _ = trimtab("run", "show", str(found.id))
    assert code == 0 and ", phase baseline" in out.splitlines()[1]
    code, out, _ = trimtab("timeline", str(nightly.id))
    assert code == 0 and "phase    BL" in out.splitlines()
