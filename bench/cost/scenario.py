"""The scripted chats, as the widget and the inbox drive them, on the embedded AWS with the
real handlers and the real offer workflow; each scenario's use goes to the ledger."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from itertools import pairwise
from typing import Any
from unittest.mock import patch

import boto3
from livechat.domain import clock

from bench.cost.ledger import Ledger, metered_handlers
from bench.cost.units import table_indexes
from livechat_local import events
from livechat_local.lambdas import FUNCTIONS
from tests.support.aws import REGION
from tests.support.metering import count_calls, embedded_aws, quiet
from tests.support.workflow import SENDER, TEAM, offer_workflow
from tests.support.world import Client, LambdaContext, World

# Assumptions of the scripted chat; every one is printed.
VISITOR_MINUTES = {"accepted": 10.0, "unanswered": 3.0}  # unanswered: the 100 s offer, the fallback read
PING_EVERY_MIN = 4.5  # web/shared/socket.js PING_MS: a ping after 4.5 min without a frame of the page's own
AGENTS, AGENT_HOURS = 20, 8.0  # the agents' shared connections: 20 agents online 8 h per 1,000 chats
SWEEPS_PER_MONTH = 60 * 24 * 30  # timeout_sweeper: rate(1 minute)
PINGS_MEASURED = 10  # an agent's pings, measured on their own for the agents' share
# What web/shared/composer.js sends while a message is typed: "on" at the first keystroke and
# again every TYPING_RENEW_MS; "off" only after a pause of TYPING_IDLE_MS without sending, or
# for an emptied box; nothing for the message. Assumed: each message typed in one go (no
# such pause) within TYPING_SECONDS.
TYPING_RENEW_SECONDS = 15.0  # composer.js TYPING_RENEW_MS
TYPING_SECONDS = 12.0


def typing_frames(seconds: float) -> int:
    """The `typing` frames the clients send for one message typed in `seconds` without a pause."""
    return 1 + int(seconds // TYPING_RENEW_SECONDS)


def http(ledger: Ledger, function: str, method: str, path: str, body: str = "", **route: Any) -> dict[str, Any]:
    """One HTTP API request to a function, as API Gateway sends it; metered per 512 KB."""
    import importlib

    module = importlib.import_module(FUNCTIONS[function])
    event = events.http_v2(method, path, body, domain="abc123.execute-api.us-east-1.amazonaws.com",
                           headers={"Host": "abc123.execute-api.us-east-1.amazonaws.com",
                                    "X-Forwarded-Proto": "https", "content-type": "application/json"}, **route)
    response: dict[str, Any] = module.handler(event, LambdaContext(function_name=function))
    size = max(len(body.encode()), len(str(response.get("body") or "").encode()))
    with ledger.lock:
        ledger.scenario.http.append((f"{method} {path}", size))
    assert response["statusCode"] == 200, (path, response["statusCode"])
    return response


def visitor_arrives(world: World, ledger: Ledger) -> tuple[Client, str]:
    """The page loads the widget; the visitor opens it and walks the dialog to the live card."""
    http(ledger, "web", "GET", "/widget.js")
    http(ledger, "web", "GET", "/dialogs/sales", route="/dialogs/{dialogId}", path_parameters={"dialogId": "sales"})
    token = json.loads(http(ledger, "visitor_session", "POST", "/visitor/session", "{}")["body"])["visitorToken"]
    http(ledger, "web", "GET", "/config.json")
    visitor = world.visitor_client(token)
    return visitor, world.walk_to_live_card(visitor, "sales")


def offer_for(agents: list[Client], conversation_id: str) -> tuple[Client, dict[str, Any]]:
    offered = [(a, f) for a in agents for f in a.of_type("chatOffered") if f["conversationId"] == conversation_id]
    assert len(offered) == 1, offered
    return offered[0]


def first_task_done(execution_arn: str, timeout: float = 60.0) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    deadline = time.monotonic() + timeout
    with quiet():
        while not any(e["type"] in ("WaitStateEntered", "SucceedStateEntered", "FailStateEntered") for e in
                      sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]):
            if time.monotonic() > deadline:
                raise SystemExit(f"cost: the offer workflow {execution_arn} did not run its first task")
            time.sleep(0.05)


def pings(sent_at: list[float], minutes: float) -> int:
    """The pings web/shared/socket.js sends on a connection of `minutes` whose page sent frames
    of its own at `sent_at` (seconds from the start): one 4.5 minutes after each frame it sends,
    pings included, so only a silence that long costs one."""
    times = [0.0, *sorted(sent_at), minutes * 60]
    return sum(int((later - earlier) // (PING_EVERY_MIN * 60)) for earlier, later in pairwise(times))


def say(who: Client, conversation_id: str, n: int, i: int, *, typing: bool) -> None:
    """One message as the client sends it: the `typing` frames while it is typed, then the
    message (no "off" after it: the message clears the other side's line)."""
    text = f"{'Hello, I have a question about the pricing' if i % 2 == 0 else 'Sure, happy to help'} ({i})"
    for _ in range(typing_frames(TYPING_SECONDS) if typing else 0):
        assert who.ask("typing", conversationId=conversation_id, isTyping=True)["type"] == "ack"
    # An id as web/shared/ids.js makes one ("m-" + 16 hex digits + "-" + a counter): a
    # message is stored under it, so its length is part of the item's size.
    assert who.ask("sendMessage", conversationId=conversation_id, text=text,
                   clientMessageId=f"m-{n:08x}{i:08x}-{i + 1}")["type"] == "message"


def message_gap(messages: int) -> float:
    """Seconds between two messages: spread evenly over the accepted chat."""
    return VISITOR_MINUTES["accepted"] * 60 / max(1, messages)


@contextmanager
def scripted_clock() -> Iterator[Callable[[float], None]]:
    """The handlers' clock as the scripted chat's time passes (`wait(seconds)` moves it on),
    back to the real one after: what a message writes depends on the time since the last
    one (domain.transitions.activity_key_due), and the bench sends them milliseconds apart.
    Only `clock.now` moves (what `now_iso` stamps events with); moto's timers, the
    workflow's Wait and the rate-limit windows keep real time."""
    ahead = timedelta()
    real = clock.now

    def wait(seconds: float) -> None:
        nonlocal ahead
        ahead += timedelta(seconds=seconds)

    with patch.object(clock, "now", lambda: real() + ahead):
        yield wait


def accepted_chat(world: World, ledger: Ledger, agents: list[Client], n: int, messages: int, *,
                  typing: bool = True) -> None:
    visitor, conversation_id = visitor_arrives(world, ledger)
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    agent, offer = offer_for(agents, conversation_id)
    # A person takes seconds to accept; the workflow's first task runs within the first one.
    # Accepting before it ran would skip the wait and understate the transitions.
    first_task_done(ledger.scenario.executions[-1])
    assert agent.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])["type"] == "chatAccepted"
    visitor_sent = [0.0]  # the dialog and the request
    with scripted_clock() as wait:
        for i in range(messages):
            wait(message_gap(messages))
            say(visitor if i % 2 == 0 else agent, conversation_id, n, i, typing=typing)
            if i % 2 == 0:
                visitor_sent.append((i + 1) * message_gap(messages))
    for _ in range(pings(visitor_sent, VISITOR_MINUTES["accepted"])):
        assert visitor.ask("ping")["type"] == "pong"
    assert agent.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"
    visitor.disconnect()
    for client in (visitor, *agents):
        client.frames()  # drained: the next chat reads only its own frames


def unanswered_chat(world: World, ledger: Ledger, agents: list[Client]) -> Client:
    visitor, conversation_id = visitor_arrives(world, ledger)
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    offer_for(agents, conversation_id)  # offered to one agent, who lets it expire
    return visitor


def finish(ledger: Ledger, visitors: list[Client], timeout: float) -> None:
    """Wait for every execution of the scenario to end (the offer's deadline passes), then
    the visitors who were left waiting read the fallback and go."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    deadline = time.monotonic() + timeout
    with quiet():
        for arn in ledger.scenario.executions:
            while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                if time.monotonic() > deadline:
                    raise SystemExit(f"cost: execution {arn} still running after {timeout:.0f} s")
                time.sleep(0.1)
    for visitor in visitors:
        assert any(f["type"] == "fallback" for f in visitor.frames()), "the unanswered chat got no fallback"
        for _ in range(pings([0.0], VISITOR_MINUTES["unanswered"])):  # nothing sent after the request
            assert visitor.ask("ping")["type"] == "pong"
        visitor.disconnect()
    ledger.count_transitions(sfn)


def measure(chats: int, unanswered: int, messages: int, accept_timeout: int, typing: bool) -> Ledger:
    indexes = table_indexes()
    with embedded_aws(stepfunctions=True) as gateway:
        raw = boto3.client("dynamodb", region_name=REGION)  # before count_calls: never counted
        ledger = Ledger(indexes, raw)
        with count_calls(ledger), offer_workflow() as workflow, metered_handlers(ledger):
            world = World(gateway)
            world.settings(accept_timeout_seconds=accept_timeout, inactivity_timeout_seconds=3600,
                           failure_emails={"from": SENDER, "to": [TEAM]})
            world.live_dialog("sales", {"mode": "round_robin"})
            emails = [f"agent{i}@example.com" for i in range(2)]
            for email in emails:
                world.agent(email)
            agents = [world.agent_client(email) for email in emails]

            def scenario(name: str, run: Callable[[], list[Client]]) -> None:
                ledger.current = name
                start = len(gateway.posts)
                visitors = run()
                finish(ledger, visitors, timeout=accept_timeout + 60)
                ledger.scenario.frames_out.extend(p.size for p in gateway.posts[start:])
                ledger.current = "between"

            def warm_up() -> list[Client]:
                accepted_chat(world, ledger, agents, 0, messages, typing=typing)
                return [unanswered_chat(world, ledger, agents)]

            def accepted() -> list[Client]:
                for n in range(1, chats + 1):
                    accepted_chat(world, ledger, agents, n, messages, typing=typing)
                return []

            def agent_pings() -> list[Client]:
                for _ in range(PINGS_MEASURED):
                    assert agents[0].ask("ping")["type"] == "pong"
                return []

            # Warm-up (not counted): caches, the round-robin cursor, the first clients, the
            # engagement counter, the idempotency table's first record.
            scenario("warm-up", warm_up)
            scenario("accepted", accepted)
            scenario("unanswered", lambda: [unanswered_chat(world, ledger, agents) for _ in range(unanswered)])
            scenario("agent-ping", agent_pings)
            ledger.current = "sweep"  # one idle sweep: the fixed cost of rate(1 minute)
            workflow.dispatcher.call("timeout_sweeper", {"source": "aws.events", "detail-type": "Scheduled Event"})
            ledger.current = "done"
            if workflow.dispatcher.failures:  # a failed function would leave the figures short
                raise SystemExit(f"cost: a function failed for good: {workflow.dispatcher.failures}")
    return ledger

