"""The few SQL expressions that SQLite and PostgreSQL spell differently, as SQLAlchemy constructs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class seconds_between(FunctionElement):  # noqa: N801 - used like a SQL function
    """``later - earlier`` in seconds (a float): ``seconds_between(earlier, later)``."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    earlier, later = list(element.clauses)
    return f"((julianday({compiler.process(later, **kw)}) - julianday({compiler.process(earlier, **kw)})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_pg(element: seconds_between, compiler: Any, **kw: Any) -> str:
    earlier, later = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)}))"


class hour_bucket(FunctionElement):  # noqa: N801 - used like a SQL function
    """The UTC hour of a timestamp: text ``'YYYY-MM-DD HH'`` on SQLite, a naive UTC timestamp on
    PostgreSQL (``date_trunc``, a third cheaper than ``to_char`` over a month of rows). Turned into
    local time in Python, so the heatmap and daily series are exact in any time zone without the
    database knowing it."""

    inherit_cache = True
    name = "hour_bucket"


@compiles(hour_bucket, "sqlite")
def _hour_sqlite(element: hour_bucket, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"strftime('%Y-%m-%d %H', {compiler.process(value, **kw)})"


@compiles(hour_bucket, "postgresql")
def _hour_pg(element: hour_bucket, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"date_trunc('hour', {compiler.process(value, **kw)} AT TIME ZONE 'UTC')"


class epoch_hour(FunctionElement):  # noqa: N801 - used like a SQL function
    """Whole hours from 1970-01-01 00:00 UTC to a timestamp (an integer; ``summaries.epoch_hour``
    in Python): the key of ``conversation_hours``."""

    type = Integer()
    inherit_cache = True
    name = "epoch_hour"


@compiles(epoch_hour, "sqlite")
def _epoch_hour_sqlite(element: epoch_hour, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"(CAST(strftime('%s', {compiler.process(value, **kw)}) AS INTEGER) / 3600)"


@compiles(epoch_hour, "postgresql")
def _epoch_hour_pg(element: epoch_hour, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"CAST(floor(date_part('epoch', {compiler.process(value, **kw)}) / 3600) AS INTEGER)"


def dialect_name(session: AsyncSession) -> str:
    """The name of the database the session talks to ("postgresql", "sqlite")."""
    return session.get_bind().dialect.name
