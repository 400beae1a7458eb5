"""grants: users read only the locations granted to them or their groups

Upgrading keeps a working deployment working: where users exist, the group ``all-users``
is made, every user joins it, and it is granted each of the allowed roots (which every
user could read before). The README says how to tighten that.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVERYONE = "all-users"


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "user_id"),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_user_id"), ["user_id"], unique=False)
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("granted_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="one_grantee"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grants_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grants_user_id"), ["user_id"], unique=False)
    _grant_what_users_could_read()


def _grant_what_users_could_read() -> None:
    from fusionflow.access import canonical_location
    from fusionflow.db.models import utcnow

    bind = op.get_bind()
    if bind.execute(sa.text("SELECT id FROM users LIMIT 1")).first() is None:
        return  # a new installation: deny by default
    now = utcnow()
    groups = sa.table("groups", sa.column("id"), sa.column("name"), sa.column("created_at"))
    bind.execute(groups.insert().values(name=EVERYONE, created_at=now))
    group_id = bind.execute(
        sa.select(groups.c.id).where(groups.c.name == EVERYONE)
    ).scalar_one()  # (not RETURNING: SQLite has it only from 3.35)
    bind.execute(
        sa.text("INSERT INTO group_members (group_id, user_id) SELECT :group, id FROM users"),
        {"group": group_id},
    )
    grants = sa.table(
        "grants",
        sa.column("location"),
        sa.column("group_id"),
        sa.column("granted_by"),
        sa.column("created_at"),
    )
    for root in _allowed_roots():
        location = canonical_location(root)
        bind.execute(
            grants.insert().values(
                location=location, group_id=group_id, granted_by="upgrade", created_at=now
            )
        )


def _allowed_roots() -> list[str]:
    """The roots of the server being upgraded: as given to fusionflow.db.migrate, or
    else the environment's."""
    from fusionflow.config import Settings

    config = op.get_context().config
    given = config.attributes.get("allowed_roots") if config is not None else None
    return [os.fspath(root) for root in (given if given is not None else Settings().allowed_roots)]


def downgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_user_id"))
        batch_op.drop_index(batch_op.f("ix_grants_group_id"))
    op.drop_table("grants")
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_members_user_id"))
    op.drop_table("group_members")
    op.drop_table("groups")
