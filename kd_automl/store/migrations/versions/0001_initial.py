"""initial schema: experiments, trials, per-epoch metrics

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kd_experiments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("backend", sa.String(20), nullable=False),
        sa.Column("study_name", sa.String(200)),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("teacher", sa.String(200)),
        sa.Column("student", sa.String(200), nullable=False),
        sa.Column("method", sa.String(100), nullable=False),
        sa.Column("objective_metric", sa.String(50), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("name", "backend", name="uq_kd_experiments_name_backend"),
    )
    op.create_table(
        "kd_trials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("experiment_id", sa.Integer,
                  sa.ForeignKey("kd_experiments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("backend_trial_id", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("method", sa.String(100)),
        sa.Column("student_val_acc", sa.Float),
        sa.Column("student_test_acc", sa.Float),
        sa.Column("teacher_test_acc", sa.Float),
        sa.Column("gap", sa.Float),
        sa.Column("student_params", sa.Integer),
        sa.Column("student_flops", sa.Integer),
        sa.Column("teacher_params", sa.Integer),
        sa.Column("wall_time_s", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.UniqueConstraint("experiment_id", "backend_trial_id", name="uq_kd_trials_backend_id"),
    )
    op.create_index("ix_kd_trials_experiment_state", "kd_trials", ["experiment_id", "state"])
    op.create_table(
        "kd_epoch_metrics",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("kd_trials.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Float),
    )
    op.create_index("ix_kd_epoch_metrics_trial", "kd_epoch_metrics", ["trial_id", "epoch"])


def downgrade() -> None:
    op.drop_table("kd_epoch_metrics")
    op.drop_table("kd_trials")
    op.drop_table("kd_experiments")
