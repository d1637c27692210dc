"""What a plan reads of a long history (`server.plan.reads.plan_window`): a part of the runs in history
order, where a run stands in it, how many runs have a configuration, and the newest run flagged with an
anomaly, each without reading the whole history (SQLite and PostgreSQL)."""

from __future__ import annotations

from server.domain import ClusterConfig, Project, Run
from server.store import Store


def _runs(store: Store) -> int:
    pid = int(store.projects.add(Project(workspace="prod", job_id=42, cluster_key="A")).id or 0)
    # Stored out of start order (a backfill stores older runs last), two sharing a start, two without
    # a configuration, and "user_edit" on two runs and inside another label on a newer one.
    starts = [50, 10, 30, 30, 20, 40, 60]
    for n, start in enumerate(starts):
        anomalies = ("user_edit",) if n in (1, 2) else ("not_a_user_edit_label",) if n == 6 else ()
        store.runs.add(Run(project_id=pid, databricks_run_id=n + 1, start_ms=start, runtime_s=100.0 + n,
                           anomalies=anomalies, config=None if n in (0, 4) else ClusterConfig("m5.xlarge")))
    return pid


def test_a_part_of_the_history_is_read_in_its_order(store: Store) -> None:
    pid = _runs(store)
    whole = store.runs.history(pid)
    assert [r.start_ms for r in whole] == [10, 20, 30, 30, 40, 50, 60]
    assert store.runs.history(pid, offset=2) == whole[2:]
    assert store.runs.history(pid, offset=1, limit=3) == whole[1:4]
    assert store.runs.history(pid, limit=2) == whole[:2]
    assert store.runs.history(pid, offset=7) == []


def test_where_a_run_stands_and_how_many_runs_have_a_configuration(store: Store) -> None:
    pid = _runs(store)
    whole = store.runs.history(pid)
    for i, run in enumerate(whole):
        assert store.runs.count_from(pid, int(run.id or 0)) == len(whole) - i
    assert store.runs.count_from(pid, 10**6) is None
    other = int(store.projects.add(Project(workspace="prod", job_id=43, cluster_key="A")).id or 0)
    assert store.runs.count_from(other, int(whole[0].id or 0)) is None
    assert store.runs.count_configured(pid) == 5 == sum(1 for r in whole if r.config is not None)
    assert store.runs.count_configured(other) == 0


def test_the_newest_run_flagged_with_an_anomaly(store: Store) -> None:
    pid = _runs(store)
    flagged = store.runs.newest_flagged(pid, "user_edit")
    # In history order (start, then id): the run stored third starts at 30, after the second's 10.
    assert flagged is not None and flagged.databricks_run_id == 3
    assert store.runs.newest_flagged(pid, "spot_loss") is None
    assert store.runs.newest_flagged(pid, "user") is None  # a whole label, not part of one
