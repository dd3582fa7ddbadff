"""The Web Push endpoint rule (spec/protocol.md "Second round": Web Push) and
`settings.push_services` (spec/workspace.md), as pure functions."""

from __future__ import annotations

import base64

import pytest
from livechat.domain.errors import BadRequest
from livechat.domain.push import (
    DEFAULT_PUSH_SERVICES,
    check_endpoint,
    check_subscription,
    endpoint_hash,
    host_matches,
    pattern_problem,
)
from livechat.domain.workspace import WorkspaceSettings
from livechat.domain.workspace_document import workspace_problems

P256DH = base64.urlsafe_b64encode(b"\x04" + bytes(range(64))).decode().rstrip("=")
AUTH = base64.urlsafe_b64encode(bytes(16)).decode().rstrip("=")
pytestmark = pytest.mark.unit

FCM = "https://fcm.googleapis.com/fcm/send/abc:def"


def refused(endpoint: str, *, loopback: bool = False) -> str:
    with pytest.raises(BadRequest) as exc:
        check_endpoint(endpoint, DEFAULT_PUSH_SERVICES, allow_loopback=loopback)
    assert exc.value.message.startswith("subscription.endpoint:"), exc.value.message
    return exc.value.message


@pytest.mark.parametrize("endpoint", [
    FCM,
    "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
    "https://web.push.apple.com/QOk",
    "https://a.notify.windows.com/w/?token=x",
    "https://FCM.GoogleAPIs.com/fcm/send/x",
    "https://DB5P.Notify.Windows.COM/w/",
])
def test_endpoints_on_the_default_services_are_accepted(endpoint: str) -> None:
    check_endpoint(endpoint, DEFAULT_PUSH_SERVICES)


@pytest.mark.parametrize("endpoint", [
    "https://evil.example.com/x",
    "https://fcm.googleapis.com.evil.example/x",
    "https://a.b.notify.windows.com/w/",  # `*` is exactly one label
    "https://notify.windows.com/w/",
    "https://user@fcm.googleapis.com/x",
    "ftp://fcm.googleapis.com/x",
    "fcm.googleapis.com/x",
    "https:///x",
    "https://fcm.googleapis.com:notaport/x",
])
def test_other_endpoints_are_refused_naming_the_field(endpoint: str) -> None:
    refused(endpoint)


def test_an_endpoint_over_1024_characters_is_refused() -> None:
    assert "1024" in refused(FCM + "a" * (1025 - len(FCM)))
    check_endpoint(FCM + "a" * (1024 - len(FCM)), DEFAULT_PUSH_SERVICES)
    refused("https://fcm.googleapis.com/" + "x" * 10_000)


def test_http_is_refused_unless_loopback_is_allowed_and_then_only_127_0_0_1_with_a_port() -> None:
    assert "https" in refused("http://127.0.0.1:9/x")
    check_endpoint("http://127.0.0.1:9/x", (), allow_loopback=True)
    refused("http://localhost:9/x", loopback=True)
    refused("http://127.0.0.2:9/x", loopback=True)
    refused("http://127.0.0.1/x", loopback=True)
    refused("http://fcm.googleapis.com/x", loopback=True)


def test_host_patterns() -> None:
    assert host_matches("a.notify.windows.com", "*.notify.windows.com")
    assert host_matches("A.NOTIFY.windows.com", "*.Notify.Windows.com")
    assert not host_matches("a.b.notify.windows.com", "*.notify.windows.com")
    assert not host_matches("notify.windows.com", "*.notify.windows.com")
    assert host_matches("web.push.apple.com", "web.push.apple.com")
    assert not host_matches("xweb.push.apple.com", "web.push.apple.com")


def test_keys_must_be_a_p256_point_and_a_16_byte_secret() -> None:
    check_subscription(FCM, P256DH, AUTH, DEFAULT_PUSH_SERVICES)
    check_subscription(FCM, P256DH + "=", AUTH + "==", DEFAULT_PUSH_SERVICES)  # padded is fine
    compressed = base64.urlsafe_b64encode(b"\x02" + bytes(64)).decode()
    short = base64.urlsafe_b64encode(b"\x04" + bytes(32)).decode()
    for p256dh, auth, field in [
        (compressed, AUTH, "p256dh"), (short, AUTH, "p256dh"), ("not base64!", AUTH, "p256dh"),
        (P256DH, base64.urlsafe_b64encode(bytes(15)).decode(), "auth"),
        (P256DH, "a+b/", "auth"), (P256DH, "", "auth"),
    ]:
        with pytest.raises(BadRequest) as exc:
            check_subscription(FCM, p256dh, auth, DEFAULT_PUSH_SERVICES)
        assert exc.value.message.startswith(f"subscription.keys.{field}:"), exc.value.message


def test_the_endpoint_is_checked_before_the_keys() -> None:
    with pytest.raises(BadRequest, match=r"^subscription\.endpoint:"):
        check_subscription("https://evil.example/x", "", "", DEFAULT_PUSH_SERVICES)


def test_endpoint_hash_is_fixed_length_hex() -> None:
    assert len(endpoint_hash(FCM)) == 64 and endpoint_hash(FCM) != endpoint_hash(FCM + "x")


def test_push_services_default_to_the_four_browser_services() -> None:
    assert WorkspaceSettings().push_services == list(DEFAULT_PUSH_SERVICES)


@pytest.mark.parametrize("pattern", [
    "example.com", "*.notify.windows.com", "push.example.co.uk", "x-1.example.com"])
def test_a_push_service_is_a_dns_name_with_at_most_a_leading_star(pattern: str) -> None:
    assert pattern_problem(pattern) is None


@pytest.mark.parametrize("pattern", [
    "*", "localhost", "a.*.example.com", "*a.example.com", "example.*", "**.example.com",
    "https://fcm.googleapis.com", "fcm.googleapis.com/x", "-a.example.com", "a..example.com",
    "127.0.0.1:9", "127.0.0.1", "*.0.0.1", ""])
def test_a_bad_push_service_is_refused_with_its_path(pattern: str) -> None:
    problems = workspace_problems(
        {"settings": {"push_services": ["fcm.googleapis.com", pattern]}})
    assert len(problems) == 1 and problems[0].startswith("settings.push_services[1]: "), problems
