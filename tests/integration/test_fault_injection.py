"""Fault injection (issue 7): AWS failing underneath the real handlers.

DynamoDB throttled or answering 5xx (before the write, or after it committed), a failed
condition at every conditional write site, 410 Gone on posts, a Lambda dying between two
steps and its event delivered again, and a workflow that never started. AWS faults are
injected where AWS produces them (on botocore's wire, tests/support/faults.py; in the
gateway recorder); a Lambda's death at a function boundary of ours (the call completes,
or never starts, and the invocation ends there). Nothing replaces our code's decisions.

Lost responses, per non-transactional write (what botocore's retry of the same request
does): conversations.start's create-if-absent finds its own item (fixed here, it used to
answer INTERNAL); the round-robin ticket (UpdateItem ADD) is taken twice, which only
shifts the rotation by one; the connection, presence and status writes are plain
SET/ADD/DELETE and repeat harmlessly; _ensure_agent_profile finds the row it created;
the sweeper's counter repair fails its own condition and is not counted in CounterDrift
(the repair is done); Powertools' idempotency record is covered below. Transactions are
exact: botocore repeats their ClientRequestToken and DynamoDB (and now moto) applies a
token once.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from livechat.api import workflow_tasks
from livechat.chat import conversations, offers, sweeper
from livechat.chat import presence as connections
from livechat.chat import workflow as workflow_module
from livechat.domain import states
from livechat.domain.clock import now, parse_iso
from livechat.domain.snapshots import Agent
from livechat.outbound import failure_mail as notifications
from livechat.outbound.failures import LIVE_CHAT, failed_action
from livechat.store import agents, cursors
from livechat.store import conversations as stored
from livechat.store.keys import AGENT_PK, COUNTER_PK, ENGAGEMENTS, visitor_pk
from livechat.store.tables import AgentModel, CounterModel, VisitorModel, plain
from pynamodb.exceptions import PynamoDBException

from livechat_local import lambdas
from tests.support import faults as fault_support
from tests.support.aws import REGION, TABLE, Gateway
from tests.support.faults import WRITES, Faults, Rule
from tests.support.snapshot import table_snapshot
from tests.support.workflow import SENDER, TEAM, Workflow, eventually, queue_messages, sent_mails
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
    world.settings(**{"accept_timeout_seconds": 100, "fallback_message": FALLBACK, **settings})
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


def slots(agent: AgentModel | Agent) -> dict[str, str]:
    return dict(plain(agent.slots) or {})


def assert_seq_gap_free(conversation_id: str) -> list[str]:
    events = stored.events_after(conversation_id, 0)
    assert [int(e.seq) for e in events] == list(range(1, len(events) + 1))
    assert int(stored.get(conversation_id).last_seq) == len(events)
    return [str(e.type) for e in events]


def assert_chat_happened_once(world: World, chat: Chat, *, engagements: int = 1) -> None:
    """The whole chat's effects, each exactly once."""
    assert [a["type"] for a in chat.answers.values()] == [
        "routing", "chatAccepted", "message", "message", "chatEnded"], chat.answers
    assert assert_seq_gap_free(chat.conversation_id) == CHAT_EVENTS
    conv = stored.get(chat.conversation_id)
    assert conv.status == states.ENDED
    assert [o["outcome"] for o in conv.offers] == ["accepted"]
    for email in (ALICE, BOB):
        row = world.agent_item(email)
        assert (int(row.active), slots(row)) == (0, {}), email
    assert counter(ENGAGEMENTS) == engagements
    # Each side got each stored event once (a client dedupes by seq, but should not have to).
    for side in (chat.visitor, chat.agent):
        seqs = [f["seq"] for f in side.drain() if "seq" in f and f["type"] != "ack"]
        assert len(seqs) == len(set(seqs)), side.frames
    assert len(chat.agent.of_type("chatOffered")) == 1
    assert [f["text"] for f in chat.visitor.drain() if f["type"] == "message"] == [
        "Do you ship to Norway?", "We do."]


def fresh_agents(world: World) -> list[Client]:
    """alice and bob with no chats and one live connection each (Hypothesis runs many
    examples in one test's table: earlier examples' connections are dropped)."""
    for email in (ALICE, BOB):
        world.agent(email)
    return [world.agent_client(ALICE), world.agent_client(BOB)]


def wipe_conversations() -> None:
    """Forget the conversations of earlier examples (one table serves every example)."""
    for item in table_snapshot():
        if item["pk"]["S"].startswith(("CONV#", "CONN#", "VISITOR#")):
            boto3.client("dynamodb", region_name=REGION).delete_item(
                TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})


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
    assert cursors.last_ticket("all") == 1


def test_a_5xx_before_the_write_is_retried_and_the_chat_happens_once(
        world: World, faults: Faults) -> None:
    configure(world)
    rule = faults.inject("dynamodb", None, "before", error="InternalServerError", status=500,
                         attempts=1)
    agents = two_agents(world)

    chat = whole_chat(world, agents)

    assert len(rule.hit) >= 20
    assert_chat_happened_once(world, chat)
    assert cursors.last_ticket("all") == 1


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
    # The round-robin ticket moves inside the offer's transaction now (idempotent with its
    # ClientRequestToken): taken once, where a separate UpdateItem ADD was taken twice.
    assert cursors.last_ticket("all") == 1


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


# The default profile runs a handful of schedules (each is a whole chat, ~2 s); the
# explore profile (HYPOTHESIS_PROFILE=explore) hunts with many more.
SCHEDULES = 60 if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else 5


@pytest.mark.hypothesis
@hsettings(max_examples=SCHEDULES)
@given(
    refused=st.dictionaries(st.integers(0, 50), st.tuples(
        st.sampled_from([("ThrottlingException", 400), ("ProvisionedThroughputExceededException", 400),
                         ("InternalServerError", 500), ("ServiceUnavailable", 503)]),
        st.integers(1, 3)), max_size=12),
    lost=st.frozensets(st.integers(0, 14), max_size=6),
)
def test_any_schedule_of_transient_dynamodb_faults_leaves_one_chat(
        world: World, faults: Faults,
        refused: dict[int, tuple[tuple[str, int], int]], lost: frozenset[int]) -> None:
    # Given some calls refused 1-3 times before they reach the table (throttled, 5xx), and
    # some writes applied and their answers lost (botocore sends them again)
    faults.clear()
    wipe_conversations()
    configure(world)
    agents = fresh_agents(world)
    rules = [faults.inject("dynamodb", None, "before", error=error, status=status,
                           attempts=attempts, nth=frozenset({index}))
             for index, ((error, status), attempts) in refused.items()]
    rules.append(faults.inject("dynamodb", WRITES, "after", nth=lost))
    ticket = cursors.last_ticket("all")
    engaged = counter(ENGAGEMENTS)

    # When a whole chat runs
    chat = whole_chat(world, agents)

    # Then it happened, each of its effects once (a lost round-robin ticket may be taken
    # twice: it only shifts the rotation)
    assert_chat_happened_once(world, chat, engagements=engaged + 1)
    assert cursors.last_ticket("all") - ticket in (1, 2)


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
    rule = faults.inject("dynamodb", {"PutItem"}, "after", site="failure_mail.notify", calls=1)
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


# --- 2. ConditionalCheckFailed at every conditional write site --------------------------
# Each site's write is refused once, as DynamoDB refuses a write whose condition failed
# (for a transaction: one named item's condition, the others fine), nothing applied. The
# caller must retry on a fresh read, or give a clear error; never store half a change.

def conversation_ids() -> list[str]:
    return [item["pk"]["S"].removeprefix("CONV#") for item in table_snapshot()
            if item["pk"]["S"].startswith("CONV#") and item["sk"]["S"] == "META"]


def assert_invariants() -> None:
    """seq gap-free everywhere; every agent's `active` equals its slot markers, and each
    marker is held by its conversation (what the sweeper's repair checks)."""
    for conversation_id in conversation_ids():
        assert_seq_gap_free(conversation_id)
    for agent in agents.list_agents():
        held = slots(agent)
        assert int(agent.active) == len(held), (agent.email, agent.active, held)
        for conversation_id, offer_id in held.items():
            conv = stored.get(conversation_id)
            holder = conv.offer_agent if conv.status == states.OFFERED else conv.agent
            assert conv.status in (states.OFFERED, states.ACTIVE), conv.status
            assert (holder, conv.offer_id) == (agent.email, offer_id)


def walked(world: World) -> tuple[Seen, str]:
    visitor = Seen(world.visitor_client())
    return visitor, world.walk_to_live_card(visitor.client, "sales")


def offered(world: World) -> tuple[Seen, str, Seen, str]:
    """alice (the only agent) has the chat on offer."""
    world.agent(ALICE)
    alice = Seen(world.agent_client(ALICE))
    visitor, conversation_id = walked(world)
    assert visitor.ask("requestChat", conversationId=conversation_id,
                       cardId="live")["type"] == "routing"
    offer = alice.of_type("chatOffered")[0]
    return visitor, conversation_id, alice, str(offer["offerId"])


def live(world: World) -> tuple[Seen, str, Seen]:
    visitor, conversation_id, alice, offer_id = offered(world)
    assert alice.ask("accept", conversationId=conversation_id,
                     offerId=offer_id)["type"] == "chatAccepted"
    return visitor, conversation_id, alice


def event_types(conversation_id: str) -> list[str]:
    return [str(e.type) for e in stored.events_after(conversation_id, 0)]


def _request_refused_once(world: World, faults: Faults, item: str) -> Rule:
    """requestChat whose one transaction (the request with its first offer, offers._offer)
    is refused once on `item`: answered `routing`, one request event, one offer."""
    world.agent(ALICE)
    alice = Seen(world.agent_client(ALICE))
    visitor, conversation_id = walked(world)
    rule = faults.fail_condition("offers._offer", "TransactWriteItems", item=item)

    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")

    assert answer["type"] == "routing"
    assert event_types(conversation_id).count("routing") == 1
    assert len(alice.of_type("chatOffered")) == 1
    return rule


def request_chat_transition(world: World, faults: Faults) -> Rule:
    return _request_refused_once(world, faults, "conversation")  # retried on a fresh read


def request_cursor(world: World, faults: Faults) -> Rule:
    # The round-robin cursor moved by another router between the read and the commit: the
    # router took a ticket of its own (ADD), the one ticket given
    rule = _request_refused_once(world, faults, "rr-cursor")
    assert cursors.last_ticket("all") == 1
    return rule


def offer_binding(world: World, faults: Faults) -> Rule:
    rule = faults.fail_condition("offers._offer", "TransactWriteItems", item="conversation")
    _, conversation_id, _, _ = offered(world)
    conv = stored.get(conversation_id)
    assert (conv.status, conv.offer_agent, [o["outcome"] for o in conv.offers]) == (
        states.OFFERED, ALICE, ["pending"])
    return rule


def offer_slot(world: World, faults: Faults) -> Rule:
    # alice's slot cannot be claimed (she looks full): the next agent in the rotation gets it
    world.agent(ALICE)
    world.agent(BOB)
    alice, bob = Seen(world.agent_client(ALICE)), Seen(world.agent_client(BOB))
    visitor, conversation_id = walked(world)
    rule = faults.fail_condition("offers._offer", "TransactWriteItems", item="agent")

    assert visitor.ask("requestChat", conversationId=conversation_id,
                       cardId="live")["type"] == "routing"

    assert alice.of_type("chatOffered") == []
    assert len(bob.of_type("chatOffered")) == 1
    assert stored.get(conversation_id).offer_agent == BOB
    return rule


def accept_binding(world: World, faults: Faults) -> Rule:
    _, conversation_id, alice, offer_id = offered(world)
    rule = faults.fail_condition("offers.accept", "TransactWriteItems", item="conversation")

    answer = alice.ask("accept", conversationId=conversation_id, offerId=offer_id)

    assert answer["type"] == "chatAccepted"
    assert event_types(conversation_id).count("agentJoined") == 1
    assert counter(ENGAGEMENTS) == 1
    return rule


def decline_binding(world: World, faults: Faults) -> Rule:
    visitor, conversation_id, alice, offer_id = offered(world)
    rule = faults.fail_condition("offers.withdraw", "TransactWriteItems", item="conversation")

    answer = alice.ask("decline", conversationId=conversation_id, offerId=offer_id)

    assert answer["type"] == "ack"
    assert [f["reason"] for f in visitor.of_type("fallback")] == ["not_accepted"]
    assert [o["outcome"] for o in stored.get(conversation_id).offers] == ["declined"]
    return rule


def decline_release(world: World, faults: Faults) -> Rule:
    # The slot's release refused: the decline is refused as a whole, the offer stays open
    _, conversation_id, alice, offer_id = offered(world)
    rule = faults.fail_condition("offers.withdraw", "TransactWriteItems", item="agent")
    before = table_snapshot()

    answer = alice.ask("decline", conversationId=conversation_id, offerId=offer_id)

    assert (answer["type"], answer.get("code")) == ("error", "CONFLICT")
    assert table_snapshot() == before
    assert alice.ask("decline", conversationId=conversation_id, offerId=offer_id)["type"] == "ack"
    return rule


def fallback_binding(world: World, faults: Faults) -> Rule:
    visitor, conversation_id = walked(world)  # nobody to take it
    rule = faults.fail_condition("offers.fallback", "TransactWriteItems", item="conversation")

    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")

    assert (answer["type"], answer.get("reason")) == ("fallback", "no_agent")
    assert event_types(conversation_id).count("fallback") == 1
    assert visitor.of_type("fallback") == [answer]
    return rule


def dialog_answer(world: World, faults: Faults) -> Rule:
    visitor = Seen(world.visitor_client())
    conversation_id = visitor.ask("startConversation", dialogId="sales",
                                  page={"url": "https://example.com"})["conversationId"]
    rule = faults.fail_condition("conversations.answer", "TransactWriteItems", item="conversation")

    answer = visitor.ask("answer", conversationId=conversation_id, cardId="ask", value="Yes")

    assert (answer["type"], answer.get("seq")) == ("ack", 1)
    assert event_types(conversation_id) == ["answerRecorded"]
    return rule


def dialog_capture(world: World, faults: Faults) -> Rule:
    visitor = Seen(world.visitor_client())
    conversation_id = visitor.ask("startConversation", dialogId="sales",
                                  page={"url": "https://example.com"})["conversationId"]
    visitor.ask("answer", conversationId=conversation_id, cardId="ask", value="Yes")
    rule = faults.fail_condition("conversations.capture", "TransactWriteItems", item="conversation")

    answer = visitor.ask("capture", conversationId=conversation_id, cardId="who",
                         fields={"firstName": "Vera", "email": "vera@acme.io"})

    assert (answer["type"], answer.get("seq")) == ("ack", 2)
    assert event_types(conversation_id) == ["answerRecorded", "captureRecorded"]
    assert plain(stored.get(conversation_id).visitor) == {
        "firstName": "Vera", "email": "vera@acme.io"}
    return rule


def message_on(item: str) -> Any:
    def scenario(world: World, faults: Faults) -> Rule:
        visitor, conversation_id, alice = live(world)
        rule = faults.fail_condition("conversations.send_message", "TransactWriteItems", item=item)

        answer = visitor.ask("sendMessage", conversationId=conversation_id, text="Hello?",
                             clientMessageId="m1")

        assert (answer["type"], answer.get("text")) == ("message", "Hello?")
        assert event_types(conversation_id).count("message") == 1
        assert [f["text"] for f in alice.of_type("message")] == ["Hello?"]
        return rule

    return scenario


def end_on(item: str) -> Any:
    def scenario(world: World, faults: Faults) -> Rule:
        visitor, conversation_id, alice = live(world)
        rule = faults.fail_condition("conversations.end", "TransactWriteItems", item=item)

        answer = visitor.ask("endChat", conversationId=conversation_id)

        assert answer["type"] == "chatEnded"
        assert stored.get(conversation_id).status == states.ENDED
        assert len(alice.of_type("chatEnded")) == 1
        return rule

    return scenario


def end_release(world: World, faults: Faults) -> Rule:
    visitor, conversation_id, alice = live(world)
    rule = faults.fail_condition("conversations.end", "TransactWriteItems", item="agent")
    before = table_snapshot()

    answer = visitor.ask("endChat", conversationId=conversation_id)

    assert (answer["type"], answer.get("code")) == ("error", "CONFLICT")
    assert table_snapshot() == before
    assert alice.of_type("chatEnded") == []
    assert visitor.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"
    return rule


def expiry_on(item: str) -> Any:
    def scenario(world: World, faults: Faults) -> Rule:
        world.settings(inactivity_timeout_seconds=600)
        visitor, conversation_id, _ = live(world)
        rule = faults.fail_condition("sweeper.expire_chat", "TransactWriteItems", item=item)
        later = now() + timedelta(seconds=601)

        first = sweeper.sweep(at=later)

        if item in ("conversation", "clock"):  # retried on a fresh read
            assert first.expired == 1
        else:  # the slot's release refused: not expired this minute, the next sweep does it
            assert first.expired == 0
            assert stored.get(conversation_id).status == states.ACTIVE
            assert sweeper.sweep(at=later).expired == 1
        assert stored.get(conversation_id).status == states.EXPIRED
        assert [f["reason"] for f in visitor.of_type("chatEnded")] == ["inactivity"]
        return rule

    return scenario


def conversation_start(world: World, faults: Faults) -> Rule:
    visitor = Seen(world.visitor_client())
    rule = faults.fail_condition("conversations.create", "PutItem")
    before = table_snapshot()

    answer = visitor.ask("startConversation", dialogId="sales", page={"url": "https://example.com"})

    # A fresh id that "exists" but is not ours: refused, nothing stored, and trying again works
    assert (answer["type"], answer.get("code")) == ("error", "INTERNAL")
    assert table_snapshot() == before
    assert visitor.ask("startConversation", dialogId="sales",
                       page={"url": "https://example.com"})["type"] == "conversationStarted"
    return rule


def agent_profile(world: World, faults: Faults) -> Rule:
    # A Cognito agent with no profile yet: creating it is refused (as if it existed), and
    # the row is not there when read: the create is tried again and the handshake succeeds
    token = world.token(ALICE)
    rule = faults.fail_condition("agents.create_if_absent", "PutItem")

    status, _ = world.connect({"token": token})

    assert status == 200 and world.agent_item(ALICE).connections
    assert world.agent_item(ALICE).live_chat
    return rule


def agent_presence(world: World, faults: Faults) -> Rule:
    world.agent(ALICE)
    token = world.token(ALICE)
    rule = faults.fail_condition("agents.add_connection", "UpdateItem")
    before = table_snapshot()

    with pytest.raises(PynamoDBException):
        world.connect({"token": token})

    assert table_snapshot() == before  # no connection item left behind for a failed handshake
    status, _ = world.connect({"token": token})
    assert status == 200 and len(world.agent_item(ALICE).connections or ()) == 1
    return rule


def agent_status(world: World, faults: Faults) -> Rule:
    world.agent(ALICE)
    alice = Seen(world.agent_client(ALICE))
    rule = faults.fail_condition("agents.set_status", "UpdateItem")
    before = table_snapshot()

    answer = alice.ask("setStatus", status="away")

    assert (answer["type"], answer.get("code")) == ("error", "INTERNAL")
    assert table_snapshot() == before
    assert alice.ask("setStatus", status="away")["type"] == "ack"
    assert world.agent_item(ALICE).status == "away"
    return rule


def agent_disconnect(world: World, faults: Faults) -> Rule:
    # Forgetting the connection on the agent's row is refused: the connection item still
    # goes, and the stale id in the row is dropped by the first post that answers 410
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    rule = faults.fail_condition("agents.remove_connections", "UpdateItem")

    alice.disconnect()

    assert connections.caller_of(alice.connection_id) is None
    assert world.agent_item(ALICE).connections == {alice.connection_id}
    world.gateway.dead.add(alice.connection_id)  # API Gateway: that connection is gone
    visitor, conversation_id = walked(world)
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    assert answer["type"] == "routing"
    assert [f["reason"] for f in visitor.of_type("fallback")] == ["no_agent"]
    assert world.agent_item(ALICE).connections is None
    return rule


def visitor_forget(world: World, faults: Faults) -> Rule:
    # The visitor's other tab died; a post finds it (410) and dropping it from the
    # visitor's row is refused: that post still goes on, and the next one drops it
    token = world.visitor_token()["visitorToken"]
    tab, dead_tab = Seen(world.visitor_client(token)), world.visitor_client(token)
    world.gateway.dead.add(dead_tab.connection_id)
    conversation_id = tab.ask("startConversation", dialogId="sales",
                              page={"url": "https://example.com"})["conversationId"]
    rule = faults.fail_condition("connections.remove_visitor_connections", "UpdateItem")

    answered = tab.ask("answer", conversationId=conversation_id, cardId="ask", value="Yes")

    assert answered["type"] == "ack"
    row = VisitorModel.get(visitor_pk(tab.client.principal), "VISITOR", consistent_read=True)
    assert row.connections == {tab.client.connection_id, dead_tab.connection_id}
    assert connections.caller_of(dead_tab.connection_id) is None
    assert tab.ask("capture", conversationId=conversation_id, cardId="who",
                   fields={"firstName": "Vera", "email": "vera@acme.io"})["type"] == "ack"
    row = VisitorModel.get(visitor_pk(tab.client.principal), "VISITOR", consistent_read=True)
    assert row.connections == {tab.client.connection_id}
    return rule


def counter_repair(world: World, faults: Faults) -> Rule:
    world.agent(ALICE)
    AgentModel(AGENT_PK, ALICE).update(actions=[AgentModel.active.set(3)])  # drifted
    rule = faults.fail_condition("agents.repair_slots", "UpdateItem")

    first = sweeper.sweep(at=now())

    assert first.repaired == 0  # the row changed under it (so it seems): next minute
    assert int(world.agent_item(ALICE).active) == 3
    assert sweeper.sweep(at=now()).repaired_agents == [ALICE]
    assert int(world.agent_item(ALICE).active) == 0
    return rule


CONDITION_SITES: dict[str, Any] = {
    "offers._offer[conversation] (the request)": request_chat_transition,
    "offers._offer[rr-cursor]": request_cursor,
    "offers._offer[conversation]": offer_binding,
    "offers._offer[agent slot]": offer_slot,
    "offers.accept[conversation]": accept_binding,
    "offers.withdraw[conversation]": decline_binding,
    "offers.withdraw[agent slot]": decline_release,
    "offers.fallback[conversation]": fallback_binding,
    "conversations.answer[conversation]": dialog_answer,
    "conversations.capture[conversation]": dialog_capture,
    "conversations.send_message[clock]": message_on("clock"),
    "conversations.send_message[message]": message_on("message"),
    "conversations.end[conversation]": end_on("conversation"),
    "conversations.end[clock]": end_on("clock"),
    "conversations.end[agent slot]": end_release,
    "sweeper.expire_chat[conversation]": expiry_on("conversation"),
    "sweeper.expire_chat[clock]": expiry_on("clock"),
    "sweeper.expire_chat[agent slot]": expiry_on("agent"),
    "conversations.create": conversation_start,
    "agents.create_if_absent": agent_profile,
    "agents.add_connection": agent_presence,
    "agents.set_status": agent_status,
    "agents.remove_connections": agent_disconnect,
    "connections.remove_visitor_connections": visitor_forget,
    "agents.repair_slots": counter_repair,
}


@pytest.mark.parametrize("site", list(CONDITION_SITES))
def test_a_failed_condition_at_each_write_site_is_retried_or_refused_cleanly(
        world: World, faults: Faults, site: str) -> None:
    configure(world)

    rule = CONDITION_SITES[site](world, faults)

    assert len(rule.hit) == 1, f"the write at {site} was never refused"
    assert_invariants()


def test_a_failed_condition_on_the_failure_mails_idempotency_record_still_mails_once(
        world: World, workflow: Workflow, faults: Faults) -> None:
    # Powertools' "in progress" PutItem (a conditional write made on our behalf) refused
    configure(world, failure_emails={"from": SENDER, "to": [TEAM]})
    rule = faults.fail_condition("failure_mail.notify", "PutItem")
    visitor, conversation_id = walked(world)

    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")

    assert answer["type"] == "fallback"
    assert len(rule.hit) == 1
    assert len(sent_mails()) == 1  # Powertools read the record back, found none, and retried
    assert queue_messages(workflow.notify_dlq) == []


# --- 4. 410 Gone on posts ---------------------------------------------------------------

def items_by_key(snapshot: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["pk"]["S"], i["sk"]["S"]): i for i in snapshot}


def changed(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """The keys of the items a step added, removed or changed; the dashboard's counters
    left out (a random shard each time: tests/integration/test_stats.py counts them)."""
    old, new = items_by_key(before), items_by_key(after)
    return {key for key in old.keys() | new.keys()
            if old.get(key) != new.get(key) and not key[0].startswith("STATS#")}


def test_an_agents_dead_connection_is_dropped_and_the_offer_reaches_the_live_one(
        world: World) -> None:
    # Given alice in two tabs, one of which died without a $disconnect
    configure(world)
    world.agent(ALICE)
    live_tab, dead_tab = world.agent_client(ALICE), world.agent_client(ALICE)
    world.gateway.dead.add(dead_tab.connection_id)
    visitor, conversation_id = walked(world)
    before = table_snapshot()

    # When the chat is offered to her
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")

    # Then the live tab rings, the dead one is forgotten, and nothing else changed
    assert answer["type"] == "routing"
    assert [f["conversationId"] for f in live_tab.of_type("chatOffered")] == [conversation_id]
    assert world.agent_item(ALICE).connections == {live_tab.connection_id}
    assert connections.caller_of(dead_tab.connection_id) is None
    assert changed(before, table_snapshot()) == {
        (f"CONV#{conversation_id}", "META"), (f"CONV#{conversation_id}", "EVT#0000000003"),
        ("AGENT", ALICE), ("AGENT", "#RR#all"), (f"CONN#{dead_tab.connection_id}", "CONN")}
    conv = stored.get(conversation_id)
    assert (conv.status, conv.offer_agent, int(world.agent_item(ALICE).active)) == (
        states.OFFERED, ALICE, 1)


def test_a_visitors_dead_tab_is_dropped_and_the_live_tab_still_gets_the_message(
        world: World) -> None:
    # Given a live chat whose visitor has a second tab that died
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    token = world.visitor_token()["visitorToken"]
    tab, dead_tab = Seen(world.visitor_client(token)), world.visitor_client(token)
    conversation_id = world.walk_to_live_card(tab.client, "sales")
    tab.ask("requestChat", conversationId=conversation_id, cardId="live")
    offer = next(f for f in alice.frames() if f["type"] == "chatOffered")
    assert alice.ask("accept", conversationId=conversation_id,
                     offerId=offer["offerId"])["type"] == "chatAccepted"
    world.gateway.dead.add(dead_tab.connection_id)
    tab.drain()
    before = table_snapshot()

    # When alice says something
    said = alice.ask("sendMessage", conversationId=conversation_id, text="Hi Vera",
                     clientMessageId="a1")

    # Then the live tab gets it, the dead tab is forgotten, nothing else changed
    assert said["type"] == "message"
    assert [f["text"] for f in tab.of_type("message")] == ["Hi Vera"]
    row = VisitorModel.get(visitor_pk(tab.client.principal), "VISITOR", consistent_read=True)
    assert row.connections == {tab.client.connection_id}
    assert changed(before, table_snapshot()) == {
        (f"CONV#{conversation_id}", "META#CLOCK"), (f"CONV#{conversation_id}", "CMID#a1"),
        (visitor_pk(tab.client.principal), "VISITOR"),
        (f"CONN#{dead_tab.connection_id}", "CONN")}
    assert stored.get(conversation_id).status == states.ACTIVE


# --- 5. a Lambda dying between two steps, and the same event delivered again ------------

class LambdaDied(RuntimeError):
    """The invocation ended here (a timeout, the runtime killed): nothing after it ran."""


def die_before_first_call(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """The first call of owner.name never happens: the invocation dies just before it."""
    original, calls = getattr(owner, name), []

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise LambdaDied(f"died before {name}")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, dying)
    return calls


def die_after_first_call(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """The first call of owner.name completes (its writes committed), then the invocation
    dies before doing anything with the result."""
    original, calls = getattr(owner, name), []

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        result = original(*args, **kwargs)
        if len(calls) == 1:
            raise LambdaDied(f"died after {name}")
        return result

    monkeypatch.setattr(owner, name, dying)
    return calls


def deliver_twice(client: Client, action: str, **fields: Any) -> list[dict[str, Any]]:
    """The same frame (same body, same requestId) delivered again, as a retried
    invocation or a client re-sending it would; every frame the client got."""
    body = json.dumps({"action": action, "requestId": f"retried-{uuid.uuid4().hex[:6]}", **fields})
    first = client.raw(body)
    return first + client.raw(body)


def answers_to(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if str(f.get("requestId", "")).startswith("retried-")]


@pytest.mark.parametrize(("dying", "answered"), [
    # before its one transaction (the request with its first offer): nothing was stored, the
    # first invocation gives no answer (INTERNAL) and its retry routes the request
    (die_before_first_call, ["error", "routing"]),
    # after it: the first `routing` went out before the invocation died; the retry says it again
    (die_after_first_call, ["routing", "routing"]),
])
def test_request_chat_dying_around_its_transaction_is_routed_once_by_its_retry(
        world: World, monkeypatch: pytest.MonkeyPatch, dying: Any, answered: list[str]) -> None:
    configure(world)
    world.agent(ALICE)
    alice = Seen(world.agent_client(ALICE))
    visitor, conversation_id = walked(world)
    dying(monkeypatch, offers, "route")

    frames = deliver_twice(visitor.client, "requestChat", conversationId=conversation_id,
                           cardId="live")

    assert [a["type"] for a in answers_to(frames)] == answered, answers_to(frames)
    assert len(alice.of_type("chatOffered")) == 1
    assert event_types(conversation_id).count("routing") == 1
    assert cursors.last_ticket("all") == 1
    conv = stored.get(conversation_id)
    assert (conv.status, conv.offer_agent, [o["outcome"] for o in conv.offers]) == (
        states.OFFERED, ALICE, ["pending"])
    assert_invariants()


def test_accept_dying_after_its_transaction_is_answered_chat_accepted_by_its_retry(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(world)
    visitor, conversation_id, alice, offer_id = offered(world)
    die_after_first_call(monkeypatch, offers, "accept")

    frames = deliver_twice(alice.client, "accept", conversationId=conversation_id,
                           offerId=offer_id)

    answers = answers_to(frames)
    assert [a["type"] for a in answers] == ["error", "chatAccepted"], answers
    assert answers[0]["code"] == "INTERNAL"  # the first invocation died: no answer from it
    assert [t.get("event") for t in answers[1]["transcript"]].count("agentJoined") == 1
    assert len(visitor.of_type("agentJoined")) == 1
    assert event_types(conversation_id).count("agentJoined") == 1
    assert counter(ENGAGEMENTS) == 1
    assert int(world.agent_item(ALICE).active) == 1
    assert_invariants()


def test_decline_dying_after_its_transaction_is_acked_and_finishes_the_request_on_its_retry(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a round-robin chat offered to one of two available agents, and the decline's
    # invocation dying after its transaction committed, before the next step
    configure(world)
    alice, bob = (Seen(c) for c in two_agents(world))
    visitor, conversation_id = walked(world)
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    alice_offers, bob_offers = alice.of_type("chatOffered"), bob.of_type("chatOffered")
    decliner, other = (alice, bob) if alice_offers else (bob, alice)
    offer_id = str((alice_offers or bob_offers)[0]["offerId"])
    die_after_first_call(monkeypatch, offers, "decline")

    # When Lambda delivers the decline again
    frames = deliver_twice(decliner.client, "decline", conversationId=conversation_id, offerId=offer_id)

    # Then the retry is acked and does at once what the timeout would have: round-robin
    # ends in the fallback, and the other agent is never offered the chat
    answers = answers_to(frames)
    assert [a["type"] for a in answers] == ["error", "ack"], answers
    assert [f["reason"] for f in visitor.of_type("fallback")] == ["not_accepted"]
    assert other.of_type("chatOffered") == []
    assert stored.get(conversation_id).status == states.FALLBACK
    assert_invariants()


def test_end_chat_dying_after_its_transaction_tells_both_sides_on_its_retry(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(world)
    visitor, conversation_id, alice = live(world)
    alice.drain()
    die_after_first_call(monkeypatch, conversations, "end")

    frames = deliver_twice(visitor.client, "endChat", conversationId=conversation_id)

    answers = answers_to(frames)
    assert [a["type"] for a in answers] == ["error", "chatEnded"], answers
    assert [f["reason"] for f in alice.of_type("chatEnded")] == ["visitor"]
    assert event_types(conversation_id).count("chatEnded") == 1
    assert (int(world.agent_item(ALICE).active), slots(world.agent_item(ALICE))) == (0, {})
    assert_invariants()


def test_a_deadline_task_dying_after_the_withdraw_finishes_the_request_once_on_its_retry(
        world: World, workflow: Workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a team chat offered to one of two team mates for 1 s, and the deadline task
    # dying once after it withdrew the offer, before the next step
    configure(world, {"mode": "team", "team": "emea"}, accept_timeout_seconds=1,
              team_retry_agents=1, failure_emails={"from": SENDER, "to": [TEAM]})
    world.agent(ALICE, teams=("emea",))
    world.agent(BOB, teams=("emea",))
    alice, bob = Seen(world.agent_client(ALICE)), Seen(world.agent_client(BOB))
    calls = die_before_first_call(monkeypatch, workflow_module, "next_step")
    original = workflow_module.next_step
    # The task dies the way the workflow retries (botocore gave up: TransientError)

    def transient(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except LambdaDied as died:
            raise workflow_tasks.TransientError(str(died)) from died

    monkeypatch.setattr(workflow_module, "next_step", transient)
    visitor, conversation_id = walked(world)
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    first, second = (alice, bob) if alice.of_type("chatOffered") else (bob, alice)

    # When the offer times out (the Retry waits 1 s, then runs the deadline task again)
    offered_again = eventually(lambda: second.of_type("chatOffered"), timeout=20)

    # Then the team's next agent got the chat once, the first one was told once
    assert len(calls) >= 2
    assert [f["conversationId"] for f in offered_again] == [conversation_id]
    assert [f["reason"] for f in first.of_type("offerWithdrawn")] == ["expired"]
    conv = stored.get(conversation_id)
    assert [o["outcome"] for o in conv.offers] == ["expired", "pending"]
    assert visitor.of_type("fallback") == []
    assert_invariants()


def test_a_failure_mail_whose_invocation_died_after_sending_is_sent_again_once_and_never_more(
        world: World, workflow: Workflow, faults: Faults, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given notify_failure dying after SES took the mail: the write that marks the record
    # done fails for good (every attempt), so the invocation fails with the record "in
    # progress"; Lambda retries a minute later, after the invocation's 29 s timeout
    configure(world, failure_emails={"from": SENDER, "to": [TEAM]})
    rule = faults.inject("dynamodb", {"UpdateItem"}, "before", site="failure_mail.notify",
                         calls=1, attempts=99)
    monkeypatch.setattr(lambdas.Context, "get_remaining_time_in_millis", lambda self: 1)
    visitor, conversation_id = walked(world)

    # When nobody can take the chat (its fallback is mailed)
    assert visitor.ask("requestChat", conversationId=conversation_id,
                       cardId="live")["type"] == "fallback"

    # Then SES sent it twice: once before the crash, once on the retry. SES has no
    # idempotency token, so a crash between its answer and our record is at least once
    # (the alternative, never retrying an "in progress" mail, loses the mails whose
    # invocation died before sending). After the retry the record is done: no third mail.
    assert rule.hit
    assert len(sent_mails()) == 2
    assert queue_messages(workflow.notify_dlq) == []
    notifications.notify(failed_action(LIVE_CHAT, "no_agent", conversation_id=conversation_id))
    assert len(sent_mails()) == 2


# --- 6. a workflow that never started ---------------------------------------------------

def test_a_workflow_that_fails_to_start_is_finished_by_the_sweeper_as_a_timeout_would(
        world: World, workflow: Workflow, faults: Faults) -> None:
    # Given Step Functions refusing StartExecution (every attempt botocore makes)
    configure(world, accept_timeout_seconds=1, failure_emails={"from": SENDER, "to": [TEAM]})
    rule = faults.inject("sfn", {"StartExecution"}, "before", error="ServiceUnavailable",
                         status=503, attempts=99)
    world.agent(ALICE)
    alice = Seen(world.agent_client(ALICE))
    visitor, conversation_id = walked(world)

    # When the chat is requested: the offer is made, its timer never starts
    assert visitor.ask("requestChat", conversationId=conversation_id,
                       cardId="live")["type"] == "routing"
    offer = alice.of_type("chatOffered")[0]
    assert rule.hit and workflow.executions() == []
    expires_at = stored.get(conversation_id).offer_expires_at
    assert expires_at is not None
    time.sleep(max(0.0, (parse_iso(expires_at) - now()).total_seconds()) + 0.05)

    # Then the sweeper, a minute later, does what the deadline task would have done
    report = sweeper.sweep(at=now() + timedelta(seconds=60))

    assert report.recovered == 1
    assert alice.of_type("offerWithdrawn") == [{
        "type": "offerWithdrawn", "conversationId": conversation_id,
        "offerId": offer["offerId"], "reason": "expired"}]
    assert [f["reason"] for f in visitor.of_type("fallback")] == ["not_accepted"]
    assert stored.get(conversation_id).status == states.FALLBACK
    assert (int(world.agent_item(ALICE).active), slots(world.agent_item(ALICE))) == (0, {})
    assert len(sent_mails()) == 1
    assert sweeper.sweep(at=now() + timedelta(seconds=120)).recovered == 0


# --- 7. a timer that could not be stopped ----------------------------------------------

def test_a_timer_that_could_not_be_stopped_finds_the_chat_live_and_ends(
        world: World, workflow: Workflow, faults: Faults) -> None:
    # Given Step Functions refusing StopExecution, every attempt botocore makes
    configure(world, accept_timeout_seconds=2, failure_emails={"from": SENDER, "to": [TEAM]})
    visitor, conversation_id, alice, offer_id = offered(world)
    rule = faults.inject("sfn", {"StopExecution"}, "before", error="ServiceUnavailable", status=503, attempts=99)

    # When the agent accepts: the chat is theirs all the same
    assert alice.ask("accept", conversationId=conversation_id, offerId=offer_id)["type"] == "chatAccepted"
    assert rule.hit

    # Then the timer wakes at the deadline, finds no open offer and ends; the chat stays live
    done = eventually(lambda: [e for e in workflow.executions() if e["status"] == "SUCCEEDED"], timeout=10)
    assert len(done) == 1
    entered = [e["stateEnteredEventDetails"]["name"] for e in workflow.history(done[0]["executionArn"])
               if "stateEnteredEventDetails" in e]
    assert entered == ["WaitForAccept", "CheckDeadline", "Offered?", "Done"]
    assert stored.get(conversation_id).status == states.ACTIVE
    assert visitor.of_type("fallback") == [] and sent_mails() == []
