"""Notifications outside the app: e-mail and webhooks when a job ends, retried and recorded.

``finish_job`` records the deliveries a notification calls for in the same transaction as
the notification (``plan_deliveries``); a ``Notifier`` thread in every executor sends
those that are due. So a delivery survives a crash of the process that finished the job,
is retried with backoff, and a failing receiver never touches the job itself.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import logging
import re
import smtplib
import socket
import ssl
import threading
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
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
from fusionflow.retry import log_round_failure

log = logging.getLogger(__name__)

# A DNS name (letters, digits, '-', '_', '.'; IDNs as punycode) or an IP address (IPv6 bare,
# as urlparse gives it without its brackets).
_HOST = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?|[0-9A-Fa-f:.]+")
EMAIL = r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$"
# A claimed delivery is someone's for this long; after that (a crash mid-send) it is due.
LEASE = timedelta(seconds=120)
TIMEOUT_S = 10.0
# A webhook delivery, connecting to answering, ends within this.
WEBHOOK_DEADLINE_S = 15.0
# Deliveries sent at once by each executor's notifier: a slow receiver holds one of them.
SENDERS = 8


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
            if not value.isprintable() or any(c.isspace() for c in value):
                raise ValueError("must not hold spaces or control characters")
            parsed = urlparse(value)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError("must be an http:// or https:// URL")
            if not _HOST.fullmatch(parsed.hostname):
                raise ValueError(f"{parsed.hostname!r} is not a host name or address")
            _ = parsed.port  # a port that is not a number raises ValueError
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

    def __init__(self, db: Database, settings: Settings, senders: int = SENDERS) -> None:
        self.db = db
        self.settings = settings
        # Each delivery is sent on a thread of its own, so that a slow receiver holds up
        # no other; only as many are claimed as there are free senders.
        self._pool = ThreadPoolExecutor(senders, thread_name_prefix="fusionflow-delivery")
        self._free = threading.BoundedSemaphore(senders)

    def send_due(self, limit: int = 20, *, wait: bool = True) -> int:
        """Start sending up to ``limit`` due deliveries, as many as there are free
        senders; returns how many were started. ``wait``: until they are done."""
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
        started = []
        for delivery_id in due:
            if not self._free.acquire(blocking=False):
                break
            claimed = self._claim(delivery_id)
            if claimed is None:
                self._free.release()
                continue
            started.append(self._pool.submit(self._deliver, delivery_id, *claimed))
        if wait:
            futures.wait(started)
        return len(started)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _deliver(self, delivery_id: int, channel: str, target: str, message: Message) -> None:
        try:
            try:
                self._send(channel, target, message)
            except Exception as e:  # noqa: BLE001 (any failure is recorded and retried)
                self._record(delivery_id, channel, error=one_line(e))
            else:
                self._record(delivery_id, channel, error=None)
        except Exception as e:  # noqa: BLE001 (recording failed: the lease makes it due again)
            log_round_failure(log, f"recording delivery {delivery_id}", e)
        finally:
            self._free.release()

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


def post_webhook(url: str, payload: dict[str, Any], *, allow_private: bool) -> None:
    """POST the JSON to the address the host resolved to and was checked at (no second
    lookup for DNS rebinding to change); redirects are not followed (one could lead
    anywhere). Any status but 2xx is an error, and so is taking past the deadline."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    address = _address_of(host, port, allow_private=allow_private)
    conn: http.client.HTTPConnection
    if parsed.scheme == "https":
        conn = _PinnedHTTPS(host, port, address, ssl.create_default_context())
    else:
        conn = _PinnedHTTP(host, port, address)
    path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "FusionFlow"}
    # Timeouts apply per socket operation: a receiver trickling a byte at a time would
    # never trip them. The watchdog ends the whole exchange at the deadline.
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        conn.abort()

    watchdog = threading.Timer(WEBHOOK_DEADLINE_S, expire)
    watchdog.start()
    try:
        conn.request("POST", path, body=body, headers=headers)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as e:
        if expired.is_set():
            raise RuntimeError(f"webhook took longer than {WEBHOOK_DEADLINE_S:g} s") from None
        if isinstance(e, http.client.HTTPException):
            raise RuntimeError("webhook gave no valid HTTP answer") from None
        raise RuntimeError(f"webhook unreachable: {_reason(e)}") from None
    finally:
        watchdog.cancel()
        conn.close()
    if not 200 <= status < 300:
        raise RuntimeError(f"webhook answered {status}")


def _reason(error: OSError) -> str:
    # The errno's words only: never an address (it could be an internal one).
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    return error.strerror or type(error).__name__


def _address_of(host: str, port: int, *, allow_private: bool) -> str:
    """The one address to connect to: the host's first, after checking all of them."""
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        raise RuntimeError(f"webhook host {host} does not resolve") from None
    addresses = [str(info[4][0]) for info in found]
    if not allow_private and not all(is_public(ipaddress.ip_address(a)) for a in addresses):
        raise RuntimeError(
            f"webhook host {host} resolves to a private address; "
            "set FUSIONFLOW_WEBHOOK_ALLOW_PRIVATE=true to allow it"
        )
    return addresses[0]


# Prefixes that embed an IPv4 address in their last 32 bits (NAT64, RFC 6052 and 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``ip`` is a global address, and so is every IPv4 address it spells
    (IPv4-mapped, 6to4, Teredo, NAT64): ``2002:7f00:1::`` is 127.0.0.1 too."""
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return True
    embedded = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if any(ip in net for net in _NAT64):
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return all(v4.is_global for v4 in embedded if v4 is not None)


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to ``address`` while naming ``host`` (in the Host header)."""

    def __init__(self, host: str, port: int, address: str) -> None:
        super().__init__(host, port, timeout=TIMEOUT_S)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)

    def abort(self) -> None:
        """Ends the exchange from another thread: the blocked read or write returns."""
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _PinnedHTTPS(_PinnedHTTP):
    """Connects to ``address``; TLS checks the certificate against ``host``."""

    default_port = 443

    def __init__(self, host: str, port: int, address: str, context: ssl.SSLContext) -> None:
        super().__init__(host, port, address)
        self.context = context

    def connect(self) -> None:
        super().connect()
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host)


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
                self.deliverer.send_due(wait=False)
            except Exception as e:  # noqa: BLE001 (the notifier outlives a failed round)
                log_round_failure(log, "sending notifications", e)
        self.deliverer.close()
