"""Web Push subscriptions (spec/protocol.md "Second round": Web Push): which endpoints an
agent may register, as pure functions.

An endpoint is `https://`, at most 1,024 characters, on a host that one pattern of
`settings.push_services` names (case-insensitive; `*` stands for exactly one DNS label).
The local stack may also allow `http://127.0.0.1:PORT/...` (its own test push services);
a deployment never does. The keys are base64url: p256dh an uncompressed P-256 point (65
bytes, 0x04 first), auth 16 bytes. Anything else is a BadRequest naming the field, so no one
can make the deployment send requests to an address of their choosing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from livechat.domain.errors import BadRequest

MAX_ENDPOINT_CHARS = 1024
DEFAULT_PUSH_SERVICES = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "web.push.apple.com",
    "*.notify.windows.com",
)
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")
LOOPBACK_HOST = "127.0.0.1"


def pattern_problem(pattern: str) -> str | None:
    """Why a `push_services` entry is not a DNS name (with `*` only as a whole first
    label), or None when it is one."""
    labels = pattern.lower().split(".")
    if len(pattern) > 253 or len(labels) < 2:
        return f"{pattern!r} is not a DNS name with at least two labels"
    rest = labels[1:] if labels[0] == "*" else labels
    for label in rest:
        if not _LABEL.match(label):
            if "*" in label:
                return f"{pattern!r}: '*' may only be the whole first label"
            return f"{pattern!r}: {label!r} is not a DNS label"
    if labels[-1].isdigit():
        return f"{pattern!r} is an address, not a DNS name"  # RFC 3696: no all-numeric TLD
    return None


def host_matches(host: str, pattern: str) -> bool:
    """A host against one pattern, case-insensitively; `*` is exactly one label."""
    host_labels = host.lower().split(".")
    pattern_labels = pattern.lower().split(".")
    if len(host_labels) != len(pattern_labels):
        return False
    return all(p == h or (p == "*" and i == 0 and bool(_LABEL.match(h)))
               for i, (p, h) in enumerate(zip(pattern_labels, host_labels, strict=True)))


def check_endpoint(endpoint: str, services: Iterable[str], *, allow_loopback: bool = False,
                   field: str = "subscription.endpoint") -> None:
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        raise BadRequest(f"{field}: longer than {MAX_ENDPOINT_CHARS} characters")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        raise BadRequest(f"{field}: not a URL") from None
    if parts.username is not None or parts.password is not None or not host:
        raise BadRequest(f"{field}: not an https:// URL with a host")
    if parts.scheme == "http":
        if allow_loopback and host == LOOPBACK_HOST and port is not None:
            return
        raise BadRequest(f"{field}: must be https://")
    if parts.scheme != "https":
        raise BadRequest(f"{field}: must be https://")
    if not any(host_matches(host, pattern) for pattern in services):
        raise BadRequest(f"{field}: host {host[:64]!r} is not one of settings.push_services")


def _decoded(value: str, field: str) -> bytes:
    if not _BASE64URL.match(value):
        raise BadRequest(f"{field}: not base64url")
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise BadRequest(f"{field}: not base64url") from None


def check_keys(p256dh: str, auth: str) -> None:
    point = _decoded(p256dh, "subscription.keys.p256dh")
    if len(point) != 65 or point[0] != 0x04:
        raise BadRequest("subscription.keys.p256dh: not an uncompressed P-256 point (65 bytes, 0x04 first)")
    if len(_decoded(auth, "subscription.keys.auth")) != 16:
        raise BadRequest("subscription.keys.auth: not 16 bytes")


def check_subscription(endpoint: str, p256dh: str, auth: str, services: Iterable[str], *,
                       allow_loopback: bool = False) -> None:
    """The whole subscribePush rule: BadRequest naming the first field that breaks it."""
    check_endpoint(endpoint, services, allow_loopback=allow_loopback)
    check_keys(p256dh, auth)


def endpoint_hash(endpoint: str) -> str:
    """The key an endpoint is stored under (hex SHA-256: fixed length, any endpoint)."""
    return hashlib.sha256(endpoint.encode("utf-8")).hexdigest()
