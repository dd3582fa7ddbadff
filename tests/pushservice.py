"""A push service of the test's own: what a browser vendor's Web Push service is to a sender.

It hands out subscriptions the way `PushSubscription.toJSON()` does (its own P-256 ECDH key
pair and 16-byte auth secret per subscription, the endpoint on 127.0.0.1), receives every
`POST` to an endpoint, decrypts it (RFC 8291, `aes128gcm`), verifies the VAPID JWT
(RFC 8292) and checks the RFC 8030 headers, recording what it finds on a `Push` instead of
failing the request. Each endpoint answers what the test tells it to (201 by default, or a
4xx/5xx, or late). It runs in its own thread, so sync and asyncio tests can both use it.

It imports no livechat code, on purpose: it checks the wire, whatever implements it.

    with PushService() as service:
        sub = service.subscribe("alice")
        ...  # hand `sub` to the code under test, make it send
        (push,) = service.wait_for(1)
        assert push.problems == [], push.problems
        assert push.payload["type"] == "chatOffered"
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypedDict
from urllib.parse import quote, urlsplit

import http_ece
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MAX_BODY = 4096  # RFC 8291 §4: a push service must accept at least this much, need no more
MAX_EXP_AHEAD = 24 * 3600  # RFC 8292 §2: `exp` no more than 24 hours after the request
URGENCIES = ("very-low", "low", "normal", "high")  # RFC 8030 §5.3
TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 §5.4: at most 32 base64url characters


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SubscriptionKeys(TypedDict):
    p256dh: str
    auth: str


class Subscription(TypedDict):
    """`PushSubscription.toJSON()` as a browser gives it (without `expirationTime`)."""

    endpoint: str
    keys: SubscriptionKeys


class Headers(Mapping[str, str]):
    """A request's headers, looked up case-insensitively."""

    def __init__(self, pairs: Mapping[str, str]) -> None:
        self._items = {name.lower(): value for name, value in pairs.items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(frozen=True)
class Push:
    """One POST as the push service received it, and what it made of it."""

    endpoint: str  # the full endpoint URL the POST went to
    path: str
    headers: Headers
    body: bytes
    at: float  # time.monotonic() when the request had been read
    status: int  # what the service answered
    plaintext: bytes | None  # the decrypted body, None when it could not be decrypted
    payload: Any  # the plaintext as JSON, None when it is not JSON
    claims: dict[str, Any] | None  # the verified VAPID JWT claims, None when it did not verify
    vapid_key: str | None  # the `k` of the Authorization header
    problems: list[str] = field(default_factory=list)  # every rule the request broke

    @property
    def type(self) -> str | None:
        """The payload's `type` (e.g. `chatOffered`), when the payload is a JSON object."""
        if isinstance(self.payload, dict):
            kind = self.payload.get("type")
            return kind if isinstance(kind, str) else None
        return None

    @property
    def ttl(self) -> int | None:
        value = self.headers.get("TTL", "")
        return int(value) if value.isdigit() else None


@dataclass
class _Endpoint:
    name: str
    url: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    status: int = 201
    stall: float = 0.0


Target = str | Mapping[str, Any]  # an endpoint's name, its URL, or its subscription


class PushService:
    """The push service. Use as a context manager, or call `start()` and `stop()`."""

    def __init__(self, *, expected_vapid_key: str | None = None) -> None:
        # when set: the `k` every push must carry (the deployment's `vapidPublicKey`)
        self.expected_vapid_key = expected_vapid_key
        self._lock = threading.Condition()
        self._endpoints: dict[str, _Endpoint] = {}  # by path
        self._pushes: list[Push] = []
        self._taken: dict[str, int] = {}  # by endpoint URL: pushes `take` already returned
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._origin: str | None = None
        self._thread: threading.Thread | None = None

    # --- life -------------------------------------------------------------------------------

    def start(self) -> PushService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                service._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        host, port = server.server_address[:2]
        self._origin = f"http://{host!s}:{port}"
        self._thread = threading.Thread(target=server.serve_forever, name="push-service",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # stalled answers go out now
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> PushService:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:PORT`: what a VAPID JWT's `aud` must be."""
        if self._origin is None:
            raise RuntimeError("the push service was never started")
        return self._origin

    # --- subscriptions and answers ------------------------------------------------------------

    def subscribe(self, name: str | None = None) -> Subscription:
        """A fresh subscription: its own key pair and auth secret, endpoint /push/<name>."""
        name = name or secrets.token_urlsafe(12)
        path = "/push/" + quote(name, safe="")
        private_key = ec.generate_private_key(ec.SECP256R1())
        auth = secrets.token_bytes(16)
        url = self.origin + path
        with self._lock:
            if path in self._endpoints:
                raise ValueError(f"a subscription named {name!r} exists already")
            self._endpoints[path] = _Endpoint(name, url, private_key, auth)
        point = private_key.public_key().public_bytes(Encoding.X962,
                                                      PublicFormat.UncompressedPoint)
        return {"endpoint": url, "keys": {"p256dh": b64url(point), "auth": b64url(auth)}}

    def respond(self, target: Target, status: int) -> None:
        """From now on the endpoint answers `status` (e.g. 410, 404, 400, 429, 500)."""
        with self._lock:
            self._endpoint(target).status = status

    def stall(self, target: Target, seconds: float) -> None:
        """From now on the endpoint answers only after `seconds` (0: at once)."""
        with self._lock:
            self._endpoint(target).stall = seconds

    def _endpoint(self, target: Target) -> _Endpoint:
        if isinstance(target, Mapping):
            target = str(target["endpoint"])
        for path, endpoint in self._endpoints.items():
            if target in (endpoint.name, endpoint.url, path):
                return endpoint
        raise KeyError(f"no subscription {target!r}")

    def _url(self, target: Target) -> str:
        with self._lock:
            return self._endpoint(target).url

    # --- what arrived -------------------------------------------------------------------------

    def pushes(self, target: Target | None = None) -> list[Push]:
        """Every push received so far (to one endpoint when given), in arrival order."""
        url = None if target is None else self._url(target)
        with self._lock:
            return [p for p in self._pushes if url is None or p.endpoint == url]

    def wait_for(self, what: int | Callable[[Push], bool] = 1, timeout: float = 5.0,
                 *, target: Target | None = None) -> list[Push]:
        """Wait until `what` pushes arrived (an int), or one push for which `what` is true
        (a predicate); counts only pushes to `target` when given. Returns the pushes counted
        (all of them for an int, the matching ones for a predicate). TimeoutError otherwise."""
        url = None if target is None else self._url(target)

        def found() -> list[Push] | None:
            mine = [p for p in self._pushes if url is None or p.endpoint == url]
            if isinstance(what, int):
                return mine if len(mine) >= what else None
            matching = [p for p in mine if what(p)]
            return matching or None

        deadline = time.monotonic() + timeout
        with self._lock:
            while (result := found()) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"push service: waited {timeout} s for {what!r}; "
                                       f"received {self._summary()}")
                self._lock.wait(left)
            return result

    def take(self, target: Target, timeout: float = 5.0) -> Push:
        """The next push to `target` that `take` did not return before (blocking)."""
        url = self._url(target)
        deadline = time.monotonic() + timeout
        with self._lock:
            while (push := self._untaken(url)) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"push service: no new push to {url} in {timeout} s; "
                                       f"received {self._summary()}")
                self._lock.wait(left)
            return push

    async def next_push(self, target: Target, timeout: float = 5.0) -> Push:
        """`take` for asyncio tests: polls, so it never blocks the event loop."""
        url = self._url(target)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                push = self._untaken(url)
            if push is not None:
                return push
            if time.monotonic() >= deadline:
                raise TimeoutError(f"push service: no new push to {url} in {timeout} s; "
                                   f"received {self._summary()}")
            await asyncio.sleep(0.01)

    async def arrival(self, match: Callable[[Push], bool], timeout: float = 5.0,
                      *, target: Target | None = None) -> Push:
        """`wait_for` a predicate, for asyncio tests: the first matching push (polls)."""
        url = None if target is None else self._url(target)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [p for p in self._pushes if (url is None or p.endpoint == url) and match(p)]
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"push service: no matching push in {timeout} s; "
                                   f"received {self._summary()}")
            await asyncio.sleep(0.01)

    def _untaken(self, url: str) -> Push | None:
        mine = [p for p in self._pushes if p.endpoint == url]
        taken = self._taken.get(url, 0)
        if len(mine) <= taken:
            return None
        self._taken[url] = taken + 1
        return mine[taken]

    def _summary(self) -> str:
        return repr([(p.path, p.type, p.status, p.problems) for p in self._pushes])

    # --- one request --------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        at = time.monotonic()
        path = urlsplit(request.path).path
        headers = Headers(dict(request.headers.items()))
        with self._lock:
            endpoint = self._endpoints.get(path)
            status, stall = (endpoint.status, endpoint.stall) if endpoint else (404, 0.0)
        if endpoint is None:
            push = Push(self.origin + path, path, headers, body, at, status, None, None, None,
                        None, ["no such subscription"])
        else:
            push = self._examine(endpoint, headers, body, at, status)
        with self._lock:
            self._pushes.append(push)
            self._lock.notify_all()
        if stall > 0:
            self._stopping.wait(stall)
        try:
            request.send_response(status)
            if status == 201:
                request.send_header("Location", f"{self.origin}/message/{secrets.token_hex(8)}")
            request.send_header("Content-Length", "0")
            request.end_headers()
        except OSError:
            pass  # the sender gave up waiting (a stall playing a timeout): nothing to answer

    def _examine(self, endpoint: _Endpoint, headers: Headers, body: bytes, at: float,
                 status: int) -> Push:
        problems: list[str] = []
        if headers.get("Content-Encoding") != "aes128gcm":
            problems.append(f"Content-Encoding {headers.get('Content-Encoding')!r}, "
                            "not 'aes128gcm'")
        ttl = headers.get("TTL")
        if ttl is None or not ttl.isdigit():
            problems.append(f"TTL {ttl!r} is not an integer >= 0")
        urgency = headers.get("Urgency")
        if urgency not in URGENCIES:
            problems.append(f"Urgency {urgency!r} is not one of {URGENCIES}")
        topic = headers.get("Topic")
        if topic is None or not TOPIC.fullmatch(topic):
            problems.append(f"Topic {topic!r} is not 1-32 base64url characters")
        if len(body) > MAX_BODY:
            problems.append(f"body of {len(body)} bytes, over {MAX_BODY}")

        plaintext: bytes | None = None
        payload: Any = None
        try:
            plaintext = http_ece.decrypt(body, private_key=endpoint.private_key,
                                         auth_secret=endpoint.auth, version="aes128gcm")
        except Exception as exc:  # any failure to decrypt is the sender's problem
            problems.append(f"body does not decrypt: {exc!r}")
        if plaintext is not None:
            try:
                payload = json.loads(plaintext)
            except ValueError:
                problems.append("plaintext is not JSON")

        claims, vapid_key = self._vapid(headers.get("Authorization"), problems)
        return Push(endpoint.url, urlsplit(endpoint.url).path, headers, body, at, status,
                    plaintext, payload, claims, vapid_key, problems)

    def _vapid(self, authorization: str | None,
               problems: list[str]) -> tuple[dict[str, Any] | None, str | None]:
        """RFC 8292: `vapid t=<JWT>, k=<key>`; the JWT ES256-signed by `k`."""
        scheme, _, rest = (authorization or "").partition(" ")
        if scheme.lower() != "vapid":
            problems.append(f"Authorization {authorization!r} is not 'vapid t=..., k=...'")
            return None, None
        params = dict(part.strip().partition("=")[::2] for part in rest.split(","))
        token, key = params.get("t"), params.get("k")
        if not token or not key:
            problems.append(f"Authorization {authorization!r} lacks t= or k=")
            return None, key or None
        if self.expected_vapid_key is not None and key != self.expected_vapid_key:
            problems.append(f"VAPID key {key!r} is not the expected {self.expected_vapid_key!r}")
        try:
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                                      unb64url(key))
        except ValueError as exc:
            problems.append(f"VAPID key {key!r} is not an uncompressed P-256 point: {exc}")
            return None, key
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=public_key, algorithms=["ES256"], audience=self.origin,
                options={"require": ["aud", "exp", "sub"]})
        except jwt.PyJWTError as exc:
            problems.append(f"VAPID JWT does not verify: {exc!r}")
            return None, key
        if claims["exp"] > time.time() + MAX_EXP_AHEAD:
            problems.append(f"VAPID exp {claims['exp']} is more than 24 h ahead")
        if not str(claims["sub"]).startswith("mailto:"):
            problems.append(f"VAPID sub {claims['sub']!r} is not a mailto: URL")
        return claims, key
