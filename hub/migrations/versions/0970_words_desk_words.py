"""handoff: the company's words set on /admin/settings (desk_words: one row per setting)

Revision ID: 0970
Revises: 0980
Create Date: 2026-12-07 09:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0970"
down_revision = "0980"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_words",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("desk_words")
