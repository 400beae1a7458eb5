"""Request and response bodies of the REST API (domain snapshots are reused as they are)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from fusionflow.accounts import TokenInfo
from fusionflow.delivery import NotifyPrefs


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError("date out of range") from None


# A date-time as the database stores it: UTC (naive ones are taken as UTC).
Timestamp = Annotated[datetime, AfterValidator(_in_utc)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class NewApiToken(Body):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="Never expires when left out."
    )


class CreatedApiToken(TokenInfo):
    token: str = Field(description="The secret; shown only in this response.")


class PasswordChange(Body):
    current_password: str
    new_password: str


class NewUser(Body):
    username: str = Field(min_length=1, max_length=100)
    password: str
    role: Literal["user", "admin"] = "user"


class UserChange(Body):
    role: Literal["user", "admin"] | None = None
    active: bool | None = None
    password: str | None = None


class NewGrant(Body):
    location: str = Field(
        min_length=1,
        max_length=4096,
        description="A server folder or s3:// prefix under FUSIONFLOW_ALLOWED_ROOTS.",
    )
    user_id: int | None = Field(None, ge=1, le=2**31 - 1, description="Grant it to this user…")
    group: str | None = Field(None, min_length=1, max_length=64, description="…or to a group.")


class NewGroup(Body):
    name: str = Field(min_length=1, max_length=64)


class PipelineInfo(BaseModel):
    name: str
    description: str
    params_schema: dict[str, Any]


class NewJob(Body):
    pipeline: str
    inputs: list[str] = Field(
        min_length=1,
        description="Upload URLs, s3:// prefixes, or server paths under the allowed roots "
        "(at most FUSIONFLOW_MAX_JOB_INPUTS).",
    )
    params: dict[str, Any] = Field(default_factory=dict)
    name: str = Field("", max_length=200)
    notify: NotifyPrefs | None = Field(
        None, description="E-mail/webhook for this job: the fields given replace the user's."
    )


class Artifact(BaseModel):
    name: str
    size: int
    content_type: str
    created_at: datetime
    download_url: str


class LinkRequest(Body):
    name: str = Field(min_length=1, max_length=1000, description="The output's name.")


class DownloadLink(BaseModel):
    url: str = Field(description="Relative to the API's address; works without a token.")
    expires_in: int = Field(description="Seconds the link works.")


class Problem(BaseModel):
    """Every error: ``{"detail": ...}``."""

    detail: Any


class Check(BaseModel):
    ok: bool
    error: str | None = None


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check]
