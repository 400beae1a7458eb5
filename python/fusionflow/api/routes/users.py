"""User management, for admins."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from fusionflow.accounts import UserInfo
from fusionflow.api.schemas import NewUser, UserChange
from fusionflow.api.services import API_PREFIX, AdminUser, Id, ServicesDep

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"])


@router.get("", response_model=list[UserInfo])
def list_users(_: AdminUser, services: ServicesDep) -> list[UserInfo]:
    return services.accounts.list()


@router.post("", response_model=UserInfo, status_code=status.HTTP_201_CREATED)
def create_user(body: NewUser, _: AdminUser, services: ServicesDep) -> UserInfo:
    return services.accounts.create(body.username, body.password, body.role)


@router.get("/{user_id}", response_model=UserInfo)
def get_user(user_id: Id, _: AdminUser, services: ServicesDep) -> UserInfo:
    return services.accounts.get_by_id(user_id)


@router.patch("/{user_id}", response_model=UserInfo)
def update_user(user_id: Id, body: UserChange, admin: AdminUser, services: ServicesDep) -> UserInfo:
    """Change a user's role, enable or disable them, or set a new password."""
    if user_id == admin.id and (body.role == "user" or body.active is False):
        raise HTTPException(status.HTTP_409_CONFLICT, "admins cannot demote or disable themselves")
    return services.accounts.update(
        user_id, role=body.role, active=body.active, password=body.password
    )


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(user_id: Id, admin: AdminUser, services: ServicesDep) -> Response:
    """Remove a user with their tokens, notifications and uploads; their jobs are kept."""
    if user_id == admin.id:
        raise HTTPException(status.HTTP_409_CONFLICT, "admins cannot delete themselves")
    services.accounts.delete(user_id)
    services.uploads.delete_all(user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
