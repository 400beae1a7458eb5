"""E-mail and webhook notifications when jobs end: a real SMTP server (aiosmtpd) and a real
HTTP receiver on loopback; retries, records, per-job overrides, and refusals."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fusionflow import delivery
from fusionflow.api import create_app
from fusionflow.config import Settings
from tests.api.conftest import (
    ADMIN_PASSWORD,
    PASSWORD,
    add_user,
    grant,
    login,
    submit_grep,
    wait_for,
)
from tests.servers import WebhookReceiver, smtp_server

NOTIFY = "/api/v1/me/notify"


@pytest.fixture
def smtp() -> Iterator[tuple[int, list]]:
    with smtp_server() as server:
        yield server


def make_client(api_settings: Settings, smtp_port: int | None, **more: Any) -> TestClient:
    settings = api_settings.model_copy(
        update={
            "smtp_host": "127.0.0.1" if smtp_port else None,
            "smtp_port": smtp_port or 25,
            "smtp_from": "fusionflow@example.org",
            "webhook_allow_private": True,  # the receiver is on loopback
            "notify_interval_s": 0.1,
            "notify_backoff_s": 0.05,
            "notify_max_attempts": 3,
            **more,
        }
    )
    return TestClient(create_app(settings))


def until(condition: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def deliveries(client: TestClient, headers: dict[str, str]) -> list[dict]:
    return client.get("/api/v1/notifications", headers=headers).json()["items"][0]["deliveries"]


def settled(client: TestClient, headers: dict[str, str]) -> list[dict] | None:
    found = deliveries(client, headers)
    return found if found and all(d["status"] in ("sent", "failed") for d in found) else None


def test_an_email_and_a_webhook_when_a_job_completes(
    api_settings: Settings, smtp: tuple[int, list], allowed: Path
) -> None:
    port, inbox = smtp
    with WebhookReceiver() as hook, make_client(api_settings, port) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        grant(client, admin, allowed, user_id=add_user(client, admin, "alice"))
        alice = login(client, "alice", PASSWORD)
        prefs = {"email": "alice@example.org", "webhook_url": hook.url, "min_duration_s": 0}
        assert client.put(NOTIFY, json=prefs, headers=alice).json() == prefs
        assert client.get(NOTIFY, headers=alice).json() == prefs
        job = submit_grep(client, alice, [str(allowed / "logs")])
        wait_for(client, job["id"], alice)
        sent = until(lambda: settled(client, alice))
    assert [(d["channel"], d["status"], d["attempts"]) for d in sent] == [
        ("email", "sent", 1),
        ("webhook", "sent", 1),
    ]
    (message,) = inbox
    assert message["To"] == "alice@example.org"
    assert message["From"] == "fusionflow@example.org"
    assert message["Subject"] == "FusionFlow: grep job grep logs completed"
    assert "2 files" in message.get_content()
    (body,) = hook.bodies
    assert body["text"].startswith("grep job grep logs completed")  # Slack shows `text`
    assert body["fusionflow"]["event"] == "job.completed"
    assert body["fusionflow"]["job_id"] == job["id"]
    assert body["fusionflow"]["files"] == 2


def test_a_job_name_with_line_breaks_still_gets_its_email(
    api_settings: Settings, smtp: tuple[int, list], allowed: Path
) -> None:
    port, inbox = smtp
    with make_client(api_settings, port) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        grant(client, admin, allowed, user_id=add_user(client, admin, "alice"))
        alice = login(client, "alice", PASSWORD)
        prefs = {"email": "alice@example.org", "min_duration_s": 0}
        client.put(NOTIFY, json=prefs, headers=alice)
        body = {
            "pipeline": "grep",
            "inputs": [str(allowed / "logs")],
            "params": {"patterns": ["ERROR"]},
            "name": "nightly\r\nBcc: someone@example.org",
        }
        job = client.post("/api/v1/jobs", json=body, headers=alice).json()
        wait_for(client, job["id"], alice)
        sent = until(lambda: settled(client, alice))
    assert [(d["channel"], d["status"]) for d in sent] == [
        ("email", "sent")
    ]  # failed for good before
    (message,) = inbox
    assert "\n" not in message["Subject"]
    assert message["Subject"].endswith("Bcc: someone@example.org completed")
    assert message["Bcc"] is None  # a header never smuggled in


def test_a_failing_webhook_is_retried_recorded_and_never_fails_the_job(
    api_settings: Settings, allowed: Path
) -> None:
    with (
        WebhookReceiver(failures=2) as flaky,
        WebhookReceiver(failures=100) as broken,
        make_client(api_settings, None) as client,
    ):
        admin = login(client, "admin", ADMIN_PASSWORD)
        client.put(NOTIFY, json={"webhook_url": flaky.url}, headers=admin)
        first = submit_grep(client, admin, [str(allowed / "logs")])
        assert wait_for(client, first["id"], admin)["status"] == "completed"
        (delivery,) = until(lambda: settled(client, admin))
        assert (delivery["status"], delivery["attempts"]) == ("sent", 3)
        assert len(flaky.bodies) == 1

        client.put(
            NOTIFY, json={"webhook_url": broken.url, "email": "a@example.org"}, headers=admin
        )
        second = submit_grep(client, admin, [str(allowed / "logs")])
        assert wait_for(client, second["id"], admin)["status"] == "completed"
        email, hook = until(lambda: settled(client, admin))
    assert (hook["status"], hook["attempts"], hook["last_error"]) == (
        "failed",
        3,
        "webhook answered 500",
    )
    assert email["status"] == "failed"  # no SMTP server configured: said, not hidden
    assert "FUSIONFLOW_SMTP_HOST" in email["last_error"]


def test_min_duration_and_per_job_overrides(
    api_settings: Settings, smtp: tuple[int, list], allowed: Path
) -> None:
    port, inbox = smtp
    with (
        WebhookReceiver() as mine,
        WebhookReceiver() as jobs_own,
        make_client(api_settings, port) as client,
    ):
        admin = login(client, "admin", ADMIN_PASSWORD)
        prefs = {"email": "ops@example.org", "webhook_url": mine.url, "min_duration_s": 3600}
        client.put(NOTIFY, json=prefs, headers=admin)
        quick = submit_grep(client, admin, [str(allowed / "logs")])
        wait_for(client, quick["id"], admin)
        time.sleep(0.5)
        assert deliveries(client, admin) == []  # shorter than an hour: in the app only
        body = {
            "pipeline": "grep",
            "inputs": [str(allowed / "logs")],
            "params": {"patterns": ["ERROR"]},
            "notify": {"webhook_url": jobs_own.url, "min_duration_s": 0},
        }
        job = client.post("/api/v1/jobs", json=body, headers=admin).json()
        wait_for(client, job["id"], admin)
        sent = until(lambda: settled(client, admin))
    # The job's webhook replaced the user's; the user's e-mail still applies.
    assert sorted((d["channel"], d["target"]) for d in sent) == [
        ("email", "ops@example.org"),
        ("webhook", jobs_own.url),
    ]
    assert mine.bodies == []
    assert len(jobs_own.bodies) == 1
    assert len(inbox) == 1


def test_webhooks_to_private_addresses_are_refused_by_default(
    api_settings: Settings, allowed: Path
) -> None:
    with (
        WebhookReceiver() as hook,
        make_client(api_settings, None, webhook_allow_private=False) as client,
    ):
        admin = login(client, "admin", ADMIN_PASSWORD)
        by_name = hook.url.replace("127.0.0.1", "localhost")
        client.put(NOTIFY, json={"webhook_url": by_name}, headers=admin)
        job = submit_grep(client, admin, [str(allowed / "logs")])
        wait_for(client, job["id"], admin)
        (delivery,) = until(lambda: settled(client, admin))
    assert delivery["status"] == "failed"
    assert "webhook host localhost resolves to a private address" in delivery["last_error"]
    assert "127.0.0.1" not in delivery["last_error"]  # no internal address in messages
    assert hook.bodies == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),  # cloud metadata
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b:1::a00:1", False),  # local-use NAT64
        ("fd00::1", False),
    ],
)
def test_private_addresses_in_every_spelling_are_refused(address: str, public: bool) -> None:
    assert delivery.is_public(ipaddress.ip_address(address)) is public


def test_a_webhook_connects_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: a second lookup would answer an internal address. There is none."""
    lookups: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.example.org":  # an address: no DNS involved
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        target = "127.0.0.1" if len(lookups) == 1 else "192.0.2.1"  # then unroutable
        return real(target, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with WebhookReceiver() as hook:
        port = hook.url.split(":")[2].split("/")[0]
        delivery.post_webhook(
            f"http://hooks.example.org:{port}/x", {"text": "hi"}, allow_private=True
        )
    assert lookups == ["hooks.example.org"]
    assert hook.bodies == [{"text": "hi"}]


def test_a_trickling_receiver_meets_a_deadline_and_holds_up_no_other_delivery(
    api_settings: Settings, allowed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "WEBHOOK_DEADLINE_S", 2.0)
    with (
        WebhookReceiver(trickle=True) as slow,
        WebhookReceiver() as fast,
        make_client(api_settings, None, notify_max_attempts=1) as client,
    ):
        admin = login(client, "admin", ADMIN_PASSWORD)
        for url in (slow.url, fast.url):
            body = {
                "pipeline": "grep",
                "inputs": [str(allowed / "logs")],
                "params": {"patterns": ["ERROR"]},
                "notify": {"webhook_url": url},
            }
            job = client.post("/api/v1/jobs", json=body, headers=admin).json()
            wait_for(client, job["id"], admin)
        started = time.monotonic()
        until(lambda: fast.bodies and slow.bodies)
        fast_after = time.monotonic() - started

        def by_target() -> dict[str, dict] | None:
            items = client.get("/api/v1/notifications", headers=admin).json()["items"]
            found = {d["target"]: d for n in items for d in n["deliveries"]}
            done = len(found) == 2 and all(
                d["status"] in ("sent", "failed") for d in found.values()
            )
            return found if done else None

        settled_deliveries = until(by_target)
        slow_after = time.monotonic() - started
    assert fast_after < 1.5, "the fast receiver waited for the slow one"
    assert settled_deliveries[fast.url]["status"] == "sent"
    failed = settled_deliveries[slow.url]
    assert (failed["status"], failed["last_error"]) == ("failed", "webhook took longer than 2 s")
    assert slow_after < 6, "the deadline holds for the whole exchange, not each read"


def test_bad_notification_settings_are_422(client: TestClient, alice: dict[str, str]) -> None:
    for prefs in (
        {"email": "not-an-address"},
        {"webhook_url": "ftp://example.org/hook"},
        {"webhook_url": "http:///nohost"},
        {"webhook_url": "http://a b/"},
        {"webhook_url": "http://example.org:port/"},
        {"min_duration_s": -1},
        {"sms": "+1555"},
    ):
        assert client.put(NOTIFY, json=prefs, headers=alice).status_code == 422, prefs
    body = {
        "pipeline": "grep",
        "inputs": ["/x"],
        "params": {"patterns": ["x"]},
        "notify": {"email": "nope"},
    }
    assert client.post("/api/v1/jobs", json=body, headers=alice).status_code == 422
