"""indexes for two reads that grew with the tables under sustained load: the outbox worker's unsent
rows in order (a partial index: a plain index scan skips the rows sent since, a bitmap scan over
the status index visited every dead version) and a team's recent hand-overs, newest first (read
at every queue refresh; it scanned the whole ownership event log)

Revision ID: 1080
Revises: 1070
Create Date: 2026-12-07 22:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "1080"
down_revision = "1070"
branch_labels = None
depends_on = None

UNSENT = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_index("ix_outbox_unsent", "outbox", ["id"], postgresql_where=UNSENT, sqlite_where=UNSENT)
    op.create_index("ix_ownership_events_team", "ownership_events", ["team_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_ownership_events_team", table_name="ownership_events")
    op.drop_index("ix_outbox_unsent", table_name="outbox")
