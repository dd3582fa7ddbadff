"""Who may connect and what each side may touch: every refusal carries the protocol's code
(401/403 at $connect, FORBIDDEN or NOT_FOUND on a frame) and changes nothing stored."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from livechat.domain.workspace_document import AgentSpec, Workspace
from moto.utilities.utils import load_resource

from livechat_admin.apply import provision
from tests.support.aws import REGION
from tests.support.snapshot import table_snapshot
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@example.com", "bob@example.com"


# --- tokens -----------------------------------------------------------------------------

def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def signed(claims: dict[str, Any], key: Any = None) -> str:
    """RS256 under the pool's key id; by default with the key moto's user pool signs with
    (its JWKS publishes the public half)."""
    key = key or jwt.PyJWK.from_dict(load_resource("cognitoidp/resources/jwks-private.json")).key
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})


def with_payload(token: str, claims: dict[str, Any]) -> str:
    """The same header and signature around another payload."""
    header, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def forged_agent(world: World) -> dict[str, str]:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {"token": signed(claims_of(world.token(ALICE)), other_key)}


def altered_agent(world: World) -> dict[str, str]:
    token = world.token(ALICE)
    return {"token": with_payload(token, {**claims_of(token), "email": BOB})}


def expired_agent(world: World) -> dict[str, str]:
    now = int(time.time())
    claims = {**claims_of(world.token(ALICE)), "iat": now - 7200, "auth_time": now - 7200,
              "exp": now - 3600}
    return {"token": signed(claims)}


def access_token(world: World) -> dict[str, str]:
    world.token(ALICE)  # creates the pool and the user, in the LiveChat group
    idp, password = boto3.client("cognito-idp", region_name=REGION), "Acc3ss!token"
    idp.admin_set_user_password(UserPoolId=os.environ["LIVECHAT_USER_POOL_ID"], Username=ALICE,
                                Password=password, Permanent=True)
    result = idp.initiate_auth(ClientId=os.environ["LIVECHAT_USER_POOL_CLIENT_ID"], AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": ALICE, "PASSWORD": password})
    return {"token": str(result["AuthenticationResult"]["AccessToken"])}


def email_changed_to_another_agents(world: World) -> dict[str, str]:
    """Alice sets her own `email` attribute to Bob's (self-service, with her access token: the
    attribute is mutable, her user name is not) and signs in again."""
    world.token(ALICE)  # creates the pool and the user, in the LiveChat group
    idp, password = boto3.client("cognito-idp", region_name=REGION), "Ch4nged!email"
    pool_id, client_id = world.cognito()
    idp.admin_set_user_password(UserPoolId=pool_id, Username=ALICE, Password=password, Permanent=True)

    def sign_in(kind: str) -> str:
        result = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
            "USERNAME": ALICE, "PASSWORD": password})["AuthenticationResult"]
        return str(result["AccessToken"] if kind == "access" else result["IdToken"])

    idp.update_user_attributes(AccessToken=sign_in("access"), UserAttributes=[{"Name": "email", "Value": BOB}])
    token = sign_in("id")
    assert (claims_of(token)["cognito:username"], claims_of(token)["email"]) == (ALICE, BOB)
    return {"token": token}


def outside_live_chat_group(world: World) -> dict[str, str]:
    return {"token": world.token("carol@example.com", groups=())}


def forged_visitor(world: World) -> dict[str, str]:
    genuine = world.visitor_token()["visitorToken"]
    return {"visitorToken": jwt.encode(claims_of(genuine), "another-secret-" + "x" * 32,
                                       algorithm="HS256")}


def altered_visitor(world: World) -> dict[str, str]:
    mine, someone_else = world.visitor_token(), world.visitor_token()
    token = mine["visitorToken"]
    return {"visitorToken": with_payload(token, {**claims_of(token), "sub": someone_else["visitorId"]})}


# --- the world --------------------------------------------------------------------------

@dataclass
class Offered:
    visitor: Client
    offered: Client  # the agent holding the offer
    other: Client  # the agent who does not
    conversation_id: str
    offer_id: str


def offered_chat(world: World) -> Offered:
    world.agent(ALICE)
    world.agent(BOB)
    world.live_dialog("sales", {"mode": "round_robin"})
    agents = [world.agent_client(ALICE), world.agent_client(BOB)]
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    offers = {a.principal: a.of_type("chatOffered") for a in agents}
    offered, other = sorted(agents, key=lambda a: not offers[a.principal])
    assert len(offers[offered.principal]) == 1 and offers[other.principal] == []
    offer_id = str(offers[offered.principal][0]["offerId"])
    return Offered(visitor, offered, other, conversation_id, offer_id)


def live_chat(world: World) -> Offered:
    chat = offered_chat(world)
    accepted = chat.offered.ask("accept", conversationId=chat.conversation_id, offerId=chat.offer_id)
    assert accepted["type"] == "chatAccepted"
    for client in (chat.visitor, chat.offered, chat.other):
        client.frames()  # the join and the accept are not what the tests look at
    return chat


def sole_answer(client: Client, action: str, **fields: Any) -> dict[str, Any]:
    """Send one frame and return the only frame that came back (it echoes the requestId)."""
    frames = client.send(action, requestId="req-1", **fields)
    assert len(frames) == 1, frames
    assert frames[0].get("requestId") == "req-1", frames
    return frames[0]


def the_offer(chat: Offered) -> dict[str, Any]:
    return {"conversationId": chat.conversation_id, "offerId": chat.offer_id}


# --- connecting -------------------------------------------------------------------------

@pytest.mark.parametrize("credentials, status", [
    (forged_agent, 401), (altered_agent, 401), (expired_agent, 401), (access_token, 401),
    (email_changed_to_another_agents, 401), (outside_live_chat_group, 403), (lambda world: {}, 401),
    (forged_visitor, 401), (altered_visitor, 401),
], ids=["agent-token-signed-by-another-key", "agent-token-altered", "agent-token-expired",
        "agent-access-token-instead-of-id-token", "agent-email-attribute-is-not-their-user-name",
        "agent-not-in-the-LiveChat-group", "no-token", "visitor-token-signed-with-another-secret",
        "visitor-token-altered"])
def test_a_connection_with_bad_credentials_is_refused_and_stores_nothing(
        world: World, credentials: Callable[[World], dict[str, str]], status: int) -> None:
    # Given agents with profiles and the credentials to try
    world.agent(ALICE)
    world.agent(BOB)
    query = credentials(world)
    before = table_snapshot()

    # When they connect
    answered, _ = world.connect(query)

    # Then the handshake is refused with the protocol's status and nothing is stored
    assert answered == status
    assert table_snapshot() == before


def test_a_token_signed_with_the_pools_key_and_unexpired_is_accepted(world: World) -> None:
    # Given the claims of a real ID token re-signed with the pool's key (as the expired one is)
    world.agent(ALICE)
    token = signed(claims_of(world.token(ALICE)))

    # When the agent connects with it, Then it is accepted: only expiry refuses the other
    assert world.connect({"token": token})[0] == 200


def inbox_sign_in(world: World, typed_email: str, password: str) -> str:
    """Sign in as the inbox does (layers/common/livechat/web/inbox.js): the e-mail as typed,
    trimmed and lower-cased, is the USERNAME of InitiateAuth (USER_PASSWORD_AUTH). Cognito's
    user names are case-insensitive (CaseSensitive false); moto's are not, and the inbox's
    lower-casing is what makes every spelling work on both. Returns the ID token."""
    _, client_id = world.cognito()
    result = boto3.client("cognito-idp", region_name=REGION).initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": typed_email.strip().lower(), "PASSWORD": password})
    return str(result["AuthenticationResult"]["IdToken"])


def test_an_agent_signing_in_with_their_email_in_mixed_case_connects_as_the_lower_cased_email(
        world: World) -> None:
    # Given Alice provisioned as `livechat apply` does it, from a file that spells her e-mail
    # in mixed case: her user name is the lower-cased e-mail
    pool_id, _ = world.cognito()
    file = Workspace(agents=[AgentSpec(email="Alice@Example.COM", name="Alice", password="Alice-mixed-1")])
    provision(file, boto3.client("cognito-idp", region_name=REGION), pool_id, local=True, say=lambda line: None)
    users = boto3.client("cognito-idp", region_name=REGION).list_users(UserPoolId=pool_id)["Users"]
    assert [u["Username"] for u in users] == [ALICE]

    # When she signs in to the inbox typing her e-mail in yet another spelling
    token = inbox_sign_in(world, " ALICE@example.Com ", "Alice-mixed-1")

    # Then her ID token names her by the lower-cased e-mail
    claims = claims_of(token)
    assert (claims["cognito:username"], claims["email"]) == (ALICE, ALICE)
    # And she connects as that agent
    status, connection_id = world.connect({"token": token})
    assert status == 200
    assert world.agent_item(ALICE).connections == {connection_id}


def test_a_token_naming_the_agent_in_another_letter_case_connects_as_the_lower_cased_email(
        world: World) -> None:
    # Given a genuine ID token whose user name and e-mail are spelt in mixed case
    world.agent(ALICE)
    token = signed({**claims_of(world.token(ALICE)), "cognito:username": "Alice@Example.COM",
                    "email": "alice@EXAMPLE.com"})

    # When it connects, Then the agent is the lower-cased e-mail
    status, connection_id = world.connect({"token": token})
    assert status == 200
    assert world.agent_item(ALICE).connections == {connection_id}


@pytest.mark.parametrize("tampered", [forged_visitor, altered_visitor], ids=["forged", "altered"])
def test_a_visitor_session_is_not_renewed_from_a_tampered_token(
        world: World, tampered: Callable[[World], dict[str, str]]) -> None:
    # When a visitor asks to keep the identity of a forged or altered token
    answer = world.visitor_token(old=tampered(world)["visitorToken"])

    # Then the session endpoint refuses it
    assert answer["status"] == 401
    assert "visitorToken" not in answer


def test_a_visitor_session_renewed_from_a_genuine_token_keeps_the_visitor(world: World) -> None:
    # Given a genuine visitor session
    first = world.visitor_token()

    # When the visitor renews it
    renewed = world.visitor_token(old=first["visitorToken"])

    # Then the same visitor gets a token
    assert renewed["status"] == 200
    assert renewed["visitorId"] == first["visitorId"]


# --- acting on what is not yours ---------------------------------------------------------

@pytest.mark.parametrize("action, fields, live", [
    ("answer", {"cardId": "ask", "value": "Yes"}, False),
    ("capture", {"cardId": "who", "fields": {"firstName": "Eve", "email": "eve@evil.io"}}, False),
    ("requestChat", {"cardId": "live"}, False),
    ("sendMessage", {"text": "hello", "clientMessageId": "eve-1"}, True),
    ("endChat", {}, True),
    ("resume", {"afterSeq": 0}, True),
    ("getTranscript", {}, True),
    ("typing", {"isTyping": True}, True),
], ids=["answer", "capture", "requestChat", "sendMessage", "endChat", "resume", "getTranscript",
        "typing"])
def test_a_visitor_acting_on_another_visitors_conversation_is_told_it_is_not_found(
        world: World, action: str, fields: dict[str, Any], live: bool) -> None:
    # Given another visitor's conversation, automated or live with an agent
    if live:
        chat = live_chat(world)
        owner, conversation_id, agents = chat.visitor, chat.conversation_id, [chat.offered, chat.other]
    else:
        world.live_dialog("sales", {"mode": "round_robin"})
        owner, agents = world.visitor_client(), []
        conversation_id = str(owner.ask("startConversation", dialogId="sales")["conversationId"])
    intruder = world.visitor_client()
    before = table_snapshot()

    # When an intruding visitor acts on it
    answer = sole_answer(intruder, action, conversationId=conversation_id, **fields)

    # Then it looks like a missing conversation, nothing is stored and nobody hears of it
    assert (answer["type"], answer["code"]) == ("error", "NOT_FOUND")
    assert table_snapshot() == before
    assert {c.connection_id: c.frames() for c in [owner, *agents]} == {
        c.connection_id: [] for c in [owner, *agents]}


def test_an_agent_accepting_another_agents_offer_is_told_it_is_not_found(world: World) -> None:
    # Given a chat offered to one agent
    chat = offered_chat(world)
    before = table_snapshot()

    # When the other agent accepts that offer
    answer = sole_answer(chat.other, "accept", **the_offer(chat))

    # Then it is NOT_FOUND, nothing changed, and the offer still stands for its agent
    assert (answer["type"], answer["code"]) == ("error", "NOT_FOUND")
    assert table_snapshot() == before
    assert chat.offered.ask("accept", **the_offer(chat))["type"] == "chatAccepted"


@pytest.mark.parametrize("role, action, fields", [
    ("visitor", "accept", the_offer),
    ("visitor", "decline", the_offer),
    ("visitor", "listInbox", lambda chat: {}),
    ("visitor", "setStatus", lambda chat: {"status": "away"}),
    ("visitor", "listConversations", lambda chat: {}),
    ("agent", "startConversation", lambda chat: {"dialogId": "sales"}),
    ("agent", "requestChat", lambda chat: {"conversationId": chat.conversation_id, "cardId": "live"}),
], ids=["visitor-accept", "visitor-decline", "visitor-listInbox", "visitor-setStatus",
        "visitor-listConversations", "agent-startConversation", "agent-requestChat"])
def test_an_action_of_the_other_role_is_forbidden(
        world: World, role: str, action: str, fields: Callable[[Offered], dict[str, Any]]) -> None:
    # Given a chat being offered to an agent
    chat = offered_chat(world)
    sender = chat.visitor if role == "visitor" else chat.other
    before = table_snapshot()

    # When one side sends an action only the other role may take
    answer = sole_answer(sender, action, **fields(chat))

    # Then it is FORBIDDEN and nothing changed
    assert (answer["type"], answer["code"]) == ("error", "FORBIDDEN")
    assert table_snapshot() == before


def test_an_agent_messaging_a_chat_not_assigned_to_them_is_told_it_is_not_found(world: World) -> None:
    # Given a live chat between a visitor and one agent
    chat = live_chat(world)
    before = table_snapshot()

    # When another agent sends a message into it
    answer = sole_answer(chat.other, "sendMessage", conversationId=chat.conversation_id,
                         text="I'll take it from here", clientMessageId="bob-1")

    # Then it is NOT_FOUND, nothing is stored and neither party receives it
    assert (answer["type"], answer["code"]) == ("error", "NOT_FOUND")
    assert table_snapshot() == before
    assert chat.visitor.frames() == [] and chat.offered.frames() == []


def test_an_agent_whose_permission_was_revoked_is_refused_even_with_a_valid_token(
        world: World) -> None:
    # Given an agent the admin removed (row kept, permission off) who still holds a token
    world.agent("gone@example.com", live_chat=False)
    token = world.token("gone@example.com")
    # When they connect, Then the handshake is refused with 403 and nothing is stored
    status, _ = world.connect({"token": token})
    assert status == 403
    assert world.agent_item("gone@example.com").connections is None
