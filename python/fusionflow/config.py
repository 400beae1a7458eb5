"""FusionFlow's settings: one pydantic-settings class, read from the environment.

Every setting can also come from a file named by ``<NAME>_FILE`` (a secret mounted by
Kubernetes or Docker), e.g. ``DATABASE_URL_FILE=/run/secrets/db-url``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


def default_data_dir() -> Path:
    """The platform's per-user data directory (XDG on Linux)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "fusionflow"


def split_roots(value: str) -> list[str]:
    """``FUSIONFLOW_ALLOWED_ROOTS`` as a list: split at colons, except the one of a URL
    scheme (``s3://bucket/logs:/srv/data`` is two roots)."""
    parts: list[str] = []
    for part in value.split(os.pathsep):
        if parts and parts[-1] in ("s3", "file") and part.startswith("//"):
            parts[-1] += os.pathsep + part
        else:
            parts.append(part)
    return [part for part in parts if part]


def _env(name: str, *more: str) -> Any:
    return Field(None, validation_alias=AliasChoices(name, *more))


class Settings(BaseSettings):
    """Everything configurable. Environment variable names are given as aliases."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default_factory=default_data_dir, validation_alias="FUSIONFLOW_DATA_DIR")
    database_url: str | None = _env("DATABASE_URL", "FUSIONFLOW_DATABASE_URL")
    redis_url: str | None = _env("REDIS_URL", "FUSIONFLOW_REDIS_URL")
    # Passwords apart from the URLs, so that a mounted secret holds just the password
    # (DATABASE_PASSWORD_FILE, REDIS_PASSWORD_FILE); used when the URL carries none.
    database_password: str | None = _env("DATABASE_PASSWORD", "FUSIONFLOW_DATABASE_PASSWORD")
    redis_password: str | None = _env("REDIS_PASSWORD", "FUSIONFLOW_REDIS_PASSWORD")
    storage_url: str | None = _env("FUSIONFLOW_STORAGE_URL")
    # The ceiling of what users can be granted (and admins read): server folders and
    # ``s3://`` prefixes, colon-separated like PATH (``s3://`` kept whole; not JSON).
    allowed_roots: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="FUSIONFLOW_ALLOWED_ROOTS"
    )
    secret_key: str | None = _env("FUSIONFLOW_SECRET_KEY")
    admin_password: str | None = _env("FUSIONFLOW_ADMIN_PASSWORD")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")

    # S3 / MinIO
    s3_endpoint_url: str | None = _env("S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    aws_access_key_id: str | None = _env("AWS_ACCESS_KEY_ID")
    aws_secret_access_key: str | None = _env("AWS_SECRET_ACCESS_KEY")
    aws_session_token: str | None = _env("AWS_SESSION_TOKEN")
    aws_region: str | None = _env("AWS_REGION", "AWS_DEFAULT_REGION")
    s3_sse: Literal["AES256", "aws:kms"] = Field("AES256", validation_alias="FUSIONFLOW_S3_SSE")
    s3_sse_kms_key_id: str | None = _env("FUSIONFLOW_S3_SSE_KMS_KEY_ID")
    # Retries of one S3 request inside the client, before the shard-level retries.
    s3_max_retries: int = Field(3, ge=0, validation_alias="FUSIONFLOW_S3_MAX_RETRIES")

    # Planning: a shard closes when either limit is reached.
    shard_bytes: int = Field(256 << 20, ge=1, validation_alias="FUSIONFLOW_SHARD_BYTES")
    shard_files: int = Field(5000, ge=1, validation_alias="FUSIONFLOW_SHARD_FILES")
    # Threads inside one shard's Rust pool (0: one per core).
    shard_threads: int = Field(0, ge=0, validation_alias="FUSIONFLOW_SHARD_THREADS")
    # Shards the local executor runs at once. One: each shard already uses every core.
    local_concurrency: int = Field(1, ge=1, validation_alias="FUSIONFLOW_LOCAL_CONCURRENCY")
    # A running shard whose heartbeat is older than this is presumed lost with its worker.
    shard_lost_after_s: float = Field(10.0, gt=0, validation_alias="FUSIONFLOW_SHARD_LOST_AFTER")
    # Redis redelivers an unacknowledged task after this; above the longest shard.
    visibility_timeout_s: int = Field(
        6 * 3600, ge=60, validation_alias="FUSIONFLOW_VISIBILITY_TIMEOUT"
    )
    # Transient failures (storage, database, broker out of reach) are tried this many times
    # in all, waiting from retry_backoff_s, doubled each time, up to retry_backoff_max_s
    # (retry.py): 90 s of an outage waited out with the defaults, and a step goes on
    # at most 15 s after its service is back.
    max_attempts: int = Field(10, ge=1, validation_alias="FUSIONFLOW_MAX_ATTEMPTS")
    retry_backoff_s: float = Field(1.0, ge=0, validation_alias="FUSIONFLOW_RETRY_BACKOFF")
    retry_backoff_max_s: float = Field(15.0, ge=0, validation_alias="FUSIONFLOW_RETRY_BACKOFF_MAX")

    # The largest sizes a job may ask for in its parameters, which bound the memory, disk
    # and time one file may take; larger values are refused at submit, and defaults above
    # them are lowered to them.
    max_line_bytes_limit: int = Field(
        256 << 20, ge=1024, validation_alias="FUSIONFLOW_MAX_LINE_BYTES_LIMIT"
    )
    max_row_bytes_limit: int = Field(
        256 << 20, ge=1024, validation_alias="FUSIONFLOW_MAX_ROW_BYTES_LIMIT"
    )
    max_file_bytes_limit: int = Field(
        1 << 30, ge=1, validation_alias="FUSIONFLOW_MAX_FILE_BYTES_LIMIT"
    )
    max_pixels_limit: int = Field(250_000_000, ge=1, validation_alias="FUSIONFLOW_MAX_PIXELS_LIMIT")
    max_decompressed_bytes_limit: int = Field(
        16 << 30, ge=1, validation_alias="FUSIONFLOW_MAX_DECOMPRESSED_BYTES_LIMIT"
    )
    max_spill_bytes_limit: int = Field(
        8 << 30, ge=1, validation_alias="FUSIONFLOW_MAX_SPILL_BYTES_LIMIT"
    )

    # What one job may store: its inputs (each a path, URL or prefix) and its parameters.
    max_job_inputs: int = Field(1000, ge=1, validation_alias="FUSIONFLOW_MAX_JOB_INPUTS")
    max_params_bytes: int = Field(1 << 20, ge=1024, validation_alias="FUSIONFLOW_MAX_PARAMS_BYTES")

    # The REST API (fusionflow serve)
    host: str = Field("127.0.0.1", validation_alias="FUSIONFLOW_HOST")
    port: int = Field(8000, ge=1, le=65535, validation_alias="FUSIONFLOW_PORT")
    ssl_certfile: Path | None = _env("FUSIONFLOW_SSL_CERTFILE")
    ssl_keyfile: Path | None = _env("FUSIONFLOW_SSL_KEYFILE")
    # Lifetime of the access tokens that logins hand out.
    token_ttl_s: int = Field(8 * 3600, ge=60, validation_alias="FUSIONFLOW_TOKEN_TTL")
    # Failed logins allowed per user name and client within the window, and per user name
    # from any client; past them 429, one more attempt allowed per window / limit seconds.
    login_max_failures: int = Field(5, ge=1, validation_alias="FUSIONFLOW_LOGIN_MAX_FAILURES")
    login_name_max_failures: int = Field(
        50, ge=1, validation_alias="FUSIONFLOW_LOGIN_NAME_MAX_FAILURES"
    )
    login_window_s: float = Field(300.0, gt=0, validation_alias="FUSIONFLOW_LOGIN_WINDOW")
    # Password hashes (Argon2id, 64 MiB each, using up to 4 cores) computed at once per API
    # process; a login that finds the short queue for them full, or waits 5 s, is answered
    # 503 with Retry-After. Unset: half the cores (at least one), so that a login storm
    # leaves the other half to everyone already signed in.
    password_hashes: int | None = Field(
        None, ge=1, le=64, validation_alias="FUSIONFLOW_PASSWORD_HASHES"
    )
    # Largest file one upload may carry.
    upload_max_bytes: int = Field(10 << 30, ge=1, validation_alias="FUSIONFLOW_UPLOAD_MAX_BYTES")

    # Notifications by e-mail (no SMTP host: e-mail deliveries fail, recorded) and webhook
    smtp_host: str | None = _env("FUSIONFLOW_SMTP_HOST", "SMTP_HOST")
    smtp_port: int = Field(25, ge=1, le=65535, validation_alias="FUSIONFLOW_SMTP_PORT")
    smtp_username: str | None = _env("FUSIONFLOW_SMTP_USERNAME")
    smtp_password: str | None = _env("FUSIONFLOW_SMTP_PASSWORD")
    # "starttls" upgrades a plain connection (port 587), "ssl" is TLS from the start (465).
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        "none", validation_alias="FUSIONFLOW_SMTP_SECURITY"
    )
    smtp_from: str = Field("fusionflow@localhost", validation_alias="FUSIONFLOW_SMTP_FROM")
    # A failed delivery is tried again this many times in all, waiting backoff * 2^n.
    notify_max_attempts: int = Field(5, ge=1, validation_alias="FUSIONFLOW_NOTIFY_MAX_ATTEMPTS")
    notify_backoff_s: float = Field(5.0, ge=0, validation_alias="FUSIONFLOW_NOTIFY_BACKOFF")
    # How often each executor looks for deliveries that are due.
    notify_interval_s: float = Field(2.0, gt=0, validation_alias="FUSIONFLOW_NOTIFY_INTERVAL")
    # On SIGTERM, `serve` answers not ready and ends event streams, and serves on this
    # long before it stops (api/server.py).
    shutdown_drain_s: float = Field(2.0, ge=0, validation_alias="FUSIONFLOW_SHUTDOWN_DRAIN")
    # Webhooks to loopback, private and link-local addresses are refused unless allowed
    # (a user could otherwise make the server call its own network).
    webhook_allow_private: bool = Field(False, validation_alias="FUSIONFLOW_WEBHOOK_ALLOW_PRIVATE")
    # The UI's address, for links in messages (none: no links).
    public_url: str | None = _env("FUSIONFLOW_PUBLIC_URL")

    @field_validator("allowed_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        roots = split_roots(value) if isinstance(value, str) else [os.fspath(r) for r in value]
        for root in roots:
            if not (root.startswith(("s3://", "file://")) or Path(root).is_absolute()):
                raise ValueError(f"{root!r} is neither an absolute path nor an s3:// prefix")
        return roots

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileEnvSource(settings_cls))

    @property
    def database(self) -> str:
        """The SQLAlchemy URL: ``DATABASE_URL``, or a SQLite file in the data dir."""
        if self.database_url:
            return _with_password(normalize_database_url(self.database_url), self.database_password)
        return f"sqlite:///{self.data_dir / 'fusionflow.db'}"

    @property
    def hashes_at_once(self) -> int:
        """``password_hashes``, or half the cores this process may use."""
        return self.password_hashes or max(1, len(os.sched_getaffinity(0)) // 2)

    @property
    def broker(self) -> str | None:
        """The Redis URL (``REDIS_URL``, with ``REDIS_PASSWORD`` when it has none), or None."""
        if not self.redis_url:
            return None
        return _with_password(self.redis_url, self.redis_password)

    @property
    def storage(self) -> str:
        """Where uploads and results go: ``FUSIONFLOW_STORAGE_URL`` or ``<data dir>/storage``."""
        return self.storage_url or str(self.data_dir / "storage")


def normalize_database_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` (as Heroku and libpq write them) → psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _with_password(url: str, password: str | None) -> str:
    """``url`` with ``password`` in its authority, unless it has one already."""
    parts = urlsplit(url)
    if not password or parts.password is not None or parts.hostname is None:
        return url
    user = unquote(parts.username) if parts.username else ""
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    return urlunsplit(parts._replace(netloc=credentials + parts.netloc.rpartition("@")[2]))


class _FileEnvSource(EnvSettingsSource):
    """Reads ``<NAME>_FILE`` for every setting's environment name ``NAME``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for name in _env_names(field, field_name):
            path = os.environ.get(f"{name}_FILE")
            if path:
                return Path(path).read_text().strip(), field_name, False
        return None, field_name, False


def _env_names(field: FieldInfo, field_name: str) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [field_name.upper()]


def environment_names() -> set[str]:
    """Every environment variable ``Settings`` reads; each is also read as ``NAME_FILE``."""
    return {
        name
        for field_name, field in Settings.model_fields.items()
        for name in _env_names(field, field_name)
    }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once. Tests call ``get_settings.cache_clear()``."""
    return Settings()
