"""Engine and sessions. The caller of a domain function owns the transaction (one per request or message)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from core.events import AppendListener, listening
from hub.settings import ROOT

# Execution option of the read-only sessions' engine (``make_read_sessionmaker``).
READ_ONLY = "balcao_read_only"


def make_engine(url: str) -> AsyncEngine:
    """Create the engine; SQLite gets WAL and a busy timeout so concurrent writers wait, not fail."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI types
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # We emit BEGIN ourselves (below): the driver's lazy BEGIN breaks savepoints.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn) -> None:  # noqa: ANN001 - a SQLAlchemy Connection handed in by the event
            # A deferred transaction that read a row and then writes it fails with "database is
            # locked" when another writer committed in between; IMMEDIATE makes writers queue
            # (busy_timeout) so a compare-and-set loser sees the winner's row, as on PostgreSQL.
            # Read-only sessions (``make_read_sessionmaker``) begin deferred: under WAL a reader
            # takes no lock, so a long read never keeps a writer waiting.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    # No pool_pre_ping: with asyncpg it broke connections under 50 concurrent agents here
    # ("another operation is in progress", bench/handoff.py); stale connections are recycled instead,
    # and one the server closed (pg_terminate_backend, a restart) is replaced when it is checked out.
    engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)
    event.listen(engine.sync_engine, "checkout", _closed_by_the_server)
    return engine


def _closed_by_the_server(dbapi_conn, _record, _proxy) -> None:  # noqa: ANN001 - DBAPI types handed in by the event
    """Refuse a pooled connection the server has already closed, without a round trip: asyncpg
    learns of the close as soon as the event loop reads it, and the pool then opens a fresh one
    (a cut of every connection costs customers nothing)."""
    inner = getattr(dbapi_conn, "_connection", None)  # SQLAlchemy's adapter around asyncpg's Connection
    if inner is not None and inner.is_closed():
        raise DisconnectionError("the database closed this connection")


def make_sessionmaker(engine: AsyncEngine, *, listeners: Sequence[AppendListener] = ()) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (events are built from them). Every
    row handoff appends reaches ``listeners`` in the same transaction (the app passes insights'
    ``note_appended``, which keeps the KPI summaries)."""
    return async_sessionmaker(engine, expire_on_commit=False, info=listening(*listeners))


def make_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads only (the index load, searches, reports, who is logged in): on SQLite
    their transactions begin deferred, so they never hold the write lock that every other
    transaction begins with; nothing they write is ever committed. On PostgreSQL they are
    ordinary sessions."""
    return async_sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit when the block ends, roll back on error."""
    async with sessions() as session, session.begin():
        yield session


def run_migrations(url: str) -> None:
    """Bring the database schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "hub" / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "heads")  # packages may add migrations in parallel branches
