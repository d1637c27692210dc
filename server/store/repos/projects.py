"""Projects: one job cluster of one job, keyed by (workspace, job_id, cluster_key)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import sqlalchemy as sa

from server.domain import RECOMMENDATION_STATES, Project, ProjectSettings
from server.errors import AlreadyExists, InvalidArgument, NotFound, shown
from server.ids import MAX_DATABRICKS_ID, parse_id
from server.store import convert
from server.store.repos.base import Repository
from server.store.repos.workspaces import name_as_stored
from server.store.tables import ProjectRow, RecommendationRow, RunRow

T = ProjectRow.__table__  # type: ignore[attr-defined]


class ProjectRepository(Repository):
    def add(self, project: Project) -> Project:
        """Store a new project (its id is assigned); `AlreadyExists` for a known key."""
        if project.created_at_ms == 0:
            project = dataclasses.replace(project, created_at_ms=self._clock.now_ms())
        with self._write() as conn:
            if self._key_id(conn, project.workspace, project.job_id, project.cluster_key) is not None:
                raise AlreadyExists(f"project {project.name!r} already exists")
            new_id = conn.execute(T.insert().values(**convert.project_values(project))
                                  .returning(T.c.id)).scalar_one()
        return dataclasses.replace(project, id=new_id)

    def remove_unused(self, project_id: int) -> None:
        """Delete a project nothing refers to yet (no run, no recommendation): one an import created
        and could not onboard. A project with history is never deleted (detach keeps it)."""
        with self._write() as conn:
            for row in (RunRow, RecommendationRow):
                table = row.__table__  # type: ignore[attr-defined]
                if conn.execute(sa.select(table.c.project_id).where(table.c.project_id == project_id)
                                .limit(1)).first() is not None:
                    raise AlreadyExists(f"project {project_id} has {table.name}: not removed")
            conn.execute(T.delete().where(T.c.id == project_id))

    def get(self, project_id: int) -> Project:
        with self._read() as conn:
            row = conn.execute(sa.select(T).where(T.c.id == project_id)).first()
        if row is None:
            raise NotFound(f"project {project_id} not found")
        return convert.project(row)

    def find(self, ref: str) -> Project:
        """A project by id (``"12"``) or name (``"<workspace>/<job_id>/<cluster_key>"``)."""
        ref = ref.strip()
        if ref.isdigit():
            project_id = parse_id(ref)
            if project_id is None:  # digits no row id can be ("²", past 32 bits): absent like any other
                raise NotFound(f"project {shown(ref)} not found")
            return self.get(project_id)
        parts = ref.split("/", 2)
        # Parsed to a job id no job can be, None: the name is unknown, the same on both engines (int()
        # of it raised on SQLite, and PostgreSQL refused it as out of range).
        job_id = parse_id(parts[1], MAX_DATABRICKS_ID) if len(parts) == 3 else None
        if job_id is not None:
            found = self.get_by_key(parts[0], job_id, parts[2])
            if found is None:
                # Its workspace typed in another case (`SB/1/main` for `sb`'s), as every workspace name is
                # looked up; the job's cluster key stays exact (Databricks compares it so).
                with self._read() as conn:
                    stored = name_as_stored(conn, parts[0])
                if stored is not None and stored != parts[0]:
                    found = self.get_by_key(stored, job_id, parts[2])
            if found is not None:
                return found
        raise NotFound(f"project {shown(ref)} not found (use an id or <workspace>/<job_id>/<cluster_key>)")

    def get_by_key(self, workspace: str, job_id: int, cluster_key: str) -> Project | None:
        with self._read() as conn:
            row = conn.execute(sa.select(T).where(T.c.workspace == workspace, T.c.job_id == job_id,
                                                  T.c.cluster_key == cluster_key)).first()
        return convert.project(row) if row is not None else None

    def list(self, workspace: str | None = None) -> list[Project]:
        """Every project (of one workspace if given), by id."""
        query = sa.select(T).order_by(T.c.id)
        if workspace:
            query = query.where(T.c.workspace == workspace)
        with self._read() as conn:
            return [convert.project(r) for r in conn.execute(query).all()]

    def update(self, project: Project, *, recommendations: Mapping[int, str] | None = None,
               by: str = "") -> Project:
        """Write every field of `project` (found by id) but its settings, and return it as stored.

        ``recommendations``: states to set on recommendations of the project (id -> state), in the
        same transaction as the row. An apply, a revert or a detach is recorded so, whole or not at
        all: written in two transactions, a database failure between them left the recommendation
        applied without the project's record of it, so the retry was refused ("the cluster has
        changed since") and the next run, on Trimtab's own write, was taken for a user's edit.

        Settings are the user's, written only by `update_settings` (and `add`): an apply or the
        collector writes back a row it read before its Databricks calls, seconds earlier, and
        with it the settings of then, so `trimtab project set P --auto-apply off` made during an
        apply was undone without a word, and auto-apply went on changing the job.

        No version check: a read-modify-write of a project row (read it, change it, write it
        back) happens under `server.apply.project_lock` with the store, which other servers on
        the same PostgreSQL database honour too, so no writer overwrites another's change.

        A recommendation set ``applied`` or ``reverted`` is stamped with the store's clock and ``by``
        (who made the change: "auto", an admin token) in the same statement: the record of who
        changed the job is never apart from the change."""
        if project.id is None:
            raise NotFound("project has no id (add it first)")
        states = dict(recommendations or {})
        if any(state not in RECOMMENDATION_STATES for state in states.values()):
            raise InvalidArgument(f"state must be one of {', '.join(RECOMMENDATION_STATES)}")
        values = convert.project_values(project)
        del values["settings"]
        R = RecommendationRow.__table__  # type: ignore[attr-defined]
        with self._write() as conn:
            now = self._clock.now_ms()
            for rec_id, state in states.items():
                stamp = {"applied": {"applied_at_ms": now, "applied_by": convert.storable_text(by)},
                         "reverted": {"reverted_at_ms": now, "reverted_by": convert.storable_text(by)}}.get(state, {})
                if not conn.execute(R.update().where(R.c.id == rec_id, R.c.project_id == project.id)
                                    .values(state=state, **stamp)).rowcount:
                    # Raised inside the transaction: nothing of the record is written.
                    raise NotFound(f"recommendation {rec_id} of project {project.id} not found")
            if not conn.execute(T.update().where(T.c.id == project.id).values(**values)).rowcount:
                raise NotFound(f"project {project.id} not found")
        return self.get(project.id)

    def rename_key(self, project_id: int, cluster_key: str) -> Project:
        """Move a project to another cluster key of its job, and return it as stored: the job's owner
        renamed its cluster (`server.cluster_rename`). Only the key changes: its id, and with it its
        settings, runs and recommendations, stay. `AlreadyExists` when another project of the job has
        the key (the key is unique)."""
        key = convert.storable_key(cluster_key, "cluster key")
        with self._write() as conn:
            row = conn.execute(sa.select(T.c.workspace, T.c.job_id).where(T.c.id == project_id)).first()
            if row is None:
                raise NotFound(f"project {project_id} not found")
            if self._key_id(conn, row.workspace, row.job_id, key) not in (None, project_id):
                raise AlreadyExists(f"project {row.workspace}/{row.job_id}/{key} already exists")
            conn.execute(T.update().where(T.c.id == project_id).values(cluster_key=key))
        return self.get(project_id)

    def set_phase_unless_planned(self, project_id: int, phase: str) -> bool:
        """Set the phase of a project nothing has been planned for yet (no recommendation); False
        when something has (the planner owns the phase from then on). One statement, so a plan
        landing meanwhile wins."""
        R = RecommendationRow.__table__  # type: ignore[attr-defined]
        planned = sa.exists().where(R.c.project_id == project_id)
        with self._write() as conn:
            return bool(conn.execute(T.update().where(T.c.id == project_id, ~planned).values(phase=phase)).rowcount)

    def update_settings(self, project_id: int, settings: ProjectSettings) -> Project:
        with self._write() as conn:
            done = conn.execute(T.update().where(T.c.id == project_id)
                                .values(settings=convert.settings_to_json(settings))).rowcount
        if not done:
            raise NotFound(f"project {project_id} not found")
        return self.get(project_id)

    @staticmethod
    def _key_id(conn: sa.Connection, workspace: str, job_id: int, cluster_key: str) -> int | None:
        return conn.execute(sa.select(T.c.id).where(T.c.workspace == workspace, T.c.job_id == job_id,
                                                    T.c.cluster_key == cluster_key)).scalar()
