"""The notifications users get when their jobs end (recorded by the jobs layer)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from fusionflow.db import Database, Notification


class DeliveryInfo(BaseModel):
    """An e-mail or webhook sent for a notification, and how it went."""

    model_config = ConfigDict(from_attributes=True)

    channel: str
    target: str
    status: str  # pending | sending | sent | failed
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class NotificationInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: str | None
    kind: str
    message: str
    read: bool
    created_at: datetime
    deliveries: list[DeliveryInfo]


class NotificationPage(BaseModel):
    items: list[NotificationInfo]
    unread: int


class NotificationNotFound(LookupError):
    """The user has no notification with this id."""


class Notifications:
    """One user's notifications at a time: nobody reads another's."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, user_id: int, *, unread_only: bool = False, limit: int = 50) -> NotificationPage:
        """The newest first, and how many are unread in all."""
        mine = Notification.user_id == user_id
        query = select(Notification).where(mine)
        if unread_only:
            query = query.where(Notification.read.is_(False))
        with self.db.reading() as session:
            found = session.scalars(
                query.options(selectinload(Notification.deliveries))
                .order_by(Notification.created_at.desc(), Notification.id.desc())
                .limit(limit)
            )
            items = [NotificationInfo.model_validate(n) for n in found]
            unread = session.scalar(select(func.count()).where(mine, Notification.read.is_(False)))
        return NotificationPage(items=items, unread=unread or 0)

    def mark_read(self, user_id: int, notification_id: int) -> NotificationInfo:
        with self.db.session() as session:
            found = session.get(Notification, notification_id)
            if found is None or found.user_id != user_id:
                raise NotificationNotFound(f"no notification {notification_id}")
            found.read = True
            return NotificationInfo.model_validate(found)

    def mark_all_read(self, user_id: int) -> int:
        """Mark every notification of the user read; returns how many were unread."""
        with self.db.session() as session:
            done = session.execute(
                update(Notification)
                .where(Notification.user_id == user_id, Notification.read.is_(False))
                .values(read=True)
            )
            return int(done.rowcount)  # type: ignore[attr-defined]
