"""A declarative base per package (each owns its tables and metadata), built the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import DateTime, MetaData

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


# Every timestamp column is timezone-aware.
TYPE_ANNOTATION_MAP: dict[Any, Any] = {datetime: DateTime(timezone=True)}


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
