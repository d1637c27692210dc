"""Rows written as an older server wrote them, for the migration tests (each test adds its runs with the
columns its schema had)."""

from __future__ import annotations

import sqlalchemy as sa


def add_project_row(conn: sa.Connection) -> int:
    """One project, in the columns every schema since 0001 has; its id."""
    conn.execute(sa.text(
        "INSERT INTO projects (workspace, job_id, cluster_key, job_name, phase, settings, original_spec, "
        "current_spec, orphaned, detached, project_state, created_at_ms) VALUES "
        "('prod', 42, 'main', 'nightly', 'learning', '{}', '{}', '{}', false, false, '{}', 5)"))
    return int(conn.execute(sa.text("SELECT id FROM projects")).scalar_one())
