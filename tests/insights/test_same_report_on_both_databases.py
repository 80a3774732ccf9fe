"""Whatever the desk's history, a supervisor sees the same dashboard on SQLite and on PostgreSQL —
though PostgreSQL computes some of it differently (occupancy and load in SQL, hours by
``date_trunc``, the 90th percentiles by ``percentile_cont``) and SQLite in Python."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.db import run_migrations
from tests.insights.test_kpi_invariants import conversation, report_on

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
async def both(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, str]]:
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('both') / 'insights.db'}"
    name = f"balcao_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    pg_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        for url in (sqlite_url, pg_url):
            await asyncio.to_thread(run_migrations, url)
        yield sqlite_url, pg_url
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def comparable(value):
    """Floats rounded (the databases add up in different orders); tables in key order (ties in
    their size may come back in either order)."""
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [comparable(v) for v in value]
        if items and isinstance(items[0], dict):
            return sorted(items, key=repr)
        return items
    return value


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(conversations=st.lists(conversation, max_size=25))
async def test_the_dashboard_is_the_same_on_sqlite_and_postgresql(conversations: list[dict], both: tuple[str, str]) -> None:
    sqlite_url, pg_url = both
    on_sqlite = await report_on(sqlite_url, conversations)
    on_postgres = await report_on(pg_url, conversations)
    assert comparable(on_postgres.model_dump()) == comparable(on_sqlite.model_dump())
