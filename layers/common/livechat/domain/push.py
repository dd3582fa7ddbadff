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
import json
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any
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


# --- sending (protocol.md, second round: "An offer goes to each live connection ... and,
# when the agent has no live connection, to each push subscription") -------------------

MAX_PAYLOAD_BYTES = 3000  # push services need accept only 4,096 (RFC 8291 §4 after overhead)
TOPIC_CHARS = 32  # RFC 8030 §5.4: at most 32 base64url characters
ELLIPSIS = "…"
# What the worker's notification names the visitor by: dropped last, and only shortened.
KEPT_VISITOR_FIELDS = ("firstName", "lastName")


class PushVerdict(StrEnum):
    DELIVERED = "delivered"
    UNKNOWN = "unknown"  # a timeout, 408, 429 or 5xx: the offer stands until its timeout
    REFUSED = "refused"  # any other 4xx: this way to the agent failed
    GONE = "gone"  # 404 / 410: the subscription is dead and is deleted


def verdict(status: int | None) -> PushVerdict:
    """What a push service's answer means (`None`: no answer, a timeout or a broken
    connection)."""
    if status is None or status in (408, 429) or status >= 500:
        return PushVerdict.UNKNOWN
    if 200 <= status < 300:
        return PushVerdict.DELIVERED
    if status in (404, 410):
        return PushVerdict.GONE
    return PushVerdict.REFUSED


def topic_of(conversation_id: str) -> str:
    """The `Topic` of every push about one conversation: a later push replaces an earlier
    one the push service still holds (offerWithdrawn replaces an undelivered chatOffered)."""
    digest = hashlib.sha256(conversation_id.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")[:TOPIC_CHARS]


def payload_bytes(frame: Mapping[str, Any]) -> bytes:
    """A frame as it is sent, WebSocket or push alike."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def fit_payload(frame: Mapping[str, Any], limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    """The frame's JSON in at most `limit` bytes: the page's texts are shortened first
    (the referrer and other texts the notification does not show, then the url, then the
    title; marked with an ellipsis), then the visitor's optional fields dropped
    (largest first), then the visitor's name shortened. A frame that still does not fit
    (only ids and times left) is a ValueError: nothing the visitor sent can cause that."""
    fitted: dict[str, Any] = {**frame}
    data = payload_bytes(fitted)
    for section, keys in (("page", None), ("visitor", KEPT_VISITOR_FIELDS)):
        if len(data) <= limit:
            break
        if not isinstance(fitted.get(section), Mapping):
            continue
        part: dict[str, Any] = dict(fitted[section])
        fitted[section] = part
        if section == "visitor":
            for key in sorted((k for k in part if k not in KEPT_VISITOR_FIELDS),
                              key=lambda k: (-len(payload_bytes({k: part[k]})), k)):
                if len(data) <= limit:
                    break
                del part[key]
                data = payload_bytes(fitted)
        tiers = [keys] if keys is not None else _page_tiers(part)
        for names in tiers:
            while len(data) > limit:
                texts = [k for k in names if isinstance(part.get(k), str) and part[k]]
                if not texts:
                    break
                longest = max(texts, key=lambda k: (len(part[k]), k))
                part[longest] = _longest_prefix(fitted, part, longest, limit)
                data = payload_bytes(fitted)
    if len(data) > limit:
        raise ValueError(f"a {frame.get('type')} frame does not fit in {limit} bytes")
    return data


def _page_tiers(page: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The page's texts in the order they are shortened: what the notification does not
    show (referrer, …) before the url, the url before the title it shows first."""
    shown = ("url", "title")
    return [tuple(k for k in page if k not in shown), ("url",), ("title",)]


def _longest_prefix(fitted: dict[str, Any], part: dict[str, Any], key: str, limit: int) -> str:
    """`part[key]` cut to the longest prefix (marked with an ellipsis) with which `fitted`
    fits in `limit` bytes, or "" when none does. By bisection: a character may take one to
    six bytes of JSON (escapes, UTF-8), so no count of characters says it at once."""
    text: str = part[key]

    def fits(keep: int) -> bool:
        part[key] = text[:keep] + ELLIPSIS
        return len(payload_bytes(fitted)) <= limit

    if not fits(0):
        return ""
    low, high = 0, len(text) - 1  # fits(low) holds; the whole text did not fit
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return text[:low] + ELLIPSIS
