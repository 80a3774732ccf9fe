"""handoff: who set an agent's status (the agent, or presence), so presence can undo its own "away"

Revision ID: 0502
Revises: 0501
Create Date: 2026-11-25 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0502"
down_revision = "0501"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("status_by", sa.String(length=10), server_default="agent", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("status_by")
