"""A fresh database per test, on SQLite and on the machine's PostgreSQL, migrated with Alembic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.db import make_engine, make_sessionmaker, run_migrations
from insights.summaries import note_appended

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'handoff.db'}"
        name = None
    else:
        name = f"balcao_test_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    await asyncio.to_thread(run_migrations, url)
    engine = make_engine(url)
    yield make_sessionmaker(engine, listeners=[note_appended])  # as the app: KPI summaries kept
    await engine.dispose()
    if name:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
