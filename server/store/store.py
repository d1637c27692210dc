"""`Store`: the repositories over one engine, and `open_store` to get one."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import sqlalchemy as sa

from server.clock import Clock, SystemClock
from server.store import engine as db
from server.store import migrate
from server.store.repos.applications import ApplicationRepository
from server.store.repos.ingest import IngestRepository
from server.store.repos.projects import ProjectRepository
from server.store.repos.recommendations import RecommendationRepository
from server.store.repos.retention import RetentionRepository
from server.store.repos.runs import RunRepository
from server.store.repos.tokens import TokenRepository
from server.store.repos.workspaces import WorkspaceRepository
from server.store.sqlite_files import cannot_open
from server.store.urls import shown_url, sqlite_file

log = logging.getLogger(__name__)


class Store:
    """Every repository over one database. Thread-safe: each call takes its own connection."""

    def __init__(self, engine: sa.Engine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.workspaces = WorkspaceRepository(engine, self.clock)
        self.projects = ProjectRepository(engine, self.clock)
        self.runs = RunRepository(engine, self.clock)
        self.applications = ApplicationRepository(engine, self.clock)
        self.recommendations = RecommendationRepository(engine, self.clock)
        self.tokens = TokenRepository(engine, self.clock)
        self.ingest = IngestRepository(engine, self.clock)
        self.retention = RetentionRepository(engine, self.clock)

    @property
    def url(self) -> str:
        return shown_url(self.engine.url)

    @property
    def is_sqlite(self) -> bool:
        return db.is_sqlite(self.engine)

    def ping(self) -> None:
        """Raise `Unavailable` if the database cannot be reached."""
        with db.read(self.engine) as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, upgrade: bool = True, create: bool = False, clock: Clock | None = None,
               busy_timeout_ms: int = 5000, timeout_s: float = db.DEFAULT_TIMEOUT_S) -> Store:
    """Open the database at `url`, bringing its schema to the latest migration.

    With ``upgrade=False`` an out-of-date schema raises `FailedPrecondition`
    telling the user to run ``trimtab db upgrade``; ``create`` then still
    creates the schema in a database that has none. A SQLite file's directory
    is created if missing. ``timeout_s``: how long one PostgreSQL transaction may
    take before its connection is closed (`server.store.engine`; 0: no limit).
    """
    db_file = sqlite_file(url)
    existed = db_file is not None and db_file.exists()
    if db_file is not None:
        try:
            db_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # a new state directory: owner only
        except OSError as exc:
            raise cannot_open(db_file, f"cannot create {db_file.parent}: {exc.strerror or exc}") from None
    engine = db.make_engine(url, busy_timeout_ms=busy_timeout_ms, timeout_s=timeout_s)
    try:
        if upgrade or (create and migrate.current_revision(engine) is None):
            migrate.upgrade(engine)
        else:
            migrate.require_current(engine)
    except BaseException:
        engine.dispose()
        raise
    if db_file is not None:
        _owner_only(db_file, created=not existed)
    return Store(engine, clock)


def _owner_only(db_file: Path, *, created: bool) -> None:
    """A SQLite file this call created is made readable by its owner alone (with its -wal and -shm
    files); an older one readable by others is named once. It holds every job cluster's spec, whose
    spark_conf and spark_env_vars may carry credentials, and every event the agents sent; only the
    Databricks tokens in it are encrypted."""
    if created:
        for path in (db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                path.chmod(0o600)
        return
    try:
        mode = db_file.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        log.warning("database %s is readable by other users (mode %03o): it holds the job clusters' specs, "
                    "which may carry credentials; chmod 600 it (and its -wal and -shm files)", db_file, mode & 0o777)
