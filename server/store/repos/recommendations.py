"""Recommendations. At most one is pending per project: adding one supersedes the last."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

import sqlalchemy as sa

from models.changes import INPUT_SIZE_SHIFT
from server.domain import RECOMMENDATION_STATES, Recommendation
from server.errors import InvalidArgument, NotFound
from server.store import convert
from server.store.repos.base import Repository
from server.store.tables import RecommendationRow

T = RecommendationRow.__table__  # type: ignore[attr-defined]

# The change_kind of a recommendation whose change point was withdrawn (its run id is NULL): a
# server start's refill (`server.store.rollout`) would read its reason ("input size shifted ...:
# learning again") as a change point an old server did not store, and put it back.
WITHDRAWN = "withdrawn"


class RecommendationRepository(Repository):
    def add(self, rec: Recommendation, withdrawn_shifts: Collection[int] = ()) -> Recommendation:
        """Store `rec` (normally pending); an earlier pending one becomes superseded, atomically.

        ``withdrawn_shifts``: runs (store ids) an input-size change point was kept at that the
        planner now reads as a one-off night (`models.changes`): the earlier recommendations lose
        that change point in the same transaction, so savings and timelines stop cutting there."""
        if rec.created_at_ms == 0:
            rec = dataclasses.replace(rec, created_at_ms=self._clock.now_ms())
        with self._write() as conn:
            if withdrawn_shifts:
                conn.execute(T.update().where(T.c.project_id == rec.project_id,
                                              T.c.change_run_id.in_(sorted(withdrawn_shifts)),
                                              T.c.change_kind == INPUT_SIZE_SHIFT)
                             .values(change_run_id=None, change_kind=WITHDRAWN))
            if rec.state == "pending":
                conn.execute(T.update().where(T.c.project_id == rec.project_id, T.c.state == "pending")
                             .values(state="superseded"))
            new_id = conn.execute(T.insert().values(**convert.recommendation_values(rec))
                                  .returning(T.c.id)).scalar_one()
        return dataclasses.replace(rec, id=new_id)

    def get(self, rec_id: int) -> Recommendation:
        with self._read() as conn:
            row = conn.execute(sa.select(T).where(T.c.id == rec_id)).first()
        if row is None:
            raise NotFound(f"recommendation {rec_id} not found")
        return convert.recommendation(row)

    def latest(self, project_id: int, state: str | None = None) -> Recommendation | None:
        """The newest recommendation of a project (in `state` if given)."""
        query = sa.select(T).where(T.c.project_id == project_id).order_by(T.c.id.desc()).limit(1)
        if state:
            query = query.where(T.c.state == state)
        with self._read() as conn:
            row = conn.execute(query).first()
        return convert.recommendation(row) if row is not None else None

    def pending(self, project_id: int) -> Recommendation | None:
        return self.latest(project_id, "pending")

    def list(self, project_id: int) -> list[Recommendation]:
        """A project's recommendations, oldest first."""
        with self._read() as conn:
            rows = conn.execute(sa.select(T).where(T.c.project_id == project_id).order_by(T.c.id)).all()
        return [convert.recommendation(r) for r in rows]

    def newest_first(self, project_id: int, limit: int = 50, before_id: int | None = None,
                     state: str | None = None) -> list[Recommendation]:
        """A page of a project's recommendations, highest id (the newest) first, in ``state`` if given:
        what `trimtab recommendation list` shows. Pass the page's last id as ``before_id`` for the next:
        a keyset, so recommendations made meanwhile neither repeat nor push others off a page."""
        query = sa.select(T).where(T.c.project_id == project_id).order_by(T.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(T.c.id < before_id)
        if state:
            query = query.where(T.c.state == state)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [convert.recommendation(r) for r in rows]

    def change_points(self, project_id: int) -> list[tuple[int, str]]:
        """The change points a project's recommendations were made after, (first run's id, kind),
        oldest first, each once."""
        query = (sa.select(T.c.change_run_id, sa.func.min(T.c.change_kind))
                 .where(T.c.project_id == project_id, T.c.change_run_id.is_not(None))
                 .group_by(T.c.change_run_id).order_by(T.c.change_run_id))
        with self._read() as conn:
            return [(int(run_id), str(kind)) for run_id, kind in conn.execute(query).all()]

    def change_points_by_project(self, project_ids: Collection[int]) -> dict[int, list[tuple[int, str]]]:
        """`change_points` of many projects in one query, by project id (one without any is left out)."""
        if not project_ids:
            return {}
        query = (sa.select(T.c.project_id, T.c.change_run_id, sa.func.min(T.c.change_kind))
                 .where(T.c.project_id.in_(sorted(project_ids)), T.c.change_run_id.is_not(None))
                 .group_by(T.c.project_id, T.c.change_run_id).order_by(T.c.project_id, T.c.change_run_id))
        out: dict[int, list[tuple[int, str]]] = {}
        with self._read() as conn:
            for pid, run_id, kind in conn.execute(query).all():
                out.setdefault(int(pid), []).append((int(run_id), str(kind)))
        return out

    def set_state(self, rec_id: int, state: str) -> Recommendation:
        if state not in RECOMMENDATION_STATES:
            raise InvalidArgument(f"state must be one of {', '.join(RECOMMENDATION_STATES)}")
        with self._write() as conn:
            done = conn.execute(T.update().where(T.c.id == rec_id).values(state=state)).rowcount
        if not done:
            raise NotFound(f"recommendation {rec_id} not found")
        return self.get(rec_id)
