"""Grants and groups, for admins: which locations users (or groups of them) may read.

Only admins see or change them: a user is never told what is granted, to them or to
anyone (a refused input's 403 names only that input).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from fusionflow.api.schemas import NewGrant, NewGroup
from fusionflow.api.services import API_PREFIX, MAX_ID, AdminUser, Id, ServicesDep
from fusionflow.grants import GrantInfo, GroupInfo

router = APIRouter(prefix=API_PREFIX, tags=["grants"])

GroupName = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/grants", response_model=list[GrantInfo])
def list_grants(
    _: AdminUser,
    services: ServicesDep,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    group: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> list[GrantInfo]:
    """Every grant, or those made to one user (directly) or one group."""
    return services.grants.find(user_id=user_id, group=group)


@router.post("/grants", response_model=GrantInfo, status_code=status.HTTP_201_CREATED)
def grant(body: NewGrant, admin: AdminUser, services: ServicesDep) -> GrantInfo:
    """Let a user, or a group's members, read a location and all under it (read-only).
    It must lie under FUSIONFLOW_ALLOWED_ROOTS (422 otherwise); granting it again returns
    the grant there is."""
    return services.grants.grant(
        body.location, user_id=body.user_id, group=body.group, granted_by=admin.username
    )


@router.delete("/grants/{grant_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke(grant_id: Id, _: AdminUser, services: ServicesDep) -> Response:
    """Take a grant back: the next submit is refused; jobs submitted before keep it."""
    services.grants.revoke(grant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/groups", response_model=list[GroupInfo])
def list_groups(_: AdminUser, services: ServicesDep) -> list[GroupInfo]:
    return services.grants.groups()


@router.post("/groups", response_model=GroupInfo, status_code=status.HTTP_201_CREATED)
def create_group(body: NewGroup, _: AdminUser, services: ServicesDep) -> GroupInfo:
    return services.grants.create_group(body.name)


@router.get("/groups/{name}", response_model=GroupInfo)
def get_group(name: GroupName, _: AdminUser, services: ServicesDep) -> GroupInfo:
    return services.grants.group(name)


@router.delete("/groups/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_group(name: GroupName, _: AdminUser, services: ServicesDep) -> Response:
    """Remove the group with its memberships and grants."""
    services.grants.delete_group(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/groups/{name}/members/{user_id}", response_model=GroupInfo)
def add_member(name: GroupName, user_id: Id, _: AdminUser, services: ServicesDep) -> GroupInfo:
    """Add a user to the group (nothing changes if they are in it)."""
    return services.grants.add_member(name, user_id)


@router.delete("/groups/{name}/members/{user_id}", response_model=GroupInfo)
def remove_member(name: GroupName, user_id: Id, _: AdminUser, services: ServicesDep) -> GroupInfo:
    """Take a user out of the group: from their next submit, its grants are not theirs."""
    return services.grants.remove_member(name, user_id)
