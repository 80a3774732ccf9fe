"""connectors: when an outbox row was first handed to a worker, so that a retry after an answer
that never came (a timeout, a killed replica) can ask the platform whether it took the message

Revision ID: 1070
Revises: 1060
Create Date: 2026-12-07 15:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "1070"
down_revision = "1060"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("first_attempt_at")
