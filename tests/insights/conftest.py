"""The same fresh, migrated databases as the handoff tests: SQLite and the machine's PostgreSQL."""

from tests.handoff.conftest import sessions  # noqa: F401 - a fixture
