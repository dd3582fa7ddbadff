"""Black-box access to the local stack: `livechat dev` as a subprocess, and clients that talk
to it only as the widget and the inbox do — real WebSockets and HTTP, plus boto3 against the
embedded emulator's Cognito endpoint for the agents' sign-in (../shared/spec/protocol.md).

Shared by tests/e2e and tests/contract, with the Given steps both suites take (a live chat,
and a `scene`: what a test connects, closed when it ends). It imports no livechat code, on
purpose: what it checks is the wire, whatever implements it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
import pytest
import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

ROOT = Path(__file__).resolve().parents[1]
LIVECHAT = Path(sys.executable).with_name("livechat")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
ANSWER_TIMEOUT = 5.0
LIVE_CARD = "live"  # the live chat card of the test dialogs, unless a caller names another
ROUND_ROBIN = "rr"  # a dialog of every test workspace: its live chat card routes round robin

Frame = dict[str, Any]


# --- the stack ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoints:
    http: str  # ends with "/"
    websocket: str
    aws_endpoint: str
    region: str
    user_pool_id: str
    client_id: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Endpoints:
        return cls(data["http"], data["websocket"], data["aws_endpoint"], data["region"],
                   data["cognito"]["user_pool_id"], data["cognito"]["client_id"])


def dev_command(workspace: Path, endpoints_file: Path) -> list[str]:
    # --enforce-iam: the stack refuses what the functions' policies in template.yaml do not
    # allow, as AWS would, and then exits 3 instead of 0 (which the fixtures check).
    return [str(LIVECHAT), "dev", "--workspace", str(workspace), "--port", "0",
            "--endpoints-file", str(endpoints_file), "--sweep-interval", "1", "--quiet", "--enforce-iam"]


@dataclass
class DevProcess:
    """`livechat dev` running, its output going to files (a pipe nobody reads could fill
    up and stall the server in a long session)."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return (f"exit {self.process.poll()}\n--- stdout\n{self.stdout.read_text(errors='replace')}"
                f"\n--- stderr\n{self.stderr.read_text(errors='replace')}")

    def stop(self) -> int:
        """SIGTERM, then the exit code (killed and failed if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"livechat dev did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM:\n{self.output()}")


def launch_stack(workspace: Path, endpoints_file: Path) -> DevProcess:
    """Start `livechat dev` without waiting for it (see `wait_for_stack`)."""
    directory = endpoints_file.parent
    stdout, stderr = directory / "livechat-dev.out", directory / "livechat-dev.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        return DevProcess(subprocess.Popen(dev_command(workspace, endpoints_file), cwd=ROOT,
                                           stdout=out, stderr=err), stdout, stderr)


def wait_for_stack(dev: DevProcess, endpoints_file: Path) -> Endpoints:
    """The endpoints, once `livechat dev` has written them (it then accepts connections)."""
    deadline = time.monotonic() + START_TIMEOUT
    while not endpoints_file.exists():
        if dev.process.poll() is not None:
            pytest.fail(f"livechat dev exited before writing {endpoints_file}:\n{dev.output()}")
        if time.monotonic() > deadline:
            dev.stop()
            pytest.fail(f"livechat dev wrote no endpoints file in {START_TIMEOUT:.0f} s:\n{dev.output()}")
        time.sleep(0.1)
    return Endpoints.parse(json.loads(endpoints_file.read_text()))


def start_stack(workspace: Path, endpoints_file: Path) -> tuple[DevProcess, Endpoints]:
    dev = launch_stack(workspace, endpoints_file)
    return dev, wait_for_stack(dev, endpoints_file)


def _http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # never through a proxy: the stack is on 127.0.0.1
    return session


@dataclass
class Stack:
    """A running stack, and the agents' passwords (e-mail -> password) to sign them in."""

    endpoints: Endpoints
    passwords: Mapping[str, str] = field(default_factory=dict)
    http: requests.Session = field(default_factory=_http)
    _tokens: dict[str, str] = field(default_factory=dict)

    def idp(self) -> CognitoIdentityProviderClient:
        return boto3.client("cognito-idp", region_name=self.endpoints.region,
                            endpoint_url=self.endpoints.aws_endpoint,
                            aws_access_key_id="e2e", aws_secret_access_key="e2e")

    def sign_in(self, username: str, password: str) -> str:
        result = self.idp().initiate_auth(
            ClientId=self.endpoints.client_id, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password})
        return result["AuthenticationResult"]["IdToken"]

    def token_outside_the_group(self) -> str:
        """The ID token of a new user of the agents' pool who is not in the LiveChat group."""
        idp = self.idp()
        email = f"no-group-{uuid.uuid4().hex[:8]}@example.com"
        password = "No-group-pass-1"
        idp.admin_create_user(UserPoolId=self.endpoints.user_pool_id, Username=email, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": email},
                                              {"Name": "email_verified", "Value": "true"}])
        idp.admin_set_user_password(UserPoolId=self.endpoints.user_pool_id, Username=email,
                                    Password=password, Permanent=True)
        return self.sign_in(email, password)

    def agent_token(self, email: str) -> str:
        if email not in self._tokens:
            self._tokens[email] = self.sign_in(email, self.passwords[email])
        return self._tokens[email]

    def visitor_session(self, body: dict[str, Any] | None = None) -> dict[str, str]:
        response = self.http.post(f"{self.endpoints.http}visitor/session", json=body or {}, timeout=10)
        assert response.status_code == 200, response.text
        session: dict[str, str] = response.json()
        assert session["visitorId"] and session["visitorToken"]
        return session

    def mailbox(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.endpoints.http}dev/mailbox.json", timeout=10)
        assert response.status_code == 200, response.text
        mails: list[dict[str, Any]] = response.json()
        return mails

    def mails_about(self, conversation_id: str) -> list[dict[str, Any]]:
        return [mail for mail in self.mailbox() if conversation_id in json.dumps(mail)]

    async def failure_mails(self, conversation_id: str) -> list[dict[str, Any]]:
        """The failure e-mails about this conversation, once there is one (and a moment more
        for a duplicate, which would come from a retry, to show)."""
        deadline = time.monotonic() + 10
        mails = self.mails_about(conversation_id)
        while not mails and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            mails = self.mails_about(conversation_id)
        assert mails, f"no failure e-mail for {conversation_id}; mailbox.json: {self.mailbox()}"
        await asyncio.sleep(1.0)
        return self.mails_about(conversation_id)

    def ws_url(self, **query: str) -> str:
        params = "&".join(f"{key}={quote(value, safe='')}" for key, value in query.items())
        return f"{self.endpoints.websocket}?{params}"

    async def connect(self, name: str, **query: str) -> Client:
        ws = await connect(self.ws_url(**query), proxy=None, compression=None, open_timeout=10,
                           max_size=4 * 1024 * 1024)
        return Client(name, ws)

    async def handshake_status(self, **query: str) -> int:
        """The HTTP status the WebSocket handshake with this query ends in (101: accepted)."""
        try:
            client = await self.connect("intruder", **query)
        except InvalidStatus as refused:
            return refused.response.status_code
        await client.close()
        return 101

    async def agent(self, email: str, status: str | None = "available") -> Client:
        """An agent signed in and connected; with `status`, set (and stored) before return."""
        client = await self.connect(email, token=self.agent_token(email))
        if status is not None:
            await client.set_status(status)
        return client

    async def visitor(self, token: str | None = None) -> Visitor:
        session = {"visitorToken": token} if token else self.visitor_session()
        client = await self.connect("visitor", visitorToken=session["visitorToken"])
        return Visitor(client.name, client.ws, token=session["visitorToken"])


@contextlib.contextmanager
def running_stack(directory: Path, workspace_yaml: str, passwords: Mapping[str, str]) -> Iterator[Stack]:
    """`livechat dev` on this workspace for the `with` block; it must then exit 0 on SIGTERM."""
    workspace = directory / "workspace.yaml"
    workspace.write_text(workspace_yaml, encoding="utf-8")
    dev, endpoints = start_stack(workspace, directory / "endpoints.json")
    try:
        yield Stack(endpoints, passwords)
    finally:
        code = dev.stop()
    assert code == 0, f"livechat dev did not exit 0 on SIGTERM:\n{dev.output()}"


def tampered(token: str, **claims: Any) -> str:
    """A JWT with these claims changed in its payload, its header and signature kept."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


# --- clients ------------------------------------------------------------------------------

def _matches(frame: Frame, type_: str, fields: dict[str, Any]) -> bool:
    return frame.get("type") == type_ and all(frame.get(k) == v for k, v in fields.items())


@dataclass
class Client:
    """One WebSocket connection. `ask` sends a request and returns the answer that echoes its
    requestId; every other frame received meanwhile waits in `buffer` for `next_of`."""

    name: str
    ws: ClientConnection
    buffer: list[Frame] = field(default_factory=list)

    async def send(self, frame: Frame | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def _receive(self, deadline: float, what: str) -> Frame:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            raw = await asyncio.wait_for(self.ws.recv(), max(remaining, 0.0))
        except TimeoutError:
            raise AssertionError(f"{self.name}: no {what} in time; other frames: {self.buffer}") from None
        frame = json.loads(raw)
        assert isinstance(frame, dict), f"{self.name}: a frame that is not an object: {raw!r}"
        return frame

    async def answer_to(self, request_id: str, what: str, timeout: float = ANSWER_TIMEOUT) -> Frame:
        """The frame that echoes this requestId (others go to `buffer`)."""
        for i, frame in enumerate(self.buffer):
            if frame.get("requestId") == request_id:
                return self.buffer.pop(i)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            frame = await self._receive(deadline, f"answer to {what} ({request_id})")
            if frame.get("requestId") == request_id:
                return frame
            self.buffer.append(frame)

    async def ask(self, action: str, timeout: float = ANSWER_TIMEOUT, **fields: Any) -> Frame:
        request_id = uuid.uuid4().hex
        await self.send({"action": action, "requestId": request_id, **fields})
        return await self.answer_to(request_id, action, timeout)

    async def ok(self, action: str, expected: str, **fields: Any) -> Frame:
        """`ask`, and the answer must be of type `expected`."""
        answer = await self.ask(action, **fields)
        assert answer.get("type") == expected, f"{self.name}: {action} answered {answer}"
        return answer

    async def next_of(self, type_: str, timeout: float = ANSWER_TIMEOUT, **fields: Any) -> Frame:
        """The first frame of this type (and with these field values), buffered or to come."""
        for i, frame in enumerate(self.buffer):
            if _matches(frame, type_, fields):
                return self.buffer.pop(i)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            frame = await self._receive(deadline, f"{type_} {fields or ''}".strip())
            if _matches(frame, type_, fields):
                return frame
            self.buffer.append(frame)

    async def none_of(self, type_: str, within: float, **fields: Any) -> None:
        """No frame of this type (with these values) arrives within `within` seconds."""
        with contextlib.suppress(AssertionError):
            frame = await self.next_of(type_, within, **fields)
            raise AssertionError(f"{self.name}: unexpected {frame}")

    async def set_status(self, status: str) -> None:
        answer = await self.ask("setStatus", status=status)
        assert answer.get("type") != "error", f"{self.name}: setStatus {status}: {answer}"

    async def close(self) -> None:
        await self.ws.close()


@dataclass
class Visitor(Client):
    token: str = ""

    async def start(self, dialog: str) -> str:
        started = await self.ok("startConversation", "conversationStarted", dialogId=dialog,
                                page={"url": "https://shop.example.com/pricing", "title": "Pricing",
                                      "referrer": ""})
        conversation_id: str = started["conversationId"]
        return conversation_id

    async def request_chat(self, conversation_id: str, card: str = LIVE_CARD) -> Frame:
        return await self.ok("requestChat", "routing", conversationId=conversation_id, cardId=card)


async def closing(*clients: Client) -> None:
    for client in clients:
        with contextlib.suppress(Exception):
            await client.close()


def run(scenario: Callable[[], Any], timeout: float = 60.0) -> None:
    """Run an async Given/When/Then scenario from a plain pytest test."""
    asyncio.run(asyncio.wait_for(scenario(), timeout))


async def first_of(clients: list[Client], type_: str, timeout: float = ANSWER_TIMEOUT,
                   **fields: Any) -> tuple[Client, Frame]:
    """Which of these clients gets a frame of this type first, and the frame."""
    tasks = {asyncio.ensure_future(client.next_of(type_, timeout, **fields)): client for client in clients}
    done, pending = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()  # frames already read stay in that client's buffer
    await asyncio.gather(*pending, return_exceptions=True)
    winners = [task for task in done if task.exception() is None]
    assert winners, f"none of {[c.name for c in clients]} got {type_} {fields}"
    winner, *others = winners
    for task in others:  # a frame another client got at the same moment is not lost
        tasks[task].buffer.insert(0, task.result())
    return tasks[winner], winner.result()


# --- Given steps and the clean-up -------------------------------------------------------------

async def offer_to(visitor: Visitor, agent: Client, conversation_id: str) -> Frame:
    """The visitor requests a chat on this conversation: the offer `agent` (the only one it
    can reach) gets."""
    await visitor.request_chat(conversation_id)
    return await agent.next_of("chatOffered", conversationId=conversation_id)


async def offered(visitor: Visitor, agent: Client, dialog: str = ROUND_ROBIN) -> tuple[str, Frame]:
    """A visitor's new conversation, its chat request offered to `agent`: its id and the offer."""
    conversation_id = await visitor.start(dialog)
    return conversation_id, await offer_to(visitor, agent, conversation_id)


async def accepted(visitor: Visitor, agent: Client, conversation_id: str, offer: Frame) -> Frame:
    """`agent` accepts the offer: the visitor's agentJoined."""
    await agent.ok("accept", "chatAccepted", conversationId=conversation_id, offerId=offer["offerId"])
    return await visitor.next_of("agentJoined", conversationId=conversation_id)


async def live_chat(visitor: Visitor, agent: Client, dialog: str = ROUND_ROBIN) -> tuple[str, Frame]:
    """A visitor's chat accepted by `agent`: its id and the visitor's agentJoined."""
    conversation_id, offer = await offered(visitor, agent, dialog)
    return conversation_id, await accepted(visitor, agent, conversation_id, offer)


async def end_quietly(client: Client, conversation_id: str) -> None:
    """End a chat a test started, if it is still open (cleanup: never fails the test)."""
    with contextlib.suppress(Exception):  # best effort: the socket may be gone
        await client.ask("endChat", conversationId=conversation_id)


@dataclass
class Scene:
    """What one test connected, all closed when it ends: a visitor, the agents it connected
    first (by e-mail) and every client it connected later; and the chats it must end if it
    stops before it does (each ended by the agent named, see `end_at_exit`)."""

    stack: Stack
    visitor: Visitor
    agents: dict[str, Client] = field(default_factory=dict)
    later: list[Client] = field(default_factory=list)
    open_chats: dict[str, Client] = field(default_factory=dict)

    async def agent(self, email: str, status: str | None = None) -> Client:
        """Another connection of an agent's (by default without setting a status)."""
        client = await self.stack.agent(email, status)
        self.later.append(client)
        return client

    async def another_visitor(self, token: str | None = None) -> Visitor:
        """Another visitor; with a token, that visitor connected again."""
        visitor = await self.stack.visitor(token)
        self.later.append(visitor)
        return visitor

    async def live_chat(self, agent: Client, dialog: str = ROUND_ROBIN,
                        visitor: Visitor | None = None) -> tuple[str, Frame]:
        """`live_chat` of the scene's visitor (or this one), ended at exit unless the test ends it."""
        conversation_id, joined = await live_chat(visitor or self.visitor, agent, dialog)
        self.end_at_exit(agent, conversation_id)
        return conversation_id, joined

    def end_at_exit(self, agent: Client, conversation_id: str) -> None:
        """This chat is ended (quietly, by `agent`) when the scene closes, unless `ended` first."""
        self.open_chats[conversation_id] = agent

    def ended(self, conversation_id: str) -> None:
        self.open_chats.pop(conversation_id, None)

    async def end_chat(self, agent: Client, conversation_id: str) -> Frame:
        """The agent ends the chat: the answer must be chatEnded."""
        ended = await agent.ok("endChat", "chatEnded", conversationId=conversation_id)
        self.ended(conversation_id)
        return ended

    async def close(self) -> None:
        for conversation_id, agent in self.open_chats.items():
            await end_quietly(agent, conversation_id)
        await closing(self.visitor, *self.agents.values(), *self.later)


@contextlib.asynccontextmanager
async def scene(stack: Stack, agents: Iterable[str] = (), available: Collection[str] = ()) -> AsyncIterator[Scene]:
    """These agents connected, those `available` available and the others away (status is
    stored, so each test states the presence it relies on), then a visitor: a `Scene`,
    closed when the block ends however it ends."""
    connected: dict[str, Client] = {}
    try:
        for email in agents:
            connected[email] = await stack.agent(email, "available" if email in available else "away")
        visitor = await stack.visitor()
    except BaseException:
        await closing(*connected.values())
        raise
    given = Scene(stack, visitor, connected)
    try:
        yield given
    finally:
        await given.close()
