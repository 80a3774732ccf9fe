"""Alembic environment: one schema for every package, on SQLite or PostgreSQL."""

import asyncio
from pathlib import Path

from alembic import context
from sqlalchemy import make_url, pool
from sqlalchemy.ext.asyncio import async_engine_from_config

from connectors.models import Base as ConnectorsBase
from handoff.models import Base as HandoffBase
from insights.models import Base as InsightsBase
from integrations.models import Base as IntegrationsBase
from kb_index.models import Base as KbBase

target_metadata = [
    HandoffBase.metadata,
    KbBase.metadata,
    InsightsBase.metadata,
    ConnectorsBase.metadata,
    IntegrationsBase.metadata,
]
config = context.config


def _configure(connection) -> None:  # noqa: ANN001 - the sync Connection run_sync hands in
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _create_sqlite_directory(url: str) -> None:
    """SQLite creates its file but not the folder it is in (``var/`` on a fresh clone)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


async def _run() -> None:
    _create_sqlite_directory(config.get_main_option("sqlalchemy.url") or "")
    engine = async_engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run())
