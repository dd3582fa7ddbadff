"""Fault injection (issue 7): AWS failing underneath the real handlers.

DynamoDB throttled or answering 5xx (before the write, or after it committed), a failed
condition at every conditional write site, 410 Gone on posts, a Lambda crashing between
two steps and being delivered again, and a workflow that never started. Every fault is
injected where AWS would produce it (botocore's wire, moto's backends, the Lambda
dispatcher), never by mocking our own code's decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from livechat import states, store
from livechat.models import COUNTER_PK, ENGAGEMENTS, AgentModel, CounterModel, plain

from livechat_local import lambdas
from tests.support import faults as fault_support
from tests.support.aws import REGION, TABLE, Gateway
from tests.support.faults import Faults
from tests.support.workflow import SENDER, TEAM, Workflow, queue_messages, sent_mails
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"
BOB = "bob@example.com"
FALLBACK = "We'll e-mail you."
# What one routed-and-accepted chat stores, in order (the dialog's answer and capture,
# the request, the join, one message each way, the end).
CHAT_EVENTS = ["answerRecorded", "captureRecorded", "routing", "agentJoined", "message",
               "message", "chatEnded"]


@pytest.fixture
def faults(aws: Gateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    injected = fault_support.install(monkeypatch)
    yield injected
    injected.clear()  # clients built during the test keep the handler until the teardown


def configure(world: World, routing: dict[str, Any] | None = None, **settings: Any) -> None:
    world.settings(accept_timeout_seconds=100, fallback_message=FALLBACK, **settings)
    world.live_dialog("sales", routing or {"mode": "round_robin"})


@dataclass
class Seen:
    """Every frame one client received, answers included."""

    client: Client
    frames: list[dict[str, Any]] = field(default_factory=list)

    def ask(self, action: str, **fields: Any) -> dict[str, Any]:
        answer = self.client.ask(action, **fields)
        self.frames.append(answer)
        return answer

    def drain(self) -> list[dict[str, Any]]:
        self.frames.extend(self.client.frames())
        return self.frames

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.drain() if f["type"] == kind]


@dataclass
class Chat:
    conversation_id: str
    visitor: Seen
    agent: Seen
    answers: dict[str, dict[str, Any]]


def whole_chat(world: World, agents: list[Client]) -> Chat:
    """A visitor walks the dialog, asks for a person, the offered agent accepts, each side
    says one thing and the visitor ends the chat."""
    visitor = Seen(world.visitor_client())
    conversation_id = world.walk_to_live_card(visitor.client, "sales")
    answers = {"requestChat": visitor.ask("requestChat", conversationId=conversation_id,
                                          cardId="live")}
    offered = [(a, f) for a in agents for f in a.frames() if f["type"] == "chatOffered"]
    assert len(offered) == 1, offered
    agent, offer = Seen(offered[0][0], [offered[0][1]]), offered[0][1]
    answers["accept"] = agent.ask("accept", conversationId=conversation_id,
                                  offerId=offer["offerId"])
    answers["visitor says"] = visitor.ask("sendMessage", conversationId=conversation_id,
                                          text="Do you ship to Norway?", clientMessageId="v1")
    answers["agent says"] = agent.ask("sendMessage", conversationId=conversation_id,
                                      text="We do.", clientMessageId="a1")
    answers["endChat"] = visitor.ask("endChat", conversationId=conversation_id)
    return Chat(conversation_id, visitor, agent, answers)


def counter(name: str) -> int:
    try:
        return int(CounterModel.get(COUNTER_PK, name, consistent_read=True).value)
    except CounterModel.DoesNotExist:
        return 0


def slots(agent: AgentModel) -> dict[str, str]:
    return dict(plain(agent.slots) or {})


def assert_seq_gap_free(conversation_id: str) -> list[str]:
    events = store.events_after(conversation_id, 0)
    assert [int(e.seq) for e in events] == list(range(1, len(events) + 1))
    assert int(store.get_conversation(conversation_id).last_seq) == len(events)
    return [str(e.type) for e in events]


def assert_chat_happened_once(world: World, chat: Chat) -> None:
    """The whole chat's effects, each exactly once."""
    assert [a["type"] for a in chat.answers.values()] == [
        "routing", "chatAccepted", "message", "message", "chatEnded"], chat.answers
    assert assert_seq_gap_free(chat.conversation_id) == CHAT_EVENTS
    conv = store.get_conversation(chat.conversation_id)
    assert conv.status == states.ENDED
    assert [o["outcome"] for o in conv.offers] == ["accepted"]
    for email in (ALICE, BOB):
        row = world.agent_item(email)
        assert (int(row.active), slots(row)) == (0, {}), email
    assert counter(ENGAGEMENTS) == 1
    # Each side got each stored event once (a client dedupes by seq, but should not have to).
    for side in (chat.visitor, chat.agent):
        seqs = [f["seq"] for f in side.drain() if "seq" in f and f["type"] != "ack"]
        assert len(seqs) == len(set(seqs)), side.frames
    assert len(chat.agent.of_type("chatOffered")) == 1
    assert [f["text"] for f in chat.visitor.drain() if f["type"] == "message"] == [
        "Do you ship to Norway?", "We do."]


def two_agents(world: World) -> list[Client]:
    world.agent(ALICE)
    world.agent(BOB)
    return [world.agent_client(ALICE), world.agent_client(BOB)]


# --- 1. DynamoDB throttling and 5xx -----------------------------------------------------

@pytest.mark.parametrize("error", ["ThrottlingException", "ProvisionedThroughputExceededException"])
def test_a_throttled_table_is_retried_and_the_chat_happens_once(
        world: World, faults: Faults, error: str) -> None:
    # Given every DynamoDB call refused twice before it reaches the table
    configure(world)
    rule = faults.throttle_dynamodb(error, attempts=2)
    agents = two_agents(world)

    # When a whole chat runs
    chat = whole_chat(world, agents)

    # Then botocore's retries absorbed it: the chat happened, each effect once
    assert len(rule.hit) >= 2 * 20, "the fault did not fire on every call"
    assert_chat_happened_once(world, chat)
    assert counter("RR#all") == 1


def test_a_5xx_before_the_write_is_retried_and_the_chat_happens_once(
        world: World, faults: Faults) -> None:
    configure(world)
    rule = faults.inject("dynamodb", None, "before", error="InternalServerError", status=500,
                         attempts=1)
    agents = two_agents(world)

    chat = whole_chat(world, agents)

    assert len(rule.hit) >= 20
    assert_chat_happened_once(world, chat)
    assert counter("RR#all") == 1


def test_a_response_lost_after_the_write_committed_does_not_apply_it_twice(
        world: World, faults: Faults) -> None:
    # Given every write applied by the table and then answered 500, so botocore sends the
    # identical request again (a transaction with the same ClientRequestToken)
    configure(world)
    rule = faults.lose_dynamodb_responses()
    agents = two_agents(world)  # their $connect writes are lost-and-retried too

    chat = whole_chat(world, agents)

    # Then every transaction took effect once: one offer, one join, one event per action
    transactions = [c for c in rule.hit if c.operation == "TransactWriteItems"]
    assert len(transactions) >= 7, [c.operation for c in rule.hit]
    assert_chat_happened_once(world, chat)
    # The round-robin ticket (UpdateItem ADD, not idempotent) was taken twice: a skipped
    # ticket only shifts the rotation by one (see the report in the module docstring).
    assert counter("RR#all") == 2


def test_every_transaction_carries_one_client_request_token_across_its_retries(
        world: World, faults: Faults) -> None:
    # Given the accept's transaction refused (5xx) on its first attempt
    configure(world)
    agents = two_agents(world)
    rule = faults.inject("dynamodb", {"TransactWriteItems"}, "before", attempts=2, calls=1)

    whole_chat(world, agents)

    # Then PynamoDB's TransactWrite sent a token (botocore fills the idempotency token
    # member), and the retries repeated it: that is what DynamoDB dedupes on
    tokens = [c.body.get("ClientRequestToken") for c in rule.hit]
    assert len(tokens) == 2 and tokens[0] and tokens[0] == tokens[1], tokens


# --- the emulator keeps DynamoDB's token semantics (livechat_local/moto_patches.py) -----

def _put_counter(client: Any, token: str, value: int) -> Any:
    return client.transact_write_items(
        ClientRequestToken=token,
        TransactItems=[{"Update": {
            "TableName": TABLE, "Key": {"pk": {"S": COUNTER_PK}, "sk": {"S": "T"}},
            "UpdateExpression": "ADD #v :n", "ExpressionAttributeNames": {"#v": "value"},
            "ExpressionAttributeValues": {":n": {"N": str(value)}}}}])


def test_a_repeated_client_request_token_is_applied_once(aws: Gateway) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    token = uuid.uuid4().hex

    _put_counter(client, token, 1)
    _put_counter(client, token, 1)  # the same request again: success, not applied
    _put_counter(client, uuid.uuid4().hex, 1)  # a new request

    assert counter("T") == 2


def test_a_client_request_token_reused_with_other_parameters_is_refused(aws: Gateway) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    token = uuid.uuid4().hex
    _put_counter(client, token, 1)

    with pytest.raises(client.exceptions.ClientError) as refused:
        _put_counter(client, token, 5)

    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert counter("T") == 1


def test_a_lost_response_on_the_failure_mails_idempotency_record_still_mails_once(
        world: World, workflow: Workflow, faults: Faults, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the first PutItem of notify_failure's idempotency record (Powertools: "in
    # progress") applied and its response lost: the retry finds the record it wrote and
    # takes the invocation for a concurrent one
    configure(world, failure_emails={"from": SENDER, "to": [TEAM]})
    rule = faults.inject("dynamodb", {"PutItem"}, "after", site="notifications.notify", calls=1)
    # Lambda retries an async invocation a minute later at the earliest, after our 29 s
    # timeout: the dispatcher retries at once, so the invocation's time is made to run out.
    monkeypatch.setattr(lambdas.Context, "get_remaining_time_in_millis", lambda self: 1)
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")

    # When nobody can take the chat (the fallback reports the failure)
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")

    # Then the retry sent the mail, once, and nothing was dead-lettered
    assert answer["type"] == "fallback"
    assert len(rule.hit) == 1
    assert len(sent_mails()) == 1
    assert queue_messages(workflow.notify_dlq) == []
