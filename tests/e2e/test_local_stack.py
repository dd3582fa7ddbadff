"""The local stack end to end (issue 4): `livechat dev` as a subprocess, spoken to only as
clients speak to it — real WebSockets and HTTP (../shared/spec/protocol.md)."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import string
import subprocess
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.conftest import (
    ACCEPT_TIMEOUT,
    AGENTS,
    ALICE,
    CAROL,
    FAILURE_FROM,
    FAILURE_TO,
    INACTIVITY_TIMEOUT,
    TEAM_MEMBERS,
    Frame,
    Stack,
    closing,
    dev_command,
    first_of,
    live_chat,
    run,
    scene,
    scene_with,
    tampered,
)

pytestmark = pytest.mark.e2e

SLACK = 3.0  # seconds allowed on top of a configured timeout (Step Functions, the sweeper)


def _seq(frame: Frame) -> int:
    seq = frame.get("seq")
    assert isinstance(seq, int), f"no seq in {frame}"
    return seq


# --- (1) the whole happy path -------------------------------------------------------------

def test_visitor_chats_with_an_agent_until_the_agent_ends_it(stack: Stack) -> None:
    async def scenario() -> None:
        # Given Alice is the only available agent and a visitor on a round-robin dialog
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id = await visitor.start("rr")
            given.end_at_exit(alice, conversation_id)

            # When the visitor asks for a live chat
            routing = await visitor.request_chat(conversation_id)

            # Then Alice is offered it with the page and the accept timeout
            assert routing["conversationId"] == conversation_id
            offer = await alice.next_of("chatOffered", conversationId=conversation_id)
            assert offer["acceptTimeoutSeconds"] == ACCEPT_TIMEOUT
            assert offer["page"]["url"] == "https://shop.example.com/pricing"
            assert offer["expiresAt"].endswith("Z")

            # When she accepts
            accepted = await alice.ok("accept", "chatAccepted", conversationId=conversation_id,
                                      offerId=offer["offerId"])

            # Then she gets the transcript so far and the visitor learns who joined
            assert accepted["conversationId"] == conversation_id
            assert isinstance(accepted["transcript"], list)
            joined = await visitor.next_of("agentJoined", conversationId=conversation_id)
            assert joined["agent"]["name"] == AGENTS[ALICE][0]
            assert joined["agent"]["avatarUrl"] == "https://example.com/alice.png"

            # When they exchange messages both ways
            mine = await visitor.ok("sendMessage", "message", conversationId=conversation_id,
                                    text="Do you ship to Norway?", clientMessageId="v-1")
            seen_by_alice = await alice.next_of("message", conversationId=conversation_id)
            reply = await alice.ok("sendMessage", "message", conversationId=conversation_id,
                                   text="We do!", clientMessageId="a-1")
            seen_by_visitor = await visitor.next_of("message", conversationId=conversation_id)

            # Then each side sees the other's message, stored once with consecutive seqs
            assert (seen_by_alice["from"], seen_by_alice["text"], seen_by_alice["seq"]) == (
                "visitor", "Do you ship to Norway?", mine["seq"])
            assert (seen_by_visitor["from"], seen_by_visitor["text"], seen_by_visitor["seq"]) == (
                "agent", "We do!", reply["seq"])
            assert _seq(reply) == _seq(mine) + 1
            assert _seq(mine) > _seq(joined)

            # When Alice ends the chat
            ended = await alice.ok("endChat", "chatEnded", conversationId=conversation_id)

            # Then both sides get chatEnded, reason agent, and it leaves her inbox
            assert ended["reason"] == "agent"
            visitor_ended = await visitor.next_of("chatEnded", conversationId=conversation_id)
            assert visitor_ended["reason"] == "agent"
            assert visitor_ended["seq"] == ended["seq"] == _seq(reply) + 1
            inbox = await alice.ok("listInbox", "inbox")
            assert conversation_id not in [chat["conversationId"] for chat in inbox["chats"]]
            given.ended(conversation_id)

    run(scenario)


# --- (2) nobody accepts: fallback and the failure e-mail ----------------------------------

def test_unanswered_offer_expires_falls_back_and_sends_the_failure_email(stack: Stack) -> None:
    async def scenario() -> None:
        # Given Carol, whom the solo dialog routes to, is available but will not answer
        async with scene_with(stack, available=(CAROL,)) as given:
            carol, visitor = given.agents[CAROL], given.visitor
            conversation_id = await visitor.start("solo")

            # When the visitor asks for a chat and Carol lets the offer run out
            await visitor.request_chat(conversation_id)
            offer = await carol.next_of("chatOffered", conversationId=conversation_id)
            started = time.monotonic()

            # Then Carol's offer is withdrawn as expired
            withdrawn = await carol.next_of("offerWithdrawn", ACCEPT_TIMEOUT + SLACK,
                                            conversationId=conversation_id)
            assert withdrawn["offerId"] == offer["offerId"]
            assert withdrawn["reason"] == "expired"
            assert time.monotonic() - started >= ACCEPT_TIMEOUT - 1.0

            # And the visitor gets the fallback, reason not_accepted
            fallback = await visitor.next_of("fallback", SLACK, conversationId=conversation_id)
            assert fallback["reason"] == "not_accepted"
            assert fallback["message"]

            # And accepting now is too late
            late = await carol.ok("accept", "error", conversationId=conversation_id, offerId=offer["offerId"])
            assert late["code"] == "OFFER_EXPIRED"

            # And one failure e-mail about this conversation shows up in the mailbox
            mails = await stack.failure_mails(conversation_id)
            assert len(mails) == 1, mails
            mail = mails[0]
            assert mail["source"] == FAILURE_FROM
            assert FAILURE_TO in mail["destinations"]["ToAddresses"]
            assert "not_accepted" in mail["subject"] + mail["body"]

    run(scenario)


# --- (3) and (4) team routing moves on ------------------------------------------------------

def test_team_chat_goes_to_the_next_team_agent_when_the_first_does_not_answer(stack: Stack) -> None:
    async def scenario() -> None:
        # Given both emea agents are available and Carol (not in the team) is away
        async with scene_with(stack, available=TEAM_MEMBERS) as given:
            agents, visitor = given.agents, given.visitor
            team = [agents[email] for email in TEAM_MEMBERS]
            conversation_id = await visitor.start("team")

            # When the visitor asks for the team chat and the first agent offered lets it expire
            await visitor.request_chat(conversation_id)
            first, offer = await first_of(team, "chatOffered", conversationId=conversation_id)
            second = next(agent for agent in team if agent is not first)
            given.end_at_exit(second, conversation_id)
            withdrawn = await first.next_of("offerWithdrawn", ACCEPT_TIMEOUT + SLACK,
                                            conversationId=conversation_id)
            assert (withdrawn["offerId"], withdrawn["reason"]) == (offer["offerId"], "expired")

            # Then the other team agent is offered it, and can accept it
            retry = await second.next_of("chatOffered", SLACK, conversationId=conversation_id)
            assert retry["offerId"] != offer["offerId"]
            await second.ok("accept", "chatAccepted", conversationId=conversation_id, offerId=retry["offerId"])
            joined = await visitor.next_of("agentJoined", conversationId=conversation_id)
            assert joined["agent"]["name"] == AGENTS[second.name][0]

            # And the visitor never got a fallback, nor Carol an offer
            await visitor.none_of("fallback", 0.2, conversationId=conversation_id)
            await agents[CAROL].none_of("chatOffered", 0.1, conversationId=conversation_id)

            await given.end_chat(second, conversation_id)

    run(scenario)


def test_declined_team_chat_is_offered_to_the_next_team_agent_at_once(stack: Stack) -> None:
    async def scenario() -> None:
        # Given both emea agents are available, each also signed in on a second device
        async with scene_with(stack, available=TEAM_MEMBERS) as given:
            visitor = given.visitor
            team = [given.agents[email] for email in TEAM_MEMBERS]
            devices = {email: await given.agent(email) for email in TEAM_MEMBERS}
            conversation_id = await visitor.start("team")
            await visitor.request_chat(conversation_id)
            first, offer = await first_of(team, "chatOffered", conversationId=conversation_id)
            second = next(agent for agent in team if agent is not first)
            given.end_at_exit(second, conversation_id)

            # When the first agent offered declines
            await first.ok("decline", "ack", conversationId=conversation_id, offerId=offer["offerId"])
            declined_at = time.monotonic()

            # Then the other team agent is offered the chat at once, not after the timeout
            retry = await second.next_of("chatOffered", ACCEPT_TIMEOUT + SLACK, conversationId=conversation_id)
            assert time.monotonic() - declined_at < ACCEPT_TIMEOUT * 0.75, "the decline waited for the timeout"

            # And the decliner's other device sees the offer withdrawn, reason declined
            other_device = devices[first.name]
            withdrawn = await other_device.next_of("offerWithdrawn", conversationId=conversation_id)
            assert (withdrawn["offerId"], withdrawn["reason"]) == (offer["offerId"], "declined")

            # And the second agent can take it, with no fallback for the visitor
            await second.ok("accept", "chatAccepted", conversationId=conversation_id, offerId=retry["offerId"])
            joined = await visitor.next_of("agentJoined", conversationId=conversation_id)
            assert joined["agent"]["name"] == AGENTS[second.name][0]
            await visitor.none_of("fallback", 0.2, conversationId=conversation_id)

            await given.end_chat(second, conversation_id)

    run(scenario)


# --- (5) a visitor reconnects and resumes ----------------------------------------------------

def test_reconnected_visitor_resumes_exactly_the_missed_messages(stack: Stack) -> None:
    async def scenario() -> None:
        # Given a live chat between a visitor and Alice, the visitor having seen up to some seq
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, _ = await given.live_chat(alice, "rr")
            mine = await visitor.ok("sendMessage", "message", conversationId=conversation_id,
                                    text="brb", clientMessageId="v-1")
            await alice.next_of("message", conversationId=conversation_id)
            last_seen = _seq(mine)

            # When the visitor's socket drops and Alice sends two messages meanwhile
            await visitor.close()
            missed = [await alice.ok("sendMessage", "message", conversationId=conversation_id,
                                     text=text, clientMessageId=f"a-{i}")
                      for i, text in enumerate(("Still there?", "Here is the link."))]

            # And the visitor reconnects with the same token and resumes after its last seq
            returning = await given.another_visitor(visitor.token)
            answer = await returning.ask("resume", conversationId=conversation_id, afterSeq=last_seen)
            assert answer["type"] != "error", answer
            replayed = [answer] if answer["type"] == "message" else []
            while len(replayed) < len(missed):
                replayed.append(await returning.next_of("message", conversationId=conversation_id))

            # Then it gets exactly the missed messages, in order, and nothing else
            assert [(m["seq"], m["from"], m["text"]) for m in replayed] == [
                (m["seq"], "agent", m["text"]) for m in missed]
            assert [m["seq"] for m in missed] == [last_seen + 1, last_seen + 2]
            await returning.none_of("message", 0.5, conversationId=conversation_id)

            # And the new socket gets the chat's live events from then on
            await alice.ok("sendMessage", "message", conversationId=conversation_id,
                           text="Welcome back", clientMessageId="a-live")
            live = await returning.next_of("message", conversationId=conversation_id)
            assert (live["seq"], live["text"]) == (last_seen + 3, "Welcome back")

            ended = await returning.ok("endChat", "chatEnded", conversationId=conversation_id)
            assert ended["reason"] == "visitor"
            assert (await alice.next_of("chatEnded", conversationId=conversation_id))["reason"] == "visitor"
            given.ended(conversation_id)

    run(scenario)


# --- (6) inactivity -----------------------------------------------------------------------

def test_sweeper_ends_a_chat_without_messages_for_the_inactivity_timeout(stack: Stack) -> None:
    async def scenario() -> None:
        # Given a live chat whose last message was just sent
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, _ = await live_chat(visitor, alice, "rr")
            await visitor.ok("sendMessage", "message", conversationId=conversation_id,
                             text="thinking…", clientMessageId="v-1")
            quiet_since = time.monotonic()

            # When nobody writes for longer than the inactivity timeout (typing is not activity)
            typing = await visitor.ask("typing", conversationId=conversation_id, isTyping=True)
            assert typing["type"] != "error", typing

            # Then the sweeper ends it on both sides, reason inactivity
            for side in (visitor, alice):
                ended = await side.next_of("chatEnded", 10, conversationId=conversation_id)
                assert ended["reason"] == "inactivity", ended
            assert time.monotonic() - quiet_since >= INACTIVITY_TIMEOUT - 0.5, "ended before the timeout"

            # And it is no longer in Alice's inbox
            inbox = await alice.ok("listInbox", "inbox")
            assert conversation_id not in [chat["conversationId"] for chat in inbox["chats"]]

    run(scenario)


# --- (7) the handshake refuses bad credentials ------------------------------------------

def test_forged_agent_token_is_refused_at_the_handshake_with_401(stack: Stack) -> None:
    async def scenario() -> None:
        # Given a real ID token of Alice's whose claims are altered, and one made up
        altered = tampered(stack.agent_token(ALICE), email=CAROL)
        made_up = "eyJhbGciOiJub25lIn0.eyJjb2duaXRvOmdyb3VwcyI6WyJMaXZlQ2hhdCJdfQ."

        # When they are used to connect, Then the handshake is refused with 401
        assert await stack.handshake_status(token=altered) == 401
        assert await stack.handshake_status(token=made_up) == 401
        assert await stack.handshake_status(token="forged") == 401

    run(scenario)


def test_agent_without_the_live_chat_group_is_refused_at_the_handshake_with_403(stack: Stack) -> None:
    async def scenario() -> None:
        # Given a user of the agents' pool who is not in the LiveChat group
        token = stack.token_outside_the_group()

        # When they connect with their genuine ID token, Then the handshake is refused with 403
        assert await stack.handshake_status(token=token) == 403

    run(scenario)


def test_bad_credentials_are_refused_by_the_connect_authorizer_as_api_gateway_answers(stack: Stack) -> None:
    async def scenario() -> None:
        # When a forged token, no token and a user outside the LiveChat group connect
        refusals = []
        for query in ({"token": "forged"}, {}, {"token": stack.token_outside_the_group()}):
            try:
                client = await stack.connect("intruder", **query)
            except InvalidStatus as refused:
                refusals.append((refused.response.status_code, json.loads(refused.response.body)))
            else:
                await client.close()

        # Then the template's authorizer refused them before $connect ran: API Gateway's own
        # bodies, not $connect's reasons (issue 15: identity once per connection)
        assert refusals == [(401, {"message": "Unauthorized"}), (401, {"message": "Unauthorized"}),
                            (403, {"message": "Forbidden"})]

    run(scenario)


def test_forged_visitor_token_is_refused_at_the_handshake_with_401(stack: Stack) -> None:
    async def scenario() -> None:
        # Given a genuine visitor token with its payload altered, and one made up
        genuine = stack.visitor_session()["visitorToken"]
        altered = tampered(genuine, sub="v_someone_else")

        # When they are used to connect, Then the handshake is refused with 401
        assert await stack.handshake_status(visitorToken=altered) == 401
        assert await stack.handshake_status(visitorToken="forged") == 401
        # (and the genuine one is accepted)
        assert await stack.handshake_status(visitorToken=genuine) == 101

    run(scenario)


# --- (8) an invalid workspace ------------------------------------------------------------

INVALID_WORKSPACE = """\
agents:
  - {email: alice@example.com, name: Alice, password: "Alice-e2e-pass-1"}
dialogs:
  - id: fine
    cards:
      - {id: live, kind: live_chat, routing: {mode: round_robin}}
  - id: broken
    cards:
      - id: ask
        kind: question
        text: "Talk to sales?"
        answers:
          - label: "Yes"
            next:
              - {id: talk, kind: live_chat, routing: {mode: round_robin}}
              - {id: after, kind: message, text: "a card after the live chat"}
"""


def test_invalid_workspace_makes_livechat_dev_exit_2_naming_the_card(tmp_path: Path) -> None:
    # Given a workspace whose live chat card is not the last card of its branch
    workspace = tmp_path / "invalid.yaml"
    workspace.write_text(INVALID_WORKSPACE, encoding="utf-8")
    endpoints_file = tmp_path / "endpoints.json"

    # When `livechat dev` is started with it
    result = subprocess.run(dev_command(workspace, endpoints_file), capture_output=True, text=True,
                            timeout=60, check=False)

    # Then it exits 2, naming the offending card's path (and id) on stderr, and serves nothing
    assert result.returncode == 2, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    offending = [line for line in lines if "dialogs[1].cards[0].answers[0].next[0]" in line]
    assert offending, result.stderr
    assert "talk" in offending[0], result.stderr
    assert len(lines) == 1, f"one line per problem, and there is one problem: {result.stderr}"
    assert not endpoints_file.exists()


# --- (9) bad frames over a real socket ---------------------------------------------------

def test_bad_frames_get_bad_request_and_the_socket_keeps_working(stack: Stack) -> None:
    async def scenario() -> None:
        # Given a connected visitor
        async with scene(stack) as given:
            visitor = given.visitor
            # When it sends a frame that is not JSON
            await visitor.send("{this is not json")

            # Then it gets BAD_REQUEST (without a requestId) and the socket still works
            error = await visitor.next_of("error")
            assert error["code"] == "BAD_REQUEST"
            assert "requestId" not in error or error["requestId"] is None
            await visitor.ok("ping", "pong")

            # When it sends an unknown action, Then BAD_REQUEST echoing its requestId
            unknown = await visitor.ok("noSuchAction", "error")
            assert unknown["code"] == "BAD_REQUEST"

            # When it sends a ~100 KB message (under the 128 KB limit, in 32 KB frames)
            big = json.dumps({"action": "ping", "requestId": "big-frame", "pad": "x" * 100_000})
            await visitor.ws.send([big[i:i + 32_000] for i in range(0, len(big), 32_000)])

            # Then it gets BAD_REQUEST naming the size, and the socket still works
            too_big = await visitor.next_of("error")
            assert too_big["code"] == "BAD_REQUEST"
            assert "large" in too_big["message"] or "size" in too_big["message"], too_big
            await visitor.ok("ping", "pong")

    run(scenario)


def test_message_over_128_kb_closes_the_socket_with_1009(stack: Stack) -> None:
    async def scenario() -> None:
        # Given a connected visitor
        visitor = await stack.visitor()
        try:
            # When it sends a 200 KB text message
            await visitor.send("".join(random.choices(string.ascii_letters, k=200 * 1024)))

            # Then the gateway closes the connection with 1009 (message too big)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(visitor.ws.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
        finally:
            await closing(visitor)

        # And a new connection works
        again = await stack.visitor(visitor.token)
        try:
            await again.ok("ping", "pong")
        finally:
            await closing(again)

    run(scenario)


# --- (10) the @connections management API -------------------------------------------------

def test_management_api_answers_410_gone_for_an_unknown_connection(stack: Stack) -> None:
    # Given the management API client the handlers use, pointed at the local stack
    api = boto3.client("apigatewaymanagementapi", region_name=stack.endpoints.region,
                       endpoint_url=stack.endpoints.http.rstrip("/"),
                       aws_access_key_id="e2e", aws_secret_access_key="e2e")
    unknown = base64.b64encode(uuid.uuid4().bytes[:12]).decode()

    # When it posts to (or reads) a connection that does not exist, Then GoneException, 410
    with pytest.raises(ClientError) as posted:
        api.post_to_connection(ConnectionId=unknown, Data=b'{"type":"ping"}')
    with pytest.raises(ClientError) as read:
        api.get_connection(ConnectionId=unknown)
    for gone in (posted, read):
        assert gone.value.response["Error"]["Code"] == "GoneException"
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_the_pages_config_and_dialogs_come_from_the_web_function(stack: Stack) -> None:
    # Given the local stack, whose gateway sends the template's HTTP routes to functions/web
    from livechat.api.pages import BUNDLES, bundle

    base = stack.endpoints.http
    web = Path(__file__).resolve().parents[2] / "layers/common/livechat/web"

    # When a browser loads the widget, the inbox's config and a dialog
    widget = stack.http.get(base + "widget.js", timeout=10)
    config = stack.http.get(base + "config.json", timeout=10).json()
    dialog = stack.http.get(base + "dialogs/solo", timeout=10)

    # Then widget.js is the layer's modules in the manifest's order, the config names this
    # stack, the dialog hides its routing
    assert widget.status_code == 200
    assert widget.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert widget.headers["Access-Control-Allow-Origin"] == "*"
    modules = [(web / path).read_text(encoding="utf-8").rstrip() for path in BUNDLES["widget.js"]]
    positions = [widget.text.find(module) for module in modules]
    assert -1 not in positions and positions == sorted(positions)
    assert widget.text.startswith("/* livechat widget.js") and widget.text.rstrip().endswith("})();")
    assert widget.text == bundle("widget.js")
    capture = config.pop("capture")
    assert capture["fields"]["email"]["pattern"] and capture["maxLength"] == 500
    # The deployment's VAPID public key, made on first use on the emulator as in a deployment
    vapid_key = config.pop("vapidPublicKey")
    assert len(base64.urlsafe_b64decode(vapid_key + "=" * (-len(vapid_key) % 4))) == 65
    assert stack.http.get(base + "config.json", timeout=10).json()["vapidPublicKey"] == vapid_key
    assert config == {
        "websocket": stack.endpoints.websocket, "http": base,
        "cognito": {"region": stack.endpoints.region, "userPoolId": stack.endpoints.user_pool_id,
                    "clientId": stack.endpoints.client_id, "endpoint": base + "dev/cognito"}}
    assert dialog.status_code == 200
    (card,) = dialog.json()["cards"]
    assert (card["id"], card["kind"]) == ("live", "live_chat")
    assert "routing" not in card
    for path in ("nope.js", "dialogs/nope", "..%2Fweb_assets.py", "shared/dom.js", "widget/main.js"):
        assert stack.http.get(base + path, timeout=10).status_code == 404, path
