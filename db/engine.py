"""Engines and transactions: the only place that commits.

SQLite runs in WAL mode with a busy timeout. Transactions start with ``BEGIN IMMEDIATE`` so
that concurrent writers queue instead of failing half-way. Read-only work opens ``reading``: a
plain ``BEGIN``, one consistent snapshot that under WAL never blocks a writer, so a long report
or ``audit verify`` does not hold up intake or the deadline watch. Reading is opt-in because the
two mistakes differ: a reader left unmarked only makes writers wait, a writer in a snapshot
would fail with "database is locked" when it upgrades late.
PostgreSQL relies on row locks taken by the repository (``SELECT ... FOR UPDATE``).

``engine_for(url)`` is the process's one engine (and connection pool) per URL: flows, tasks,
services and the command line share it instead of each building and disposing its own.
``make_engine`` stays for the rare caller that needs an engine of its own (a second process's
view of the database in a test, Alembic's offline environment).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.pool import StaticPool

from db.private import FILE_MODE, create_private, private_folder


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for a SQLite file, in-memory SQLite or PostgreSQL URL."""
    if url.startswith("sqlite"):
        memory = url in {"sqlite://", "sqlite:///:memory:"}
        if not memory:
            _private_sqlite_files(url)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 60},
            poolclass=StaticPool if memory else None,
        )
        _configure_sqlite(engine, wal=not memory)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, echo=echo, pool_pre_ping=True)
    if engine.dialect.name == "postgresql":
        _configure_postgresql(engine)
    return engine


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(url: str) -> Engine:
    """The process's engine for ``url``, created on first use with :func:`make_engine`'s options.

    One pool per database, shared by every caller in the process: a flow run, a watch sweep
    or a command no longer pays for a new pool (and, on SQLite, the WAL pragmas) per step.
    Thread-safe, because ``serve`` checks the watch from its own thread.
    """
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    """Close every cached engine's connections and forget them.

    For tests, between one test's database and the next (a dropped PostgreSQL database or a
    deleted SQLite file must not be reached through an old pool), and for a process that is
    about to change its configured database.
    """
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        engine.dispose()


def _forget_engines_in_child() -> None:
    # A forked child must not use its parent's pooled connections (one socket, two users):
    # it drops them without closing them, as SQLAlchemy's pooling guide says, and builds its
    # own. The lock is new too: another thread of the parent may have held it at the fork.
    global _ENGINES_LOCK
    _ENGINES_LOCK = threading.Lock()
    for engine in _ENGINES.values():
        engine.dispose(close=False)
    _ENGINES.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_engines_in_child)


def _private_sqlite_files(url: str) -> None:
    """Create the SQLite file owner-only before SQLite does (with the umask's 0644), in an
    owner-only folder when the folder is missing; SQLite gives its -wal and -shm files the
    database file's mode. Files of an existing database are tightened.

    Here, where the file is opened, rather than where the URL is read: reading the settings
    (``--help``, a URL printed in a message) must create nothing on disk.
    """
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    private_folder(path.parent)
    create_private(path)
    for suffix in ("-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + suffix)
        if companion.exists() and companion.stat().st_mode & 0o077:
            companion.chmod(FILE_MODE)


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Sessions in UTC: psycopg then returns timestamps in UTC itself, which UTCDateTime
        # hands back without converting each one (the stored instants are the same in any
        # zone).
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN (pysqlite's implicit transactions
        # would defeat BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(_READS_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


_READS_ONLY = "cordwatch_reads_only"
"""Execution option of a ``reading`` connection: SQLite starts a snapshot, not the write lock."""


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed when the block ends, rolled back on any exception."""
    with engine.begin() as connection:
        yield connection


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Connection]:
    """A write transaction that is always rolled back: the same decisions, nothing kept.

    For previews (a deadline watch asked about a moment in the future): the code path is the
    real one, so the preview cannot drift from what the watch would do.
    """
    with engine.connect() as connection, connection.begin() as outer:
        try:
            yield connection
        finally:
            outer.rollback()


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only connection: one snapshot of the database that never blocks a writer.

    For reports, views and lookups. Never write through it: on SQLite the write would have to
    upgrade the snapshot to the write lock late, and fails if another writer committed since.
    """
    with engine.connect() as connection:
        connection.execution_options(**{_READS_ONLY: True})
        if engine.dialect.name != "sqlite":
            yield connection
            return
        # SQLite enforces it: a write through a reader fails at once, in every test, instead
        # of only when a concurrent writer happens to commit first.
        connection.exec_driver_sql("PRAGMA query_only = ON")
        try:
            yield connection
        finally:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA query_only = OFF")  # the pooled connection writes
            connection.commit()
