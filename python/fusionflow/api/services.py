"""What the routes work with: the domain services of one running API, and the
dependencies that authenticate the caller."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import OAuth2PasswordBearer

from fusionflow.accounts import TOKEN_PREFIX, Accounts, UserInfo
from fusionflow.api.security import AccessTokens, incarnation
from fusionflow.api.throttle import LoginThrottle
from fusionflow.api.watch import JobWatch
from fusionflow.config import Settings
from fusionflow.db import Database
from fusionflow.grants import Grants
from fusionflow.jobs import JobService
from fusionflow.notifications import Notifications
from fusionflow.uploads import Uploads


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    jobs: JobService
    accounts: Accounts
    notifications: Notifications
    uploads: Uploads
    grants: Grants
    tokens: AccessTokens
    throttle: LoginThrottle
    watch: JobWatch
    # Set when the process begins to shut down (api/server.py): not ready, streams end.
    stopping: threading.Event = field(default_factory=threading.Event)


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


API_PREFIX = "/api/v1"

# Row ids in paths: bounded as the databases' INTEGER is, so that a huge number is a 422
# instead of an overflow inside the driver.
MAX_ID = 2**31 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]

_bearer = OAuth2PasswordBearer(tokenUrl=f"{API_PREFIX}/auth/token", auto_error=False)

ServicesDep = Annotated[Services, Depends(get_services)]


def current_user(services: ServicesDep, token: Annotated[str | None, Depends(_bearer)]) -> UserInfo:
    """The caller, from a login's JWT or an API token; 401 otherwise. Looked up on every
    request, so disabling a user takes effect at once."""
    user = None
    if token and token.startswith(TOKEN_PREFIX):
        user = services.accounts.user_for_token(token)
    elif token:
        user = _user_of(services, services.tokens.claims(token))
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "not authenticated" if not token else "invalid or expired token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[UserInfo, Depends(current_user)]


def artifact_reader(
    services: ServicesDep,
    job_id: str,
    name: str,
    token: Annotated[str | None, Depends(_bearer)],
    link: Annotated[str | None, Query(description="A download link's token (no header).")] = None,
) -> UserInfo:
    """The caller of a download: the bearer token's user, or the user a link was made
    for (for this one file only, until it expires)."""
    if link is None:
        return current_user(services, token)
    user = _user_of(services, services.tokens.link_claims(link, f"{job_id}/{name}"))
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired link")
    return user


def _user_of(services: Services, claims: tuple[int, int, int] | None) -> UserInfo | None:
    """The active user a token's (id, incarnation, credential version) names; None for a
    token made for a deleted user whose id (SQLite reuses the highest) now names someone
    else, or made before the user's password last changed."""
    if claims is None:
        return None
    user_id, since, version = claims
    user = services.accounts.active_user(user_id)
    if user is None or since != incarnation(user.created_at):
        return None
    return user if version == user.credential_version else None


ArtifactReader = Annotated[UserInfo, Depends(artifact_reader)]


async def admin_user(user: CurrentUser) -> UserInfo:
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admins only")
    return user


AdminUser = Annotated[UserInfo, Depends(admin_user)]


def visible_to(user: UserInfo) -> int | None:
    """The owner filter for the user's view of jobs: none for admins."""
    return None if user.role == "admin" else user.id
