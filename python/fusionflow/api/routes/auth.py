"""Logging in, the caller's own account, and their API tokens."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from fusionflow.accounts import TokenInfo, UserInfo
from fusionflow.api.schemas import (
    AccessToken,
    CreatedApiToken,
    NewApiToken,
    PasswordChange,
    Problem,
)
from fusionflow.api.services import API_PREFIX, CurrentUser, Id, Services, ServicesDep
from fusionflow.db import utcnow
from fusionflow.delivery import NotifyPrefs

router = APIRouter(prefix=API_PREFIX, tags=["auth"])

THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"model": Problem, "description": "Too many failed attempts; see Retry-After."}
}


@router.post(
    "/auth/token",
    response_model=AccessToken,
    responses=THROTTLED,
)
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    services: ServicesDep,
) -> AccessToken:
    """OAuth2 password flow: a user name and password for an expiring bearer token.
    Repeated failures for a name are slowed down (429 with Retry-After)."""
    user = _check_password(request, services, form.username, form.password)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "incorrect user name or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return AccessToken(
        access_token=services.tokens.issue(user.id, user.created_at, user.credential_version),
        expires_in=services.tokens.ttl_s,
    )


def _check_password(
    request: Request, services: Services, username: str, password: str
) -> UserInfo | None:
    """The user if the password is theirs; failures are rate-limited per name and client
    and per name (429); 503 when too many password checks are running."""
    client = request.client.host if request.client else "-"
    wait = services.throttle.wait(username, client)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed attempts; try again later",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    user = services.accounts.authenticate(username, password)
    if user is None:
        services.throttle.failed(username, client)
    else:
        services.throttle.succeeded(username, client)
    return user


@router.get("/me", response_model=UserInfo)
def me(user: CurrentUser) -> UserInfo:
    """The caller's account."""
    return user


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, responses=THROTTLED)
def change_password(
    request: Request, body: PasswordChange, user: CurrentUser, services: ServicesDep
) -> Response:
    """Change one's own password (the current one is asked again)."""
    if _check_password(request, services, user.username, body.current_password) is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the current password is not correct")
    services.accounts.update(user.id, password=body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me/notify", response_model=NotifyPrefs)
def notify_settings(user: CurrentUser, services: ServicesDep) -> NotifyPrefs:
    """Where word of the caller's finished jobs goes besides the app: e-mail, webhook."""
    return NotifyPrefs.model_validate(services.accounts.notify_prefs(user.id))


@router.put("/me/notify", response_model=NotifyPrefs)
def set_notify_settings(body: NotifyPrefs, user: CurrentUser, services: ServicesDep) -> NotifyPrefs:
    """Replace the caller's notification settings (leave a field out to turn it off)."""
    services.accounts.set_notify_prefs(user.id, body.model_dump(exclude_none=True))
    return body


@router.get("/tokens", response_model=list[TokenInfo])
def list_tokens(user: CurrentUser, services: ServicesDep) -> list[TokenInfo]:
    """The caller's API tokens (never their secrets)."""
    return services.accounts.list_tokens(user.id)


@router.post("/tokens", response_model=CreatedApiToken, status_code=status.HTTP_201_CREATED)
def create_token(body: NewApiToken, user: CurrentUser, services: ServicesDep) -> CreatedApiToken:
    """A long-lived token for scripts: send it as ``Authorization: Bearer <token>``.
    The secret is in this response only."""
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    info, secret = services.accounts.create_token(user.id, body.name, expires)
    return CreatedApiToken(**info.model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: Id, user: CurrentUser, services: ServicesDep) -> Response:
    """Revoke one of the caller's tokens; it stops working at once."""
    services.accounts.revoke_token(user.id, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
