"""student latency per trial

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kd_trials") as batch:
        batch.add_column(sa.Column("student_latency_ms", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("kd_trials") as batch:
        batch.drop_column("student_latency_ms")
