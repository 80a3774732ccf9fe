"""The few SQL expressions that SQLite and PostgreSQL spell differently, as SQLAlchemy constructs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
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


class hour_bucket(FunctionElement):  # noqa: N801
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
