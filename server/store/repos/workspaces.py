"""Workspaces. Secrets arrive already encrypted (see `server.services.secrets`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from server.domain import FailingJob, Workspace
from server.errors import AlreadyExists, FailedPrecondition, NotFound, shown
from server.store import convert
from server.store.repos.base import Repository
from server.store.tables import ApiTokenRow, ProjectRow, WorkspaceRow

T = WorkspaceRow.__table__  # type: ignore[attr-defined]
TOKENS = ApiTokenRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Removal:
    """What `WorkspaceRepository.remove` did: refused while ``attached`` names projects (nothing
    changed), else the workspace is gone with ``tokens_revoked`` agent tokens bound to it."""

    attached: list[str]
    tokens_revoked: int = 0


@dataclass(frozen=True)
class WorkspaceSecrets:
    """The encrypted secrets of a workspace (Fernet tokens, see server.services.secrets)."""

    token_encrypted: str
    cloud_credentials_encrypted: str | None
    # Read with the secret in one statement, so a rotation between two reads never pairs a service
    # principal's client id with another's secret (or a PAT): "" for a PAT.
    client_id: str = ""


# New cloud credentials have read nothing yet.
_NO_BILL_READS: dict[str, object] = {"bills_read_at_ms": None, "bill_read_failed_at_ms": None, "bill_read_error": ""}


def _refuse_taken(conn: sa.Connection, name: str) -> None:
    """`AlreadyExists` when a workspace named ``name`` in any case is stored."""
    # Names are ASCII (`WORKSPACE_NAME`), so SQL lower() is the same on both engines.
    taken = conn.execute(sa.select(T.c.name).where(sa.func.lower(T.c.name) == name.lower())
                         .order_by(T.c.name)).scalars().first()
    if taken == name:
        raise AlreadyExists(f"workspace {name!r} already exists")
    if taken is not None:
        raise AlreadyExists(f"workspace {taken!r} already exists, and workspace names differ by more "
                            f"than case: {name!r} would be taken for it (in commands, project "
                            "names and logs)")


def _ascii_lower(name: str) -> str:
    """``name`` with its ASCII letters in lower case: what SQL lower() makes of it on SQLite (PostgreSQL's
    lowers more, which only a name from before `WORKSPACE_NAME`'s rule could hold)."""
    return "".join(c.lower() if c.isascii() else c for c in name)


def name_as_stored(conn: sa.Connection, name: str) -> str | None:
    """The name the workspace that ``name`` names in any case was added as (`sb` for `SB`), or None.

    What a name a person typed is resolved with, once, where it comes in (a request, a command): the
    repositories then match names exactly, as projects and tokens store them. Not inside every lookup:
    a project of a removed `sb` must not find a workspace `SB` added since. Names are unique in any case
    (0023), so one row matches; the name as stored wins when it is there, which keeps a name from
    before the rule (non-ASCII, where the engines' lower() differ) found as typed."""
    return conn.execute(
        sa.select(T.c.name).where(sa.or_(T.c.name == name, sa.func.lower(T.c.name) == _ascii_lower(name)))
        .order_by(sa.case((T.c.name == name, 0), else_=1)).limit(1)).scalar()


class WorkspaceRepository(Repository):
    def add(self, workspace: Workspace, token_encrypted: str,
            cloud_credentials_encrypted: str | None = None) -> Workspace:
        """Store a new workspace; `AlreadyExists` if the name is taken, in any case (`SB` is `sb`'s)."""
        created = workspace.created_at_ms or self._clock.now_ms()
        values = {
            "name": workspace.name, "host": workspace.host, "cloud": workspace.cloud,
            "plan": workspace.plan, "region": workspace.region, "token_encrypted": token_encrypted,
            "token_masked": workspace.token_masked, "cloud_credentials_encrypted": cloud_credentials_encrypted,
            "status": workspace.status, "last_error": workspace.last_error, "created_at_ms": created,
            "auto_import": workspace.auto_import, "client_id": workspace.client_id,
        }
        try:
            with self._write() as conn:
                # Checked in the insert's transaction for the message naming the name taken; the
                # database's unique index on lower(name) (0023) is what holds when two servers or
                # sessions add "Prod" and "prod" at once, and its refusal says the same.
                _refuse_taken(conn, workspace.name)
                conn.execute(T.insert().values(**values))
        except AlreadyExists:
            # The race: the other insert committed after this one's check. Read again, outside the
            # failed transaction, to name what was taken as the check does.
            with self._read() as conn:
                _refuse_taken(conn, workspace.name)
            raise
        return self.get(workspace.name)

    def get(self, name: str) -> Workspace:
        """The workspace named `name`; `NotFound` otherwise."""
        with self._read() as conn:
            row = conn.execute(sa.select(T).where(T.c.name == name)).first()
        if row is None:
            raise NotFound(f"workspace {shown(name)} not found")
        return convert.workspace(row)

    def stored_name(self, name: str) -> str | None:
        """`name_as_stored`: the name the workspace ``name`` names in any case was added as; None for none."""
        with self._read() as conn:
            return name_as_stored(conn, name)

    def named(self, name: str) -> Workspace:
        """The workspace a person named ``name``, in any case (`SB` is `sb`); `NotFound` otherwise."""
        return self.get(self.stored_name(name) or name)

    def list(self) -> list[Workspace]:
        with self._read() as conn:
            rows = conn.execute(sa.select(T).order_by(T.c.name)).all()
        return [convert.workspace(r) for r in rows]

    def secrets(self, name: str) -> WorkspaceSecrets:
        with self._read() as conn:
            row = conn.execute(sa.select(T.c.token_encrypted, T.c.cloud_credentials_encrypted, T.c.client_id)
                               .where(T.c.name == name)).first()
        if row is None:
            raise NotFound(f"workspace {shown(name)} not found")
        return WorkspaceSecrets(row.token_encrypted, row.cloud_credentials_encrypted, row.client_id or "")

    def set_token(self, name: str, token_encrypted: str, token_masked: str,
                  cloud_credentials_encrypted: str | None = None, *, client_id: str | None = None) -> Workspace:
        """Replace the token (and the cloud credentials when given) of a workspace; status back to ok.
        ``client_id``: the service principal whose OAuth client secret the token is ("": a PAT; None:
        as stored), written with it.

        Only called after the new token passed a real call, so the old error no longer holds.
        """
        values: dict[str, object] = {"token_encrypted": token_encrypted, "token_masked": token_masked,
                                     "status": "ok", "last_error": ""}
        if client_id is not None:
            values["client_id"] = client_id
        if cloud_credentials_encrypted is not None:
            values.update(cloud_credentials_encrypted=cloud_credentials_encrypted, **_NO_BILL_READS)
        with self._write() as conn:
            if not conn.execute(T.update().where(T.c.name == name).values(**values)).rowcount:
                raise NotFound(f"workspace {shown(name)} not found")
        return self.get(name)

    def set_cloud_credentials(self, name: str, cloud_credentials_encrypted: str) -> Workspace:
        """Replace the workspace's cloud credentials; what the old ones read is forgotten with them."""
        with self._write() as conn:
            done = conn.execute(T.update().where(T.c.name == name).values(
                cloud_credentials_encrypted=cloud_credentials_encrypted, **_NO_BILL_READS)).rowcount
        if not done:
            raise NotFound(f"workspace {shown(name)} not found")
        return self.get(name)

    def record_bill_read(self, name: str, cloud_credentials_encrypted: str, *, ok_at_ms: int | None = None,
                         failed_at_ms: int | None = None, error: str = "") -> bool:
        """Record that a bill read with ``cloud_credentials_encrypted`` was answered at ``ok_at_ms`` (a
        failure recorded before is then over), or failed at ``failed_at_ms`` with ``error``. Written
        only while the workspace still has those credentials (False otherwise): a read with the old
        ones finishing after `workspace add --replace` must not speak for the new ones."""
        values: dict[str, object] = {}
        if ok_at_ms is not None:
            values.update(bills_read_at_ms=ok_at_ms, bill_read_failed_at_ms=None, bill_read_error="")
        if failed_at_ms is not None:
            values.update(bill_read_failed_at_ms=failed_at_ms, bill_read_error=error)
        if not values:
            return False
        with self._write() as conn:  # the error is the cloud's words: text (`convert.storable_row`)
            return bool(conn.execute(T.update().where(
                T.c.name == name, T.c.cloud_credentials_encrypted == cloud_credentials_encrypted).values(
                    **convert.storable_row(values))).rowcount)

    def set_status(self, name: str, status: str, last_error: str = "", *,
                   polled_host: str | None = None) -> Workspace | None:
        """Record whether the workspace was reachable last time (`ok`, `error` or `unreachable`).

        ``polled_host``: the host the verdict is about; None (nothing written) when the workspace
        has been re-pointed since (`workspace set --host` during a poll of the old host), so a
        verdict on the old host never lands on the new one."""
        where = [T.c.name == name] + ([T.c.host == polled_host] if polled_host is not None else [])
        # The error holds Databricks' words (an error message, a job's name): text (`convert.storable_row`).
        values = convert.storable_row({"status": status, "last_error": last_error})
        with self._write() as conn:
            done = conn.execute(T.update().where(*where).values(**values)).rowcount
        if not done:
            current = self.get(name)  # NotFound for an unknown name
            if polled_host is not None and current.host != polled_host:
                return None
            raise NotFound(f"workspace {shown(name)} not found")
        return self.get(name)

    def record_polled(self, name: str, at_ms: int, *, polled_host: str) -> None:
        """Record that a collector poll of the workspace at ``polled_host`` worked at ``at_ms``; nothing
        when it has been removed or re-pointed since (the poll was of another host), as `set_status`."""
        with self._write() as conn:
            conn.execute(T.update().where(T.c.name == name, T.c.host == polled_host).values(polled_ok_at_ms=at_ms))

    def polled_ok_at(self, name: str) -> int | None:
        """When a collector poll of the workspace last worked (`record_polled`); None: never, or no such workspace."""
        with self._read() as conn:
            at = conn.execute(sa.select(T.c.polled_ok_at_ms).where(T.c.name == name)).scalar()
        return None if at is None else int(at)

    def set_auto_import(self, name: str, auto_import: bool) -> Workspace:
        """Turn auto-import of the workspace's new jobs on or off; `NotFound` for an unknown name."""
        with self._write() as conn:
            done = conn.execute(T.update().where(T.c.name == name).values(auto_import=auto_import)).rowcount
        if not done:
            raise NotFound(f"workspace {shown(name)} not found")
        return self.get(name)

    def set_pricing(self, name: str, *, cloud: str, plan: str, region: str) -> Workspace:
        """Set what the workspace's runs are priced with (cloud, plan tier, region); `NotFound` for an
        unknown name. The caller decides when a change is safe (`server.services.workspaces`)."""
        with self._write() as conn:
            done = conn.execute(T.update().where(T.c.name == name)
                                .values(cloud=cloud, plan=plan, region=region)).rowcount
        if not done:
            raise NotFound(f"workspace {shown(name)} not found")
        return self.get(name)

    def set_plan_region(self, name: str, *, cloud: str, plan: str | None = None,
                        region: str | None = None) -> Workspace:
        """Set the plan tier and/or the region (None: left as stored) of a workspace on ``cloud``.

        Only the columns given are written, in one statement: `workspace set W --plan X` and
        `workspace set W --region Y` at the same time (two servers, or two calls of one) each keep
        their change, where writing both from one earlier read lost one. ``cloud`` is the cloud the
        region was checked against: a workspace moved to another cloud meanwhile is not written
        (`FailedPrecondition`); `NotFound` for an unknown name."""
        values = {k: v for k, v in (("plan", plan), ("region", region)) if v is not None}
        if not values:
            return self.get(name)
        with self._write() as conn:
            done = conn.execute(T.update().where(T.c.name == name, T.c.cloud == cloud).values(**values)).rowcount
        if not done:
            current = self.get(name)  # NotFound for an unknown name
            raise FailedPrecondition(f"workspace {shown(name)} moved to {current.cloud} while its plan or region "
                                     f"was being set for {cloud}; nothing was changed: retry")
        return self.get(name)

    def set_host(self, name: str, host: str, token_encrypted: str, token_masked: str, *,
                 client_id: str | None = None) -> Workspace:
        """Re-point a workspace at ``host`` with the token that passed a real call there (the host
        answered as this workspace: `server.services.workspace_lifecycle`); status back to ok. One
        statement, so no poll ever pairs the new token with the old host or the reverse. ``client_id``
        as `set_token`'s."""
        values: dict[str, object] = {"host": host, "token_encrypted": token_encrypted, "token_masked": token_masked,
                                     "status": "ok", "last_error": ""}
        if client_id is not None:
            values["client_id"] = client_id
        with self._write() as conn:
            done = conn.execute(T.update().where(T.c.name == name).values(**values)).rowcount
        if not done:
            raise NotFound(f"workspace {shown(name)} not found")
        return self.get(name)

    def failing_jobs(self, name: str) -> dict[int, FailingJob]:
        """The workspace's jobs whose own calls fail, by job id (`set_failing_jobs`); {} for none, or
        for a workspace not (or no longer) stored."""
        with self._read() as conn:
            stored = conn.execute(sa.select(T.c.failing_jobs).where(T.c.name == name)).scalar()
        return {int(job_id): FailingJob(job_id=int(job_id), failures=int(f["failures"]), since_ms=int(f["since_ms"]),
                                        retry_at_ms=int(f["retry_at_ms"]), error=str(f.get("error", "")),
                                        name=str(f.get("name", "")))
                for job_id, f in (stored or {}).items()}

    def set_failing_jobs(self, name: str, jobs: Mapping[int, FailingJob]) -> None:
        """Replace the workspace's failing jobs with ``jobs`` (the collector's poll thread writes them
        whole, each time one starts, fails again or ends); nothing for a workspace not stored."""
        value = {str(j.job_id): {"failures": j.failures, "since_ms": j.since_ms, "retry_at_ms": j.retry_at_ms,
                                 "error": j.error, "name": j.name} for j in jobs.values()}
        with self._write() as conn:  # none: SQL NULL, as a workspace from before 0017 has (not JSON null)
            conn.execute(T.update().where(T.c.name == name).values(failing_jobs=value or sa.null()))

    def remove(self, name: str) -> Removal:
        """Delete the workspace (its secrets with it) unless it has attached projects: those projects'
        names, the workspace kept. The check and the delete are one statement, so a project attached
        before it (an import, a re-attach) blocks the delete.

        The agent tokens bound to it are revoked in the same transaction: left active, they still sent
        data (`token list` showed them active), and a workspace added again under the name took them
        over, with whichever clusters still held them."""
        projects = ProjectRow.__table__  # type: ignore[attr-defined]
        attached = (sa.select(projects.c.id).where(projects.c.workspace == name, sa.not_(projects.c.detached),
                                                   sa.not_(projects.c.orphaned)))
        with self._write() as conn:
            if conn.execute(T.delete().where(T.c.name == name, ~sa.exists(attached))).rowcount:
                revoked = conn.execute(TOKENS.update().where(TOKENS.c.workspace == name, sa.not_(TOKENS.c.revoked))
                                       .values(revoked=True)).rowcount
                return Removal(attached=[], tokens_revoked=revoked)
            if conn.execute(sa.select(T.c.id).where(T.c.name == name)).first() is None:
                raise NotFound(f"workspace {shown(name)} not found")
            rows = conn.execute(sa.select(projects.c.job_id, projects.c.cluster_key).where(
                projects.c.workspace == name, sa.not_(projects.c.detached), sa.not_(projects.c.orphaned))
                .order_by(projects.c.id)).all()
        return Removal(attached=[f"{name}/{r.job_id}/{r.cluster_key}" for r in rows])
