"""Before a hub starts: can it reach its database and its Redis? If not, say which, and where."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from sqlalchemy import text

from hub.db import make_engine
from hub.operations import CommandError
from hub.settings import Settings

REACH_TIMEOUT_S = 5.0


def _where(url: str) -> str:
    """``host:port/db`` of a URL, without its user or password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port}{parts.path}" if parts.port else f"{host}{parts.path}"


async def _reach_database(settings: Settings) -> str | None:
    """None when the database answers a query, else why not."""
    if settings.is_sqlite:
        return None  # a file: the migrations create it
    engine = make_engine(settings.database_url)
    try:
        async with asyncio.timeout(REACH_TIMEOUT_S), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect is reported, with its reason
        return (
            f"cannot reach the database at {_where(settings.database_url)} (BALCAO_DATABASE_URL): "
            f"{type(exc).__name__}: {exc or 'no answer'}"
        )
    finally:
        await engine.dispose()
    return None


async def _reach_redis(settings: Settings) -> str | None:
    """None when there is no Redis to reach or it answers PING, else why not."""
    if not settings.redis_url:
        return None
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis_url, socket_connect_timeout=REACH_TIMEOUT_S, socket_timeout=REACH_TIMEOUT_S)
    try:
        await client.ping()
    except Exception as exc:  # any failure to connect is reported, with its reason
        return f"cannot reach Redis at {_where(settings.redis_url)} (BALCAO_REDIS_URL): {type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return None


async def unreachable(settings: Settings) -> list[str]:
    """What of the hub's database and Redis cannot be reached (empty when both answer)."""
    found = await asyncio.gather(_reach_database(settings), _reach_redis(settings))
    return [problem for problem in found if problem]


def check_services(settings: Settings) -> None:
    """Raise ``CommandError`` naming each of the database and Redis that does not answer."""
    problems = asyncio.run(unreachable(settings))
    if problems:
        raise CommandError("the hub cannot start: " + "; ".join(problems))
