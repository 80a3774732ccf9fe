"""handoff: team hours and assignment, agent status and capacity, private notes, canned responses

Revision ID: 0501
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0501"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shortcut", sa.String(length=40), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
        sa.UniqueConstraint("shortcut", "lang", name="uq_canned_responses_shortcut_lang"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("internal", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=60), nullable=False, server_default="America/Sao_Paulo"))
        batch_op.add_column(sa.Column("hours", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("holidays", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("sla_seconds", sa.Integer(), nullable=False, server_default="60"))
        batch_op.add_column(sa.Column("sla_target", sa.Float(), nullable=False, server_default="0.8"))
        batch_op.add_column(sa.Column("assignment", sa.String(length=10), nullable=False, server_default="pick"))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=10), nullable=False, server_default="offline"))
        batch_op.add_column(sa.Column("capacity", sa.Integer(), nullable=False, server_default="3"))
        batch_op.add_column(sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_assigned_at")
        batch_op.drop_column("capacity")
        batch_op.drop_column("status")

    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("assignment")
        batch_op.drop_column("sla_target")
        batch_op.drop_column("sla_seconds")
        batch_op.drop_column("holidays")
        batch_op.drop_column("hours")
        batch_op.drop_column("timezone")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("internal")

    op.drop_table("canned_responses")
