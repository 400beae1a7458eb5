"""Notifications outside the app: e-mail and webhooks when a job ends, retried and recorded.

``finish_job`` records the deliveries a notification calls for in the same transaction as
the notification (``plan_deliveries``); a ``Notifier`` thread in every executor sends
those that are due. So a delivery survives a crash of the process that finished the job,
is retried with backoff, and a failing receiver never touches the job itself.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import smtplib
import socket
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select, update

from fusionflow.config import Settings
from fusionflow.db import Database, Delivery, DeliveryStatus, Job, Notification, utcnow
from fusionflow.errors import one_line
from fusionflow.observability import DELIVERIES

log = logging.getLogger(__name__)

EMAIL = r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$"
# A claimed delivery is someone's for this long; after that (a crash mid-send) it is due.
LEASE = timedelta(seconds=120)
TIMEOUT_S = 10.0


class NotifyPrefs(BaseModel):
    """Where to send word of a job's end: a user's settings, or a job's override (whose
    fields, where given, replace the user's)."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, pattern=EMAIL, max_length=254)
    webhook_url: str | None = Field(
        None, max_length=2000, description="Receives Slack-compatible JSON ({'text': ...})."
    )
    min_duration_s: float = Field(
        0, ge=0, description="Only for jobs that ran at least this long (in-app: always)."
    )

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            if not value.isprintable():
                raise ValueError("must not hold control characters")
            parsed = urlparse(value)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError("must be an http:// or https:// URL")
        return value


def plan_deliveries(
    user_settings: dict[str, Any], job_notify: dict[str, Any], duration_s: float | None
) -> list[Delivery]:
    """The deliveries a job's end calls for (not yet sent)."""
    try:
        prefs = NotifyPrefs.model_validate({**user_settings.get("notify", {}), **job_notify})
    except ValidationError:
        log.warning("notification settings are not valid; nothing sent")
        return []
    if (duration_s or 0.0) < prefs.min_duration_s:
        return []
    found = []
    if prefs.email:
        found.append(Delivery(channel="email", target=prefs.email))
    if prefs.webhook_url:
        found.append(Delivery(channel="webhook", target=prefs.webhook_url))
    return found


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    payload: dict[str, Any]


def compose(notification: Notification, job: Job | None, public_url: str | None) -> Message:
    """The words of a notification, for people (e-mail) and programs (webhook JSON)."""
    lines = [notification.message]
    details: dict[str, Any] = {"event": notification.kind, "job_id": notification.job_id}
    if job is not None:
        duration = (
            (job.finished_at - job.started_at).total_seconds()
            if job.finished_at and job.started_at
            else None
        )
        details |= {
            "name": job.name,
            "pipeline": job.pipeline,
            "status": job.status,
            "error": job.error,
            "files": job.files_done,
            "bytes": job.bytes_done,
            "duration_s": duration,
        }
        lines.append(
            f"{job.files_done} files, {job.bytes_done} bytes"
            + (f", {duration:.1f} s" if duration is not None else "")
        )
        if public_url:
            lines.append(f"{public_url.rstrip('/')}/?job={job.id}")
    text = "\n".join(lines)
    return Message(
        # One line: a job's name could hold CR/LF, which no mail server accepts in a header.
        subject=" ".join(f"FusionFlow: {notification.message}".split())[:200],
        text=text,
        payload={"text": text, "fusionflow": details},
    )


class Deliverer:
    """Sends due deliveries: claims each under a DB guard, sends, records the outcome."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def send_due(self, limit: int = 20) -> int:
        """Send up to ``limit`` due deliveries; returns how many were tried."""
        now = utcnow()
        with self.db.reading() as session:
            due = session.scalars(
                select(Delivery.id)
                .where(
                    Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.SENDING)),
                    Delivery.next_attempt_at <= now,
                )
                .order_by(Delivery.next_attempt_at)
                .limit(limit)
            ).all()
        tried = 0
        for delivery_id in due:
            claimed = self._claim(delivery_id)
            if claimed is None:
                continue
            tried += 1
            channel, target, message = claimed
            try:
                self._send(channel, target, message)
            except Exception as e:  # noqa: BLE001 (any failure is recorded and retried)
                self._record(delivery_id, channel, error=one_line(e))
            else:
                self._record(delivery_id, channel, error=None)
        return tried

    def _claim(self, delivery_id: int) -> tuple[str, str, Message] | None:
        now = utcnow()
        with self.db.session() as session:
            taken = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.SENDING)),
                    Delivery.next_attempt_at <= now,
                )
                .values(
                    status=DeliveryStatus.SENDING,
                    attempts=Delivery.attempts + 1,
                    next_attempt_at=now + LEASE,
                )
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None  # another notifier got it
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            notification = delivery.notification
            job = session.get(Job, notification.job_id) if notification.job_id else None
            message = compose(notification, job, self.settings.public_url)
            return delivery.channel, delivery.target, message

    def _send(self, channel: str, target: str, message: Message) -> None:
        if channel == "email":
            send_email(self.settings, target, message)
        else:
            post_webhook(target, message.payload, allow_private=self.settings.webhook_allow_private)

    def _record(self, delivery_id: int, channel: str, error: str | None) -> None:
        now = utcnow()
        with self.db.session() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:
                return  # the job (and its notification) was deleted meanwhile
            delivery.last_error = error
            if error is None:
                delivery.status, delivery.sent_at = DeliveryStatus.SENT, now
            elif delivery.attempts >= self.settings.notify_max_attempts:
                delivery.status = DeliveryStatus.FAILED
            else:
                delivery.status = DeliveryStatus.PENDING
                wait = self.settings.notify_backoff_s * 2 ** (delivery.attempts - 1)
                delivery.next_attempt_at = now + timedelta(seconds=wait)
            outcome = delivery.status
        if error:
            log.warning("%s delivery %s failed: %s", channel, delivery_id, error)
        DELIVERIES.labels(channel, outcome).inc()


def send_email(settings: Settings, to: str, message: Message) -> None:
    if not settings.smtp_host:
        raise RuntimeError("no SMTP server is configured (FUSIONFLOW_SMTP_HOST)")
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = settings.smtp_from
    email["To"] = to
    email.set_content(message.text)
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.smtp_security == "ssl":
        smtp = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S)
    with smtp:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(email)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead to an address the check below refused.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post_webhook(url: str, payload: dict[str, Any], *, allow_private: bool) -> None:
    """POST the JSON; any status but 2xx is an error."""
    if not allow_private:
        _refuse_private(url)
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "FusionFlow"},
        method="POST",
    )
    try:
        with _opener.open(request, timeout=TIMEOUT_S) as response:
            status = response.status
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"webhook answered {e.code}") from None
    if not 200 <= status < 300:
        raise RuntimeError(f"webhook answered {status}")


def _refuse_private(url: str) -> None:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    for *_, address in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global:
            raise RuntimeError(
                f"webhook host {host} is a private address ({ip}); "
                "set FUSIONFLOW_WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )


class Notifier:
    """A thread sending due deliveries every ``interval`` seconds until ``stop`` is set."""

    def __init__(self, db: Database, settings: Settings, stop: threading.Event, interval: float):
        self.deliverer = Deliverer(db, settings)
        self._stop = stop
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="fusionflow-notifier", daemon=True)

    def start(self) -> Notifier:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.deliverer.send_due()
            except Exception:  # the notifier must outlive a failed round (DB restarting)
                log.exception("sending notifications failed")
