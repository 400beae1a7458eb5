"""Alembic environment: migrate the URL given in the config (set by fusionflow.db.migrate)."""

from alembic import context
from sqlalchemy import text

from fusionflow.db.engine import make_engine
from fusionflow.db.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url is set by fusionflow.db.migrate"

# Workers and servers all migrate at start; on PostgreSQL one at a time.
MIGRATION_LOCK = 0x46464C4F57  # "FFLOW"

engine = make_engine(url)
with engine.connect() as connection:
    # Batch mode lets later migrations ALTER tables on SQLite too.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()
engine.dispose()
