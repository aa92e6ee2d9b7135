"""The SQLAlchemy instance and the one way services open a write transaction.

SQLite: connections run in WAL mode and every write transaction starts with
BEGIN IMMEDIATE, so two writers queue instead of failing with "database is locked"
when a read transaction tries to upgrade. Writers queue in short steps of their own
(`_begin_immediate_when_free`), not on SQLite's busy handler: that one sleeps in
steps growing to 100 ms, and under steady contention a writer that keeps waking
into a taken lock waited over a second while the lock was held for about 10 ms at
a time (checkout p99 ten times its p50 with 4 web workers).
PostgreSQL: services use conditional updates and row locks (FOR UPDATE).
"""
from __future__ import annotations

import contextvars
import sqlite3
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import make_transient_to_detached

# Stable constraint names, so Alembic migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))

_begin_immediate: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "oms_begin_immediate", default=False
)
SQLITE_BUSY_TIMEOUT_MS = 30_000
# A writer waiting for the write lock tries again after 0.1 ms, doubling up to this.
SQLITE_WRITE_RETRY_MAX_SECONDS = 0.001


def configure_engine(engine: Engine) -> None:
    """Install the SQLite pragmas and BEGIN handling on one engine (idempotent)."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_oms_configured", False):
        return
    engine._oms_configured = True  # type: ignore[attr-defined]

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event emit BEGIN, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if _begin_immediate.get():
            _begin_immediate_when_free(connection.connection.dbapi_connection)
        else:
            connection.exec_driver_sql("BEGIN")


def _begin_immediate_when_free(dbapi_connection) -> None:
    """BEGIN IMMEDIATE, retried every millisecond or less while another connection
    writes, for up to the busy timeout (then "database is locked", as before)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")  # fail at once when taken: this loop does the waiting
    try:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        pause = 0.0001
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # also BUSY_RECOVERY etc.
                if not busy or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, SQLITE_WRITE_RETRY_MAX_SECONDS)
    finally:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")  # for every other statement
        cursor.close()


class Transaction:
    """Handle given to a write block: queue work for after a successful commit."""

    def __init__(self) -> None:
        self._after_commit: list[Callable[[], None]] = []
        self.session = None  # the Session this write block runs in

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after_commit.append(fn)


# The write block running in this thread / context, so that a nested one joins it.
_current: contextvars.ContextVar[Transaction | None] = contextvars.ContextVar(
    "oms_write_transaction", default=None
)


@contextmanager
def write_transaction(*, keep_loaded: bool = False) -> Iterator[Transaction]:
    """One atomic write: commits on success, rolls back on any exception.

    `keep_loaded`: objects keep their values after the commit instead of being
    reloaded on next access (one round trip less for a service that returns what it
    just wrote). Only for blocks that change no loaded row behind the ORM's back
    without expiring it.

    Callbacks queued with `after_commit` (plugin event hooks, outbox kicks) run only
    once the commit has succeeded, so a plugin never sees a change that was undone.

    A write block inside another one (a host app calling a service within its own
    write) joins the outer transaction through a SAVEPOINT: its failure undoes only
    its own work, and nothing is committed, nor are callbacks run, before the outer
    block commits.
    """
    session = db.session()  # the request/thread-local Session behind the scoped proxy
    outer = _current.get()
    if outer is not None and outer.session is session and session.in_transaction():
        inner = Transaction()
        inner.session = session
        with session.begin_nested():
            yield inner
        outer._after_commit.extend(inner._after_commit)
        return
    if session.in_transaction():
        # End the read transaction the request may have opened, so that this write
        # starts with BEGIN IMMEDIATE on SQLite.
        session.commit()
    tx = Transaction()
    tx.session = session
    token = _begin_immediate.set(True)
    current_token = _current.set(tx)
    expire_on_commit = session.expire_on_commit
    session.expire_on_commit = not keep_loaded
    try:
        with session.begin():
            yield tx
    finally:
        session.expire_on_commit = expire_on_commit
        _current.reset(current_token)
        _begin_immediate.reset(token)
    for callback in tx._after_commit:
        callback()


@contextmanager
def read_connection() -> Iterator:
    """A connection for a few read-only statements outside the request's session. On
    PostgreSQL it runs in autocommit, saving the BEGIN and ROLLBACK round trips."""
    connection = db.engine.connect()
    try:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection
    finally:
        connection.close()


def execute_core(statement, parameters=None):
    """Run a Core statement (built once, at import) on the session's connection, in
    its transaction, without the Session's ORM execution layer: for hot paths such as
    the checkout. Nothing is autoflushed: pending ORM objects are not written first."""
    return db.session.connection().execute(statement, parameters)


def as_loaded(model, written: dict):
    """The ORM object of a row this transaction has just INSERTed with Core, in the
    session as if read back, without the SELECT: `written` holds the values the
    INSERT wrote (CursorResult.last_inserted_params(), defaults applied) and the id.
    A column left out was written NULL; one with a server default loads on first use."""
    mapper = inspect(model)
    # Made as the ORM's loader makes an object of a row it read: without __init__ and
    # its attribute events (a tenth of the cost), the values straight in its state.
    instance = mapper.class_manager.new_instance()
    for key, column in mapper.columns.items():
        if column.key in written:
            instance.__dict__[key] = written[column.key]
        elif column.server_default is None:
            instance.__dict__[key] = None
    make_transient_to_detached(instance)  # what it holds is what the database holds
    db.session.add(instance)
    return instance


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"
