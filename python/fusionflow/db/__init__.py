"""The metadata database: SQLAlchemy 2 models, engines and Alembic migrations.

SQLite (a file in the data dir, WAL mode) unless ``DATABASE_URL`` names PostgreSQL.
"""

from __future__ import annotations

from fusionflow.db.engine import Database
from fusionflow.db.models import (
    ApiToken,
    Artifact,
    Base,
    Delivery,
    DeliveryStatus,
    Grant,
    Group,
    GroupMember,
    Job,
    JobStatus,
    Notification,
    Shard,
    ShardStatus,
    User,
    utcnow,
)

__all__ = [
    "ApiToken",
    "Artifact",
    "Base",
    "Database",
    "Delivery",
    "DeliveryStatus",
    "Grant",
    "Group",
    "GroupMember",
    "Job",
    "JobStatus",
    "Notification",
    "Shard",
    "ShardStatus",
    "User",
    "utcnow",
]
