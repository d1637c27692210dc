"""Migration 0010 (security review, ninth session): api_tokens.workspace and applications.workspace.
The agent tokens import made (``agent-<workspace>``, workspace still there) are bound to their
workspace; every other token, and every application stored before, keeps None and works as before
(SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from alembic import command

from server.domain import AgentInfo, IngestBatch, IngestEvent, Stage
from server.store import migrate, open_store
from server.store.engine import make_engine
from server.store.repos.ingest_rows import prepare

_TOKENS = [  # (token_id, name, scope, revoked)
    ("t1", "agent-prod", "agent", False),
    ("t2", "agent-prod", "agent", True),  # revoked: bound too (harmless, and `token list` says whose)
    ("t3", "agent-gone", "agent", False),  # its workspace was removed
    ("t4", "agents", "agent", False),  # made by hand
    ("t5", "agent-prod", "admin", False),  # not an agent token
    ("t6", "agent-", "agent", False),
]


def test_upgrade_from_0009_binds_import_made_agent_tokens_only(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0009")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO workspaces (name, host, cloud, plan, region, token_encrypted, token_masked, status, "
            "last_error, created_at_ms) VALUES ('prod', 'https://prod.example', 'aws', 'premium', '', 'x', 'x', "
            "'ok', '', 1)"))
        for token_id, name, scope, revoked in _TOKENS:
            conn.execute(sa.text(
                "INSERT INTO api_tokens (token_id, name, scope, secret_sha256, created_at_ms, last_used_ms, revoked) "
                "VALUES (:id, :name, :scope, 'x', 1, 0, :revoked)"),
                {"id": token_id, "name": name, "scope": scope, "revoked": revoked})
        conn.execute(sa.text(
            "INSERT INTO applications (application_id, spark_app_id, attempt_id, spark_context_id, app_name, "
            "spark_version, \"user\", cluster_id, cluster_name, job_id, databricks_run_id, conf, event_log_path, "
            "start_time_ms, end_time_ms, ended, expected_stages, expected_jobs, expected_executors, agent_id, "
            "received_ms) VALUES ('app-old', '', '', '', 'job', '', '', 'c-1', '', '', '', '{}', '', 1, 0, false, "
            "0, 0, 0, 'a1', 1)"))
    engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert {t.token_id: t.workspace for t in store.tokens.list()} == {
            "t1": "prod", "t2": "prod", "t3": None, "t4": None, "t5": None, "t6": None}
        old = store.applications.get("app-old")
        assert old.workspace is None and old.cluster_id == "c-1"
        # The running agent's last batch, now under the bound token, still lands on its application.
        batch = IngestBatch(batch_id="b", agent=AgentInfo(agent_id="a1"), events=(
            IngestEvent("app-old", "stage-0", "stage", Stage(application_id="app-old", stage_id=0)),))
        (result,) = store.ingest.write([dataclasses.replace(prepare(batch), workspace="prod")])
        assert (result.stored_events, result.refused_applications) == (1, ())
        assert store.applications.get("app-old").workspace is None
    finally:
        store.close()


def test_downgrade_to_0009_drops_both_columns(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "0009")
        assert migrate.current_revision(engine) == "0009"
        columns = {t: {c["name"] for c in sa.inspect(engine).get_columns(t)} for t in ("api_tokens", "applications")}
        assert "workspace" not in columns["api_tokens"] and "workspace" not in columns["applications"]
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
