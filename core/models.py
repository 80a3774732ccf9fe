"""A declarative base per package (each owns its tables and metadata), built the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy import DateTime, MetaData, func, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.ext.asyncio import AsyncSession

# Explicit constraint names, so migrations can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Aware UTC now; every timestamp in the database is UTC."""
    return datetime.now(UTC)


async def database_now(session: AsyncSession) -> datetime:
    """The database's clock (PostgreSQL's ``now()``, the transaction's start): the one clock every
    hub replica shares, for times replicas compare with each other's (leases, due times), so a
    replica whose own clock drifted neither takes another's work early nor holds its own back.
    On SQLite (one process) this process's clock."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        moment = await session.scalar(select(func.now()))
        if isinstance(moment, datetime):
            return aware(moment)
    return utcnow()


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp column that is given its instants in UTC.

    SQLite keeps a timestamp as text and SQLAlchemy writes an aware datetime's wall clock there,
    dropping its offset: a bound such as São Paulo's local midnight would be compared as if it were
    UTC midnight, three hours off, and a local day's filter would miss its evening. Converting every
    bound value to UTC makes a moment compare as the same instant on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """An aware moment as UTC; a naive one is taken as UTC already (as every stored time is)."""
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value


# Every timestamp column is timezone-aware and bound in UTC.
TYPE_ANNOTATION_MAP: dict[Any, Any] = {datetime: UTCDateTime()}


def package_metadata() -> MetaData:
    """A new MetaData with the shared naming convention, one per package.

    A package declares its base as a class statement, so the type checker sees its models::

        class Base(DeclarativeBase):
            metadata = package_metadata()
            type_annotation_map = TYPE_ANNOTATION_MAP
    """
    return MetaData(naming_convention=NAMING_CONVENTION)


@overload
def aware(moment: datetime | str) -> datetime: ...


@overload
def aware(moment: None) -> None: ...


def aware(moment: datetime | str | None) -> datetime | None:
    """A stored time as an aware UTC datetime: SQLite gives naive datetimes back (and text from
    expressions), and every time we store is UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached right now (its connections were cut, it
    refuses new ones, the network is down, or no pooled connection came free), as opposed to a bug
    or a refused change: what a caller tells a person as "try again shortly", and what it may retry."""
    if isinstance(exc, (OSError, PoolTimeout)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)):
            return True
        # asyncpg's refusals at connect time ("... is not currently accepting connections",
        # "the database system is starting up") arrive as plain DBAPIErrors.
        return "connection" in str(exc.orig).lower()
    return False
