"""A fresh database per test, on SQLite and on the machine's PostgreSQL, migrated with Alembic."""

from __future__ import annotations

from tests.handoff.conftest import sessions  # noqa: F401 - the same fixture, for kb_index's tables
