"""connectors: who a customer is — the shop's signed identity of a widget customer, and the
person that links one customer's records on several channels (channel_customers)

Revision ID: 1020
Revises: 1030
Create Date: 2026-12-07 11:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "1020"
down_revision = "1030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel_customers") as batch:
        batch.add_column(sa.Column("external_id", sa.String(120), nullable=True))
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(40), nullable=True))
        batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("person_id", sa.String(36), nullable=True))
    op.create_index("ix_channel_customers_person_id", "channel_customers", ["person_id"])
    op.create_index("ix_channel_customers_email", "channel_customers", ["email"])
    op.create_index("ix_channel_customers_phone", "channel_customers", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_channel_customers_phone", "channel_customers")
    op.drop_index("ix_channel_customers_email", "channel_customers")
    op.drop_index("ix_channel_customers_person_id", "channel_customers")
    with op.batch_alter_table("channel_customers") as batch:
        for column in ("person_id", "verified_at", "phone", "email", "external_id"):
            batch.drop_column(column)
