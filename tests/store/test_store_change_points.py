"""recommendations.change_run_id/change_kind (migration 0009): the change point a recommendation was
made after is stored as data; recommendations written before 0009 get theirs from their reasons,
in the decision core's own wording (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

from models.changes import CODE_CHANGE, INPUT_SIZE_SHIFT, RUNTIME_REGRESSION, screen
from models.observation import Observation
from models.space import Candidate
from server.domain import ClusterConfig, Project, Recommendation
from server.store import Store, migrate, open_store
from server.store.engine import make_engine
from tests.store.old_schema import add_project_row


def test_change_points_round_trip_each_once_oldest_first(store: Store) -> None:
    pid = int(store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="n")).id or 0)
    other = int(store.projects.add(Project(workspace="prod", job_id=43, cluster_key="main", job_name="m")).id or 0)
    cfg = ClusterConfig(node_type_id="m5.xlarge", num_workers=4)
    for change in [(None, None), (12, CODE_CHANGE), (12, CODE_CHANGE), (30, INPUT_SIZE_SHIFT), (30, INPUT_SIZE_SHIFT)]:
        store.recommendations.add(Recommendation(project_id=pid, config=cfg, change_run_id=change[0],
                                                 change_kind=change[1]))
    store.recommendations.add(Recommendation(project_id=other, config=cfg, change_run_id=5,
                                             change_kind=RUNTIME_REGRESSION))
    assert store.recommendations.change_points(pid) == [(12, CODE_CHANGE), (30, INPUT_SIZE_SHIFT)]
    assert store.recommendations.change_points(other) == [(5, RUNTIME_REGRESSION)]
    latest = store.recommendations.latest(pid)
    assert latest is not None and (latest.change_run_id, latest.change_kind) == (30, INPUT_SIZE_SHIFT)


def test_a_withdrawn_input_shift_leaves_every_recommendation_that_kept_it(store: Store) -> None:
    # A one-off input night (models.changes): the planner withdraws the change point it kept there,
    # in the transaction that adds its next recommendation; other kinds and projects are untouched.
    pid = int(store.projects.add(Project(workspace="prod", job_id=44, cluster_key="main", job_name="n")).id or 0)
    other = int(store.projects.add(Project(workspace="prod", job_id=45, cluster_key="main", job_name="m")).id or 0)
    cfg = ClusterConfig(node_type_id="m5.xlarge", num_workers=4)
    for project, change in [(pid, (12, CODE_CHANGE)), (pid, (30, INPUT_SIZE_SHIFT)), (pid, (30, INPUT_SIZE_SHIFT)),
                            (other, (30, INPUT_SIZE_SHIFT))]:
        store.recommendations.add(Recommendation(project_id=project, config=cfg, change_run_id=change[0],
                                                 change_kind=change[1]))
    new = store.recommendations.add(Recommendation(project_id=pid, config=cfg), withdrawn_shifts={30, 12})
    assert store.recommendations.change_points(pid) == [(12, CODE_CHANGE)]  # a code change is no one-off
    assert store.recommendations.change_points(other) == [(30, INPUT_SIZE_SHIFT)]
    assert store.recommendations.pending(pid) == new


def test_a_server_start_does_not_put_a_withdrawn_change_point_back(store: Store) -> None:
    # Review rev14e: the start's refill of change points an old server stated in reasons only read
    # the withdrawn recommendation's reason ("input size shifted ...: learning again") and put the
    # one-off night back as a change point (timeline marker, savings per GB).
    from server.store.rollout import fill_change_points

    pid = int(store.projects.add(Project(workspace="prod", job_id=46, cluster_key="main", job_name="n")).id or 0)
    cfg = ClusterConfig(node_type_id="m5.xlarge", num_workers=4)
    reason = "input size shifted 2.00x at run 30 of 2026-12-01 03:00 UTC: learning again. learning run 1/3: ..."
    store.recommendations.add(Recommendation(project_id=pid, config=cfg, reason=reason, change_run_id=30,
                                             change_kind=INPUT_SIZE_SHIFT))
    store.recommendations.add(Recommendation(project_id=pid, config=cfg), withdrawn_shifts={30})
    assert fill_change_points(store.engine) == 0
    assert store.recommendations.change_points(pid) == []
    # A row an old server wrote (the kind not stored) is still filled.
    store.recommendations.add(Recommendation(project_id=pid, config=cfg, reason=reason.replace("run 30", "run 31")))
    assert fill_change_points(store.engine) == 1
    assert store.recommendations.change_points(pid) == [(31, INPUT_SIZE_SHIFT)]


def _reasons() -> dict[str, str]:
    """One reason per kind, as `models.changes.screen` words it with the planner's run labels
    ("run <store id> of <start>"): the backfill must read what the core wrote."""
    known = {"a": Candidate(config_id="a", instance_type="m5.xlarge", vcpus=4, memory_gib=16, nodes=4,
                            price_per_hour=1.0)}
    labels = [f"run {100 + i} of 2026-12-0{i + 1}03:00 UTC" for i in range(6)]
    histories = {
        INPUT_SIZE_SHIFT: [Observation("a", 600.0, True, input_gb=100.0 if i < 4 else 300.0) for i in range(6)],
        CODE_CHANGE: [Observation("a", 600.0, True, input_gb=100.0, stage_signature="v1" if i < 3 else "v2")
                      for i in range(6)],
        RUNTIME_REGRESSION: [Observation("a", 600.0 if i < 3 else 1200.0, True, input_gb=100.0) for i in range(6)],
    }
    out = {}
    for kind, history in histories.items():
        scr = screen(history, known, 0.05, 0.8, labels)
        assert scr.change_reason is not None and scr.change_kind == kind
        out[kind] = scr.change_reason
    return out


def test_upgrade_from_0008_reads_change_points_out_of_reasons(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0008")
    reasons = _reasons()
    rows = [
        "learning run 1/3: m5.xlarge x 4 workers is the most informative configuration",
        # As a reason holds it: after other notes, before the decision's own words.
        f"fewer nodes on spot: 2 of the last 13 runs. {reasons[CODE_CHANGE]}. learning run 1/3: ...",
        f"{reasons[CODE_CHANGE]}. learning run 2/3: ...",
        "m5.xlarge x 6 workers: cheapest that meets the SLA",  # later in the segment: no mention
        f"{reasons[INPUT_SIZE_SHIFT]}. learning run 1/3: ...",
        f"{reasons[RUNTIME_REGRESSION]}. learning run 1/3: ...",
    ]
    with engine.begin() as conn:
        pid = add_project_row(conn)
        for reason in rows:
            conn.execute(sa.text(
                "INSERT INTO recommendations (project_id, created_at_ms, state, config, predicted_runtime_s, "
                "runtime_low_s, runtime_high_s, predicted_cost, cost_low, cost_high, reason, phase, storage_advice) "
                "VALUES (:pid, 5, 'superseded', '{}', 0, 0, 0, 0, 0, 0, :reason, 'learning', '')"),
                {"pid": pid, "reason": reason})
    engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        # The code change at the 4th run (id 103), the shift at the 5th (104), the regression from the 4th (103).
        assert store.recommendations.change_points(pid) == [(103, CODE_CHANGE), (104, INPUT_SIZE_SHIFT)]
        kinds = [(r.change_run_id, r.change_kind) for r in store.recommendations.list(pid)]
        assert kinds == [(None, None), (103, CODE_CHANGE), (103, CODE_CHANGE), (None, None),
                         (104, INPUT_SIZE_SHIFT), (103, RUNTIME_REGRESSION)]
    finally:
        store.close()


def test_a_server_start_reads_the_change_points_an_older_server_wrote_after_the_upgrade(db_url: str,
                                                                                        tmp_path) -> None:
    # docs/operations.md lets `trimtab db upgrade` run while the old servers still serve: a pre-0009
    # server goes on stating change points in reasons only, and nothing after 0009 reads reasons.
    from server.config import ServerConfig
    from server.serve import start_server

    engine = make_engine(db_url)
    migrate.upgrade(engine)
    reasons = _reasons()
    with engine.begin() as conn:
        pid = add_project_row(conn)
        for reason in (f"{reasons[CODE_CHANGE]}. learning run 1/3: ...", "m5.xlarge x 6 workers: cheapest"):
            conn.execute(sa.text(  # the old server's INSERT: it knows no change columns
                "INSERT INTO recommendations (project_id, created_at_ms, state, config, predicted_runtime_s, "
                "runtime_low_s, runtime_high_s, predicted_cost, cost_low, cost_high, reason, phase, storage_advice) "
                "VALUES (:pid, 5, 'pending', '{}', 0, 0, 0, 0, 0, 0, :reason, 'learning', '')"),
                {"pid": pid, "reason": reason})
    engine.dispose()
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state", db_url=db_url,
                                        collect=0))
    try:
        assert running.store.recommendations.change_points(pid) == [(103, CODE_CHANGE)]
        kinds = [(r.change_run_id, r.change_kind) for r in running.store.recommendations.list(pid)]
        assert sorted(kinds, key=str) == sorted([(103, CODE_CHANGE), (None, None)], key=str)
    finally:
        running.stop(0)
