"""handoff: a per-team time within which a claimed chat must be answered (teams.claim_answer_seconds)

Revision ID: 0980
Revises: 0950
Create Date: 2026-12-07 09:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0980"
down_revision = "0950"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("teams") as batch_op:
        batch_op.add_column(sa.Column("claim_answer_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch_op:
        batch_op.drop_column("claim_answer_seconds")
