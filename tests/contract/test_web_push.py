"""protocol.md "Second round", Web Push and Reachability, over `livechat dev`: an offer to an
available agent with no live connection goes to her push subscriptions as an RFC 8030 POST
(`TTL` = the offer's remaining seconds, `Urgency: high`, `Topic` = the first 32 characters of
base64url(SHA-256(conversationId))), signed with VAPID (RFC 8292: `k` = /config.json's
`vapidPublicKey`, JWT `aud` = the endpoint's origin, `exp` <= 24 h, `sub` = mailto: the
failure-e-mail sender) and encrypted (RFC 8291 aes128gcm) to the `chatOffered` JSON, at most
3,000 bytes; `offerWithdrawn` follows under the same Topic. 404/410 deletes the subscription;
any other 4xx but 408/429 is refused (routing moves on at once, the subscription kept); a
timeout, 408, 429 or 5xx is delivered-unknown (the offer stands until its timeout). A push-only
available agent is reachable: offered chats and counted by `availability`.

The push service is the test's own (tests/pushservice.py: its own ECDH keys and auth secret,
decryption with http_ece, the JWT verified with PyJWT). Black-box: HTTP and WebSocket to the
stack, no livechat import. The stack is one of its own (kit.push_workspace_yaml): Alice and
Bob, and a dialog routed to Alice first, so each test knows whom an offer goes to first and no
subscription is left on the shared stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.blackbox import Client, Stack, Visitor, closing, run, running_stack
from tests.contract.kit import (
    ADA,
    ALICE,
    BOB,
    FAILURE_FROM,
    FAILURE_TO,
    FALLBACK_MESSAGES,
    LIVE,
    PUSH_ACCEPT_TIMEOUT,
    PUSH_AGENTS,
    RR,
    SLACK,
    TO_ALICE,
    has,
    instant,
    now,
    passwords,
    push_topic,
    push_workspace_yaml,
)
from tests.pushservice import Push, PushService, Subscription

pytestmark = pytest.mark.contract

AT_ONCE = PUSH_ACCEPT_TIMEOUT / 2  # "at once": well before the offer would have timed out
MAX_PAYLOAD = 3000
OFFER_FIELDS = ("type", "conversationId", "offerId", "visitor", "page", "expiresAt",
                "acceptTimeoutSeconds")
PAGE = {"url": "https://shop.example.com/pricing", "title": "Pricing", "referrer": ""}


# --- the stack, the push service ------------------------------------------------------------

@pytest.fixture(scope="module")
def push_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("contract-push"), push_workspace_yaml(),
                       passwords(PUSH_AGENTS)) as stack:
        yield stack


@pytest.fixture(scope="module")
def vapid_key(push_stack: Stack) -> str:
    config = push_stack.http.get(push_stack.endpoints.http + "config.json", timeout=10).json()
    key = config.get("vapidPublicKey")
    assert isinstance(key, str) and key, config
    return key


@pytest.fixture
def service(vapid_key: str) -> Iterator[PushService]:
    with PushService(expected_vapid_key=vapid_key) as running:
        yield running


# --- Given steps ----------------------------------------------------------------------------

@dataclass
class Given:
    stack: Stack
    service: PushService
    alice: Subscription  # Alice's push subscription (she has no live connection)
    visitor: Visitor
    bob: Client | None  # Bob's live connection, when the test wants him reachable
    later: list[Client] = field(default_factory=list)

    async def alice_opens_the_inbox(self) -> Client:
        client = await self.stack.agent(ALICE, status=None)
        self.later.append(client)
        return client


@contextlib.asynccontextmanager
async def push_only_alice(stack: Stack, service: PushService, *, answer: int = 201,
                          bob: bool = False) -> AsyncIterator[Given]:
    """Alice available, subscribed to the test's push service (which answers `answer`), her
    inbox closed; Bob available with a live connection when `bob`, else not connected (so
    unreachable: he never subscribes); a visitor. At the end everything is closed, every offer
    still open to Alice declined and her subscription removed, so that nothing of one test
    (a late `offerWithdrawn`) reaches the next test's push service."""
    alice = await stack.agent(ALICE, "available")
    subscription = service.subscribe(f"alice-{uuid.uuid4().hex[:8]}")
    acked = await alice.ask("subscribePush", subscription=dict(subscription))
    assert (acked.get("type"), acked.get("action")) == ("ack", "subscribePush"), acked
    service.respond(subscription, answer)
    await alice.close()  # protocol.md: a connection answering 410 counts as absent anyway
    given = Given(stack, service, subscription, await stack.visitor(),
                  await stack.agent(BOB, "available") if bob else None)
    try:
        yield given
    finally:
        await closing(given.visitor, *([given.bob] if given.bob else []), *given.later)
        cleanup = await stack.agent(ALICE, status=None)
        for offer in (await cleanup.ok("listOffers", "offers"))["items"]:
            await cleanup.ask("decline", conversationId=offer["conversationId"],
                              offerId=offer["offerId"])
        await cleanup.ask("unsubscribePush", endpoint=subscription["endpoint"])
        await closing(cleanup)


async def requested(visitor: Visitor, dialog: str = TO_ALICE, page: dict[str, Any] | None = None,
                    fields: dict[str, str] | None = None) -> tuple[str, float]:
    """A new conversation of `dialog` (its capture card filled in for TO_ALICE) whose visitor
    asked for a chat, answered `routing`: its id, and when requestChat was sent."""
    started = await visitor.ok("startConversation", "conversationStarted", dialogId=dialog,
                               page=page or PAGE)
    conversation_id: str = started["conversationId"]
    if dialog == TO_ALICE:
        await visitor.ok("capture", "ack", conversationId=conversation_id, cardId="who",
                         fields=fields or ADA)
    sent = time.monotonic()
    await visitor.request_chat(conversation_id)
    return conversation_id, sent


async def availability(visitor: Visitor) -> bool:
    answer = await visitor.ok("availability", "availability", dialogId=RR, cardId=LIVE)
    available = answer["available"]
    assert isinstance(available, bool), answer
    return available


def pushed(service: PushService, target: Subscription, *conversation_ids: str) -> list[Push]:
    """The pushes to `target` about these conversations (a test's own: an offer of an
    earlier test may still end, and its offerWithdrawn go to Alice's subscription now)."""
    return [p for p in service.pushes(target)
            if isinstance(p.payload, dict) and p.payload.get("conversationId") in conversation_ids]


def arrivals(pushes: list[Push], since: float) -> list[tuple[Any, ...]]:
    """Pushes, for an assertion's message: (event, offerId, answer, seconds after `since`)."""
    return [(p.type, p.payload.get("offerId"), p.status, round(p.at - since, 3)) for p in pushes]


def about(conversation_id: str, kind: str) -> Callable[[Push], bool]:
    """A push whose decrypted payload is a `kind` event of this conversation."""
    def match(push: Push) -> bool:
        return push.type == kind and push.payload.get("conversationId") == conversation_id
    return match


def check_signed_and_encrypted(push: Push, service: PushService, vapid_key: str,
                               conversation_id: str) -> None:
    """What every push of an offer carries, whatever its event (protocol.md, Web Push)."""
    assert push.problems == [], push.problems  # aes128gcm, TTL, Urgency, Topic, VAPID all valid
    assert push.vapid_key == vapid_key
    assert push.claims is not None
    assert push.claims["aud"] == service.origin, push.claims
    assert push.claims["sub"] == f"mailto:{FAILURE_FROM}", push.claims
    assert time.time() < push.claims["exp"] <= time.time() + 24 * 3600, push.claims
    assert push.headers["Urgency"] == "high", push.headers
    assert push.headers["Topic"] == push_topic(conversation_id), push.headers
    assert push.plaintext is not None and len(push.plaintext) <= MAX_PAYLOAD, len(push.body)


async def settles(probe: Callable[[], Awaitable[bool]], expected: bool,
                  timeout: float = 3.0) -> None:
    """`probe` answers `expected`, at once or after a moment: a closed connection is gone once
    the stack has handled its $disconnect, which the client does not wait for."""
    deadline = time.monotonic() + timeout
    while (answer := await probe()) is not expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert answer is expected, f"still {answer} after {timeout} s"


# --- a push-only agent is offered chats by push ---------------------------------------------

def test_given_a_push_only_agent_when_a_chat_is_requested_then_her_push_service_gets_the_chat_offered_signed_and_encrypted(
        push_stack: Stack, service: PushService, vapid_key: str) -> None:
    async def scenario() -> None:
        async with push_only_alice(push_stack, service) as given:
            # When the visitor requests a chat
            conversation_id, sent = await requested(given.visitor)

            # Then Alice's push service gets one POST, at once
            push = await service.arrival(about(conversation_id, "chatOffered"), AT_ONCE,
                                         target=given.alice)
            assert push.at - sent < AT_ONCE
            assert push.status == 201

            # signed with the deployment's VAPID key, for this origin, with the headers
            check_signed_and_encrypted(push, service, vapid_key, conversation_id)
            assert push.ttl is not None and 0 < push.ttl <= PUSH_ACCEPT_TIMEOUT, push.headers

            # and its body decrypts to the chatOffered event
            offer = push.payload
            assert set(OFFER_FIELDS) <= set(offer), offer
            has(offer, conversationId=str, offerId=str, visitor=dict, page=dict, expiresAt=str,
                acceptTimeoutSeconds=int)
            assert offer["acceptTimeoutSeconds"] == PUSH_ACCEPT_TIMEOUT, offer
            assert offer["visitor"] == {**offer["visitor"], **ADA}, offer
            assert offer["page"]["url"] == PAGE["url"] and offer["page"]["title"] == PAGE["title"]
            remaining = (instant(offer["expiresAt"]) - now()).total_seconds()
            assert 0 < remaining <= PUSH_ACCEPT_TIMEOUT, offer

    run(scenario)


def test_given_a_pushed_offer_nobody_accepts_then_offer_withdrawn_is_pushed_under_its_topic_then_fallback_and_one_mail(
        push_stack: Stack, service: PushService, vapid_key: str) -> None:
    async def scenario() -> None:
        async with push_only_alice(push_stack, service) as given:
            conversation_id, sent = await requested(given.visitor)
            offered = await service.arrival(about(conversation_id, "chatOffered"), AT_ONCE)

            # When nobody accepts it, Then offerWithdrawn {reason: expired} is pushed after the
            # timeout, under the same Topic
            withdrawn = await service.arrival(about(conversation_id, "offerWithdrawn"),
                                              PUSH_ACCEPT_TIMEOUT + SLACK, target=given.alice)
            assert withdrawn.at - sent >= PUSH_ACCEPT_TIMEOUT - 1.0
            check_signed_and_encrypted(withdrawn, service, vapid_key, conversation_id)
            assert withdrawn.headers["Topic"] == offered.headers["Topic"]
            assert withdrawn.payload == {**withdrawn.payload, "offerId": offered.payload["offerId"],
                                         "reason": "expired"}, withdrawn.payload

            # And the visitor gets the fallback, reason not_accepted, as before
            fallback = await given.visitor.next_of("fallback", SLACK, conversationId=conversation_id)
            assert fallback["reason"] == "not_accepted" and fallback["message"] in FALLBACK_MESSAGES

            # And exactly one failure e-mail about it
            mails = await push_stack.failure_mails(conversation_id)
            assert len(mails) == 1, mails
            assert "not_accepted" in str(mails[0]) and FAILURE_TO in str(mails[0]), mails[0]

    run(scenario)


def test_given_a_pushed_offer_when_the_agent_opens_the_inbox_then_list_offers_shows_it_and_accept_works(
        push_stack: Stack, service: PushService) -> None:
    async def scenario() -> None:
        async with push_only_alice(push_stack, service) as given:
            conversation_id, _ = await requested(given.visitor)
            pushed = (await service.arrival(about(conversation_id, "chatOffered"), AT_ONCE)).payload

            # When Alice opens her inbox while the offer is open
            alice = await given.alice_opens_the_inbox()
            listed = await alice.ok("listOffers", "offers")

            # Then listOffers shows the offer the push carried
            (item,) = [i for i in listed["items"] if i["conversationId"] == conversation_id]
            assert item["offerId"] == pushed["offerId"] and item["expiresAt"] == pushed["expiresAt"]

            # And accepting it works: chatAccepted to her, agentJoined to the visitor
            await alice.ok("accept", "chatAccepted", conversationId=conversation_id,
                           offerId=pushed["offerId"])
            joined = await given.visitor.next_of("agentJoined", conversationId=conversation_id)
            assert joined["agent"]["name"] == PUSH_AGENTS[ALICE][0], joined
            await alice.ok("endChat", "chatEnded", conversationId=conversation_id)

    run(scenario)


def test_given_an_agent_with_a_live_connection_and_a_subscription_then_the_offer_goes_to_the_connection_only(
        push_stack: Stack, service: PushService) -> None:
    async def scenario() -> None:
        async with push_only_alice(push_stack, service) as given:
            # Given Alice's inbox open again
            alice = await given.alice_opens_the_inbox()

            # When a chat is requested, Then it is offered on her connection, and not pushed
            conversation_id, _ = await requested(given.visitor)
            offer = await alice.next_of("chatOffered", conversationId=conversation_id)
            await asyncio.sleep(0.5)
            assert pushed(service, given.alice, conversation_id) == []
            await alice.ok("decline", "ack", conversationId=conversation_id, offerId=offer["offerId"])

    run(scenario)


def test_given_a_pushed_payload_that_would_be_too_long_then_it_is_shortened_to_3000_bytes(
        push_stack: Stack, service: PushService, vapid_key: str) -> None:
    async def scenario() -> None:
        async with push_only_alice(push_stack, service) as given:
            # Given a visitor on a page with a very long address and title, and a long company
            # (each as long as a frame may carry it: 2,048 and 500 characters)
            page = {"url": "https://shop.example.com/p?q=" + "x" * 2000, "title": "T" * 2048,
                    "referrer": "https://ref.example.com/" + "r" * 2000}
            fields = {**ADA, "company": "C" * 500, "country": "FR"}

            # When a chat is requested
            conversation_id, _ = await requested(given.visitor, page=page, fields=fields)

            # Then the push still carries the offer, in at most 3,000 bytes
            push = await service.arrival(about(conversation_id, "chatOffered"), AT_ONCE)
            check_signed_and_encrypted(push, service, vapid_key, conversation_id)
            has(push.payload, conversationId=str, offerId=str, visitor=dict, page=dict,
                expiresAt=str, acceptTimeoutSeconds=int)
            # (page fields shortened first, then optional visitor fields dropped: the card's
            # required ones stay)
            assert push.payload["visitor"] == {**push.payload["visitor"], **ADA}, push.payload

    run(scenario)


# --- what the push service answers ------------------------------------------------------------

def test_given_a_push_endpoint_answering_410_then_the_chat_goes_to_the_next_agent_at_once_and_the_subscription_is_gone(
        push_stack: Stack, service: PushService) -> None:
    async def scenario() -> None:
        async with push_only_alice(push_stack, service, answer=410, bob=True) as given:
            bob = given.bob
            assert bob is not None
            # When a chat (routed to Alice first) is requested
            conversation_id, sent = await requested(given.visitor)

            # Then Alice's endpoint got the offer and answered 410
            gone = await service.arrival(about(conversation_id, "chatOffered"), AT_ONCE,
                                         target=given.alice)
            assert gone.status == 410

            # And Bob is offered the chat at once, not after Alice's timeout
            offer = await bob.next_of("chatOffered", AT_ONCE, conversationId=conversation_id)
            assert time.monotonic() - sent < AT_ONCE
            await bob.ok("decline", "ack", conversationId=conversation_id, offerId=offer["offerId"])

            # And the subscription is gone: a second chat goes to Bob, nothing is pushed to Alice
            second, _ = await requested(given.visitor)
            offer = await bob.next_of("chatOffered", AT_ONCE, conversationId=second)
            await bob.ok("decline", "ack", conversationId=second, offerId=offer["offerId"])
            about_both = pushed(service, given.alice, conversation_id, second)
            assert about_both == [gone], arrivals(about_both, sent)

            # And with Bob away, nobody is reachable: availability is false (Alice is still
            # available, but has neither a connection nor a subscription)
            await bob.set_status("away")
            await settles(lambda: availability(given.visitor), False)

    run(scenario)


def test_given_a_push_endpoint_refusing_the_push_with_400_then_the_chat_moves_on_at_once_and_the_subscription_is_kept(
        push_stack: Stack, service: PushService) -> None:
    async def scenario() -> None:
        async with push_only_alice(push_stack, service, answer=400, bob=True) as given:
            bob = given.bob
            assert bob is not None
            for _ in range(2):
                # When a chat (routed to Alice first) is requested
                conversation_id, sent = await requested(given.visitor)

                # Then Alice's endpoint got the offer (the second time too: the subscription
                # was kept) and refused it, and Bob is offered the chat at once
                refused = await service.arrival(about(conversation_id, "chatOffered"), AT_ONCE,
                                                target=given.alice)
                assert refused.status == 400
                assert pushed(service, given.alice, conversation_id) == [refused]
                offer = await bob.next_of("chatOffered", AT_ONCE, conversationId=conversation_id)
                assert time.monotonic() - sent < AT_ONCE
                await bob.ok("decline", "ack", conversationId=conversation_id,
                             offerId=offer["offerId"])

    run(scenario)


@pytest.mark.parametrize(("status", "stall"), [(500, 0.0), (429, 0.0), (201, 30.0)],
                         ids=["500", "429", "no-answer"])
def test_given_a_push_endpoint_answering_a_delivered_unknown_status_then_the_offer_stands_until_its_timeout(
        push_stack: Stack, service: PushService, status: int, stall: float) -> None:
    async def scenario() -> None:
        async with push_only_alice(push_stack, service, answer=status, bob=True) as given:
            bob = given.bob
            assert bob is not None
            # When a chat (routed to Alice first) is requested and her push service answers
            # 5xx or 429, or not at all (the sender times out)
            service.stall(given.alice, stall)
            conversation_id, sent = await requested(given.visitor)
            unknown = await service.arrival(about(conversation_id, "chatOffered"), AT_ONCE,
                                            target=given.alice)
            assert unknown.status == status

            # Then the offer stands: Bob is not offered it, nor the visitor given the fallback,
            # before Alice's offer times out
            standing = PUSH_ACCEPT_TIMEOUT - 0.5 - (time.monotonic() - sent)
            await bob.none_of("chatOffered", standing, conversationId=conversation_id)
            await given.visitor.none_of("fallback", 0.01, conversationId=conversation_id)
            # And Alice still holds it until then: a second push would be a second offer
            about_it = pushed(service, given.alice, conversation_id)
            assert about_it == [unknown], arrivals(about_it, sent)

    run(scenario)


# --- reachability --------------------------------------------------------------------------

def test_given_an_available_agent_with_only_a_push_subscription_then_availability_counts_her(
        push_stack: Stack, service: PushService) -> None:
    async def scenario() -> None:
        visitor = await push_stack.visitor()
        try:
            async def available() -> bool:
                return await availability(visitor)

            # Given Alice available with her inbox closed and no subscription (Bob is never
            # connected in this test): nobody is reachable
            alice = await push_stack.agent(ALICE, "available")
            await alice.close()
            await settles(available, False)

            # When she has a push subscription, Then availability counts her
            async with push_only_alice(push_stack, service):
                assert await available() is True

                # but not once she is away
                alice = await push_stack.agent(ALICE, "away")
                await alice.close()
                assert await available() is False
                alice = await push_stack.agent(ALICE, "available")
                await alice.close()
        finally:
            await closing(visitor)

    run(scenario)
