"""The caller's notifications (a job of theirs completed, failed or was cancelled)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fusionflow.api.services import API_PREFIX, CurrentUser, Id, ServicesDep
from fusionflow.notifications import NotificationInfo, NotificationPage

router = APIRouter(prefix=f"{API_PREFIX}/notifications", tags=["notifications"])


@router.get("", response_model=NotificationPage)
def list_notifications(
    user: CurrentUser,
    services: ServicesDep,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> NotificationPage:
    """The newest first, with the number unread (for a badge)."""
    return services.notifications.list(user.id, unread_only=unread, limit=limit)


@router.post("/read-all", response_model=dict[str, int])
def read_all(user: CurrentUser, services: ServicesDep) -> dict[str, int]:
    return {"marked": services.notifications.mark_all_read(user.id)}


@router.post("/{notification_id}/read", response_model=NotificationInfo)
def read(notification_id: Id, user: CurrentUser, services: ServicesDep) -> NotificationInfo:
    return services.notifications.mark_read(user.id, notification_id)
