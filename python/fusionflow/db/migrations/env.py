"""Alembic environment: migrate the URL given in the config (set by fusionflow.db.migrate)."""

from alembic import context

from fusionflow.db.engine import make_engine
from fusionflow.db.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url is set by fusionflow.db.migrate"

engine = make_engine(url)
with engine.connect() as connection:
    # Batch mode lets later migrations ALTER tables on SQLite too.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
