"""The tests' PostgreSQL databases: one of its own per test, empty or at the latest migration.

A database a test is done with is reset and handed to a later test instead of dropped: a DROP
DATABASE forces an immediate checkpoint of the whole cluster (PostgreSQL 15's dropdb), which took
0.15-0.2 s on a quiet machine and 5-25 s each on this shared one under load, so the drops queued on
their thread were still running minutes after the last test. A reset puts the database's own
settings back, then deletes the rows a fresh copy of the template does not have, or, when its test
left its schema changed (a migration's test), makes its public schema again: an empty database. It
is handed on only when its schema, settings and rows are then exactly a fresh one's (`fingerprint`,
`contents`); one that still differs (a schema of its test's own) is dropped as before.

The rename is what keeps a test's leftovers away from the next: every session on the database is
ended first, and a process the test left behind that connects again asks for a name that no longer
exists. Every name is a fresh uuid, so two sessions (two xdist workers, two checkouts) never clash.

Every database is made with ``synchronous_commit = off`` (`SETTINGS`, set again after each reset): a
commit then returns before its WAL reaches the disk, 0.8-3 ms instead of 4-5 ms here under load, and
the tests make thousands. What a commit makes visible to other sessions and how locks behave is the
same; only a crash of the PostgreSQL server itself could lose the last commits, which no test does.
"""

from __future__ import annotations

import queue
import threading
import uuid

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

# What a database's schema and settings are, as rows of text: every object a test could add or change
# in it outside the system schemas, in a form that names no OID (two equal databases give equal rows).
_USER_SCHEMAS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
                 "AND n.nspname NOT LIKE 'pg\\_temp\\_%'")
FINGERPRINT_SQL = f"""
SELECT 'database', pg_get_userbyid(d.datdba) || ' ' || d.datallowconn::text || ' ' || d.datconnlimit || ' '
       || d.datistemplate::text || ' ' || (SELECT t.spcname FROM pg_tablespace t WHERE t.oid = d.dattablespace)
       || ' ' || coalesce((SELECT s.setconfig::text FROM pg_db_role_setting s
                           WHERE s.setdatabase = d.oid AND s.setrole = 0), '')
  FROM pg_database d WHERE d.datname = current_database()
UNION ALL
SELECT 'schema', n.nspname || ' ' || pg_get_userbyid(n.nspowner) || ' ' || coalesce(n.nspacl::text, '')
  FROM pg_namespace n WHERE {_USER_SCHEMAS}
UNION ALL
SELECT 'relation', n.nspname || '.' || c.relname || ' ' || c.relkind::text || c.relpersistence::text
       || ' ' || c.relrowsecurity::text || ' ' || coalesce(c.reloptions::text, '') || ' ' || coalesce(c.relacl::text, '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_SCHEMAS}
UNION ALL
SELECT 'column', n.nspname || '.' || c.relname || ' ' || a.attnum || ' ' || a.attname || ' '
       || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' ' || a.attidentity::text
       || a.attgenerated::text || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
 WHERE a.attnum > 0 AND {_USER_SCHEMAS}
UNION ALL
SELECT 'constraint', n.nspname || ' ' || co.conrelid::regclass::text || ' ' || co.conname || ' '
       || pg_get_constraintdef(co.oid)
  FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace WHERE {_USER_SCHEMAS}
UNION ALL
SELECT 'index', pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER_SCHEMAS}
UNION ALL
SELECT 'sequence', s.schemaname || '.' || s.sequencename || ' ' || s.data_type::text || ' ' || s.start_value
       || ' ' || s.increment_by || ' ' || s.min_value || ' ' || s.max_value || ' ' || s.cycle::text
  FROM pg_sequences s
UNION ALL
SELECT 'type', n.nspname || '.' || t.typname || ' ' || t.typtype::text || ' '
       || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e
                    WHERE e.enumtypid = t.oid), '')
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {_USER_SCHEMAS}
UNION ALL
SELECT 'function', n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') '
       || md5(coalesce(p.prosrc, ''))
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_USER_SCHEMAS}
UNION ALL
SELECT 'trigger', pg_get_triggerdef(tg.oid) FROM pg_trigger tg WHERE NOT tg.tgisinternal
UNION ALL
SELECT 'rule', r.rulename || ' ' || md5(pg_get_ruledef(r.oid))
  FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER_SCHEMAS}
UNION ALL
SELECT 'extension', x.extname || ' ' || x.extversion FROM pg_extension x
ORDER BY 1, 2
"""
# What rows and sequence positions a database holds; equal to a fresh copy's once it is reset.
_SEQUENCES_SQL = "SELECT schemaname || '.' || sequencename, last_value::text FROM pg_sequences ORDER BY 1"

Fingerprint = tuple[tuple[str, str], ...]

# Each test database's own settings (see the module's docstring): part of what a fresh one is.
SETTINGS = {"synchronous_commit": "off"}


def configure(conn: sa.Connection, name: str) -> None:
    """Gives database ``name`` the tests' `SETTINGS` (a new session on it starts with them)."""
    for setting, value in SETTINGS.items():
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET {setting} = {value}'))


def fingerprint(conn: sa.Connection) -> Fingerprint:
    return tuple((str(kind), str(text)) for kind, text in conn.execute(sa.text(FINGERPRINT_SQL)))


def tables(conn: sa.Connection) -> list[str]:
    """The database's tables (schema-qualified, quoted), for a TRUNCATE."""
    return [str(name) for (name,) in conn.execute(sa.text(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"))]


def contents(conn: sa.Connection, keep: list[str]) -> tuple[object, ...]:
    """The rows of the ``keep`` tables (those a fresh database has rows in) and where every sequence is."""
    rows = tuple(tuple(map(tuple, conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1")))) for t in keep)
    return rows, tuple(map(tuple, conn.execute(sa.text(_SEQUENCES_SQL))))


class Kind:
    """What a fresh database of one kind is (empty, or the session's migrated template): its schema,
    the tables it has rows in, and those rows with its sequences' positions."""

    def __init__(self, conn: sa.Connection) -> None:
        self.schema = fingerprint(conn)
        every = tables(conn)
        self.keep = [t for t in every if conn.execute(sa.text(f"SELECT EXISTS (SELECT FROM {t})")).scalar()]
        self.clear = [t for t in every if t not in self.keep]
        self.sequences = [str(name) for (name,) in conn.execute(sa.text(
            "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences ORDER BY 1"))]
        self.contents = contents(conn, self.keep)


class PostgresDatabases:
    """Makes the tests' PostgreSQL databases, and takes them back on a thread of its own: reset for a
    later test when it can (see the module's docstring), dropped otherwise, on another thread (a
    drop's checkpoint would hold up the resets behind it). Nothing waits for them but the session's
    end."""

    def __init__(self, base_url: str) -> None:
        self.base = sa.engine.make_url(base_url)
        # No pool: the session's end drops its databases on as many threads at once.
        self.admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.session_id = uuid.uuid4().hex[:8]
        self._template: str | None = None
        self._template_error: str | None = None
        self._lock = threading.Lock()
        self._kinds: dict[bool, Kind] = {}  # by migrated: known once one of the kind was made
        self._ready: dict[bool, list[str]] = {False: [], True: []}  # reset, for the next tests
        self._returned: queue.Queue[str | None] = queue.Queue()
        self._dropping: queue.Queue[str | None] = queue.Queue()  # a thread of its own: a drop waits
        self._errors: list[str] = []
        self.reused = self.dropped = 0
        self._workers = [threading.Thread(target=self._take_back_loop, name="test-database-recycler", daemon=True),
                         threading.Thread(target=self._drop_loop, name="test-database-dropper", daemon=True)]
        for worker in self._workers:
            worker.start()

    def url(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    def _engine(self, name: str) -> sa.Engine:
        return sa.create_engine(self.url(name), poolclass=NullPool)

    def create(self, *, migrated: bool) -> str:
        """A database no test has used since it was reset, or a new one (empty, or a copy of the
        session's migrated template): its name."""
        with self._lock:
            if self._ready[migrated]:
                return self._ready[migrated].pop()
        name = f"tt_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{self.template()}"' if migrated else ""
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"{template}'))
            configure(conn, name)  # a copy does not take its template's settings
        if not migrated and False not in self._kinds:
            engine = self._engine(name)
            try:
                with engine.connect() as conn:
                    kind = Kind(conn)
            finally:
                engine.dispose()
            with self._lock:
                self._kinds.setdefault(False, kind)
        return name

    def template(self) -> str:
        """The session's migrated database, made on first use. Nothing stays connected to it:
        CREATE DATABASE ... TEMPLATE refuses a template with a session on it."""
        from server.store import open_store

        with self._lock:
            if self._template_error is not None:
                # Every later test fails with the first error, not with "already exists".
                raise RuntimeError(f"the session's migrated template could not be made: {self._template_error}")
            if self._template is None:
                name = f"tt_template_{self.session_id}"
                with self.admin.connect() as conn:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                    configure(conn, name)
                try:
                    open_store(self.url(name)).close()  # close() disposes the engine: its connections end
                    engine = self._engine(name)
                    try:
                        with engine.connect() as conn:
                            self._kinds[True] = Kind(conn)
                    finally:
                        engine.dispose()
                except Exception as exc:
                    self._template_error = f"{type(exc).__name__}: {exc}"
                    self._drop_reporting(name)  # half made: not left behind
                    raise
                self._template = name
            return self._template

    def give_back(self, name: str) -> None:
        """A test is done with ``name``: reset on the thread for a later test, or dropped."""
        self._returned.put(name)

    def _take_back_loop(self) -> None:
        while (name := self._returned.get()) is not None:
            try:
                self._take_back(name)
            except Exception as exc:  # reported at the session's end, never lost with the thread
                self._errors.append(f"{name}: {exc}")
            finally:
                self._returned.task_done()
        self._returned.task_done()

    def settle(self) -> None:
        """Waits until every database given back so far is reset or dropped."""
        self._returned.join()

    def _take_back(self, name: str) -> None:
        fresh = self._detach(name)
        if fresh is None:
            return
        migrated = self._reset(fresh)
        if migrated is None:
            self._drop_later(fresh)
            return
        with self._lock:
            self._ready[migrated].append(fresh)
        self.reused += 1

    def _detach(self, name: str) -> str | None:
        """Ends every session on ``name`` and renames it to a new name, which no leftover client of the
        test knows; None when the test dropped it itself."""
        fresh = f"tt_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            for _ in range(20):
                if not conn.execute(sa.text("SELECT EXISTS (SELECT FROM pg_database WHERE datname = :n)"),
                                    {"n": name}).scalar():
                    return None
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
                try:
                    conn.execute(sa.text(f'ALTER DATABASE "{name}" RENAME TO "{fresh}"'))
                except DBAPIError:  # a session started between the two: end it too
                    continue
                # What a test may have set on the database itself goes back to a new one's defaults.
                conn.execute(sa.text(f'ALTER DATABASE "{fresh}" RESET ALL'))
                configure(conn, fresh)
                conn.execute(sa.text(f'ALTER DATABASE "{fresh}" WITH ALLOW_CONNECTIONS true CONNECTION LIMIT -1 '
                                     "IS_TEMPLATE false"))
                return fresh
        self._drop_later(name)  # something keeps connecting to it: not one to hand on
        return None

    def _reset(self, name: str) -> bool | None:
        """``name`` made a fresh database again: True when it is now a migrated one, False an empty one,
        None when it cannot be (something of its test's is left that neither reset takes away)."""
        engine = self._engine(name)
        try:
            with engine.connect() as conn:
                schema = fingerprint(conn)
                conn.rollback()  # the read's own transaction: each reset below is one of its own
                for migrated, kind in list(self._kinds.items()):
                    if schema == kind.schema and self._clear(conn, kind):
                        return migrated
                if False in self._kinds and self._empty(conn, self._kinds[False]):
                    return False
        except DBAPIError:  # it refuses connections, lost its public schema's owner, ...: dropped
            pass
        finally:
            engine.dispose()
        return None

    @staticmethod
    def _clear(conn: sa.Connection, kind: Kind) -> bool:
        """Deletes the rows a fresh database of ``kind`` does not have; whether it now has its rows."""
        with conn.begin() as transaction:
            # DELETE, not TRUNCATE: a TRUNCATE makes new files for every table and index (0.4-0.6 s
            # here under load, 30-50 ms this way). The foreign keys' triggers are off for it: every
            # table is emptied, so none is left dangling.
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            for table in kind.clear:
                conn.execute(sa.text(f"DELETE FROM {table}"))
            for sequence in kind.sequences:  # ids start where a fresh copy's do
                conn.execute(sa.text(f"ALTER SEQUENCE {sequence} RESTART"))
            if contents(conn, kind.keep) == kind.contents:
                return True
            transaction.rollback()
            return False

    @staticmethod
    def _empty(conn: sa.Connection, empty: Kind) -> bool:
        """Drops what a test made in the public schema (a migration's test leaves it part-migrated) and
        makes the schema again as a new database's (owner and grants); whether it is now an empty one."""
        with conn.begin():
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public AUTHORIZATION pg_database_owner"))
            conn.execute(sa.text("GRANT USAGE ON SCHEMA public TO PUBLIC"))
        same = fingerprint(conn) == empty.schema and contents(conn, []) == empty.contents
        conn.rollback()
        return same

    def _drop_later(self, name: str) -> None:
        self.dropped += 1
        self._dropping.put(name)

    def _drop_loop(self) -> None:
        while (name := self._dropping.get()) is not None:
            self._drop_reporting(name)

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            # FORCE: a test may leave a connection behind (a server process, a black-holed relay).
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        """Drops every database the session made and raises if any drop failed."""
        self._returned.put(None)
        self._workers[0].join()
        left = [name for ready in self._ready.values() for name in ready]
        while not self._dropping.empty():
            if (name := self._dropping.get()) is not None:
                left.append(name)
        self._dropping.put(None)
        self._workers[1].join()
        if self._template is not None:
            left.append(self._template)
        # Each DROP DATABASE waits for a checkpoint (minutes for a few dozen under load, one after the
        # other): made at once they share one or two.
        threads = [threading.Thread(target=self._drop_reporting, args=(name,)) for name in left]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.admin.dispose()
        if self._errors:
            raise RuntimeError("test databases not dropped: " + "; ".join(self._errors))

    def _drop_reporting(self, name: str) -> None:
        try:
            self._drop(name)
        except Exception as exc:
            self._errors.append(f"{name}: {exc}")
