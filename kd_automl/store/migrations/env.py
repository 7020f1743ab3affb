"""Alembic environment: run with the connection kd_automl.store hands over."""

from alembic import context

from kd_automl.store.db import VERSION_TABLE  # Optuna keeps its own alembic_version beside ours
from kd_automl.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  version_table=VERSION_TABLE, render_as_batch=True,
                  include_name=lambda name, type_, parent: type_ != "table"
                  or name.startswith("kd_"))
with context.begin_transaction():
    context.run_migrations()
