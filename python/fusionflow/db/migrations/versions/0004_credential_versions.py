"""credential versions: a password change ends the sessions and API tokens made before it

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("users", "api_tokens"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("credential_version", sa.Integer(), nullable=False, server_default="0")
            )


def downgrade() -> None:
    for table in ("api_tokens", "users"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("credential_version")
