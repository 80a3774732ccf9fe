"""handoff: archived teams (teams.archived_at) and where their chats go since (teams.moved_to)

Revision ID: 0910
Revises: 0801
Create Date: 2026-12-07 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0910"
down_revision = "0801"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("teams") as batch_op:
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("moved_to", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch_op:
        batch_op.drop_column("moved_to")
        batch_op.drop_column("archived_at")
