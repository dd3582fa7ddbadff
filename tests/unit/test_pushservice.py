"""tests/pushservice.py, the test's own push service, checked against a real sender
(pywebpush: RFC 8291 aes128gcm + RFC 8292 VAPID), so the contract tests can trust it."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from tests.pushservice import PushService, Subscription, b64url

pytestmark = pytest.mark.unit

CLAIMS = {"sub": "mailto:a@example.com"}


@pytest.fixture
def service() -> Iterator[PushService]:
    with PushService() as running:
        yield running


@pytest.fixture
def vapid() -> Any:
    key = Vapid02()
    key.generate_keys()
    return key


def public_key(vapid: Any) -> str:
    return b64url(vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))


def send(subscription: Subscription, data: str, vapid: Any) -> requests.Response:
    response: requests.Response = webpush(
        dict(subscription), data, vapid_private_key=vapid, vapid_claims=dict(CLAIMS),
        content_encoding="aes128gcm", headers={"Urgency": "high", "Topic": "abc"}, ttl=60,
        timeout=5)
    return response


def test_a_subscription_looks_like_a_browsers() -> None:
    with PushService() as service:
        sub = service.subscribe("alice")

    assert sub["endpoint"] == f"{service.origin}/push/alice"
    point = base64.urlsafe_b64decode(sub["keys"]["p256dh"] + "==")
    auth = base64.urlsafe_b64decode(sub["keys"]["auth"] + "==")
    assert len(point) == 65 and point[0] == 0x04 and len(auth) == 16
    assert "=" not in sub["keys"]["p256dh"] + sub["keys"]["auth"]


def test_a_pywebpush_send_is_decrypted_verified_and_clean(service: PushService,
                                                          vapid: Any) -> None:
    service.expected_vapid_key = public_key(vapid)
    sub = service.subscribe("alice")
    before = time.monotonic()

    response = send(sub, json.dumps({"type": "chatOffered", "offerId": "o1"}), vapid)

    assert response.status_code == 201
    (push,) = service.wait_for(1)
    assert push.problems == []
    assert push.payload == {"type": "chatOffered", "offerId": "o1"} and push.type == "chatOffered"
    assert push.endpoint == sub["endpoint"] and push.path == "/push/alice"
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.headers["URGENCY"] == "high" and push.headers["Topic"] == "abc"
    assert push.ttl == 60
    assert push.claims is not None
    assert push.claims["aud"] == service.origin and push.claims["sub"] == CLAIMS["sub"]
    assert time.time() < push.claims["exp"] <= time.time() + 24 * 3600
    assert push.vapid_key == public_key(vapid)
    assert before <= push.at <= time.monotonic()
    assert service.take("alice") is push


def test_a_wrong_vapid_key_and_missing_headers_are_recorded_not_fatal(service: PushService,
                                                                     vapid: Any) -> None:
    service.expected_vapid_key = "not-the-key"
    sub = service.subscribe()

    response = webpush(dict(sub), "hi", vapid_private_key=vapid, vapid_claims=dict(CLAIMS),
                       content_encoding="aes128gcm", timeout=5)

    assert response.status_code == 201
    (push,) = service.wait_for(lambda p: p.endpoint == sub["endpoint"])
    assert push.plaintext == b"hi" and push.payload is None
    assert any("expected" in problem for problem in push.problems)
    assert any(problem.startswith("Urgency") for problem in push.problems)
    assert any(problem.startswith("Topic") for problem in push.problems)


def test_an_endpoint_told_410_answers_410(service: PushService, vapid: Any) -> None:
    sub = service.subscribe("gone")
    service.respond("gone", 410)

    with pytest.raises(WebPushException) as raised:
        send(sub, "{}", vapid)

    assert raised.value.response.status_code == 410
    (push,) = service.pushes(sub)
    assert push.status == 410 and push.problems == []


def test_a_stalled_endpoint_answers_late(service: PushService, vapid: Any) -> None:
    sub = service.subscribe("slow")
    service.stall(sub, 0.5)

    started = time.monotonic()
    send(sub, "{}", vapid)

    assert time.monotonic() - started >= 0.5
    push = service.take(sub)
    assert push.at - started < 0.5  # recorded on arrival, not on answer


def test_an_asyncio_test_can_await_the_next_push(service: PushService, vapid: Any) -> None:
    sub = service.subscribe("bob")

    async def scenario() -> None:
        sending = asyncio.create_task(asyncio.to_thread(send, sub, '{"n": 1}', vapid))

        push = await service.next_push("bob", timeout=5)

        assert push.payload == {"n": 1}
        await sending
        with pytest.raises(TimeoutError):
            await service.next_push("bob", timeout=0.1)

    asyncio.run(scenario())
