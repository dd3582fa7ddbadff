"""emailTranscript (docs/protocol.md): once the chat is over, the transcript goes by SES to the
address captured in that conversation only, once per conversation, and at most
TRANSCRIPTS_PER_RECIPIENT_PER_DAY times a UTC day per address; getTranscript's `text`."""

from __future__ import annotations

import html
from typing import Any

import pytest
from livechat.chat.limits import TRANSCRIPTS_PER_RECIPIENT_PER_DAY
from livechat.store import conversations as stored

from tests.support.workflow import SENDER, TEAM, Workflow, eventually, sent_mails
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"
VERA = {"firstName": "Vera", "email": "vera@acme.io"}


def ended_chat(world: World, fields: dict[str, str] | None = None) -> tuple[Client, Client, str]:
    """Alice (named "Alice Martin") and a visitor chatted; the visitor ended it."""
    world.settings(failure_emails={"from": SENDER, "to": [TEAM]})
    world.agent(ALICE, name="Alice Martin")
    world.live_dialog("sales", {"mode": "round_robin"}, fields=tuple(fields or VERA))
    agent = world.agent_client(ALICE)
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales", fields=fields or VERA)
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    offer = next(f for f in agent.frames() if f["type"] == "chatOffered")
    assert agent.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])["type"] == "chatAccepted"
    agent.ask("sendMessage", conversationId=conversation_id, text="Hello Vera, how can I help?", clientMessageId="a1")
    visitor.ask("sendMessage", conversationId=conversation_id, text="Do you ship to Norway?", clientMessageId="v1")
    assert visitor.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"
    return agent, visitor, conversation_id


def mails_to(address: str) -> list[Any]:
    return [m for m in sent_mails() if address in m.destinations["ToAddresses"]]


def the_visitors_mail() -> Any:
    mails = eventually(lambda: mails_to(VERA["email"]))
    assert len(mails) == 1, [m.subject for m in mails]
    return mails[0]


def test_an_ended_chat_is_mailed_to_the_captured_address_with_names_times_and_the_dialog(
        world: World, workflow: Workflow) -> None:
    _, visitor, conversation_id = ended_chat(world)

    answer = visitor.ask("emailTranscript", conversationId=conversation_id)

    assert answer["type"] == "ack" and answer["action"] == "emailTranscript", answer
    mail = the_visitors_mail()
    assert mail.source == SENDER
    assert mail.destinations["ToAddresses"] == [VERA["email"]]
    body = html.unescape(mail.body)
    assert "Alice Martin: Hello Vera, how can I help?" in body
    assert "Vera: Do you ship to Norway?" in body
    assert "answered “Talk to sales?”: Yes" in body
    assert "E-mail: vera@acme.io" in body
    assert " UTC] " in body  # each line's time
    assert "no_agent" not in body and "inbox" not in body  # nothing internal
    assert not mails_to(TEAM)


def test_a_retried_request_is_answered_the_same_and_mails_once(world: World, workflow: Workflow) -> None:
    _, visitor, conversation_id = ended_chat(world)
    first = visitor.ask("emailTranscript", conversationId=conversation_id)

    again = visitor.ask("emailTranscript", conversationId=conversation_id)

    assert (first["type"], again["type"]) == ("ack", "ack")
    the_visitors_mail()
    assert len(mails_to(VERA["email"])) == 1


def test_a_live_chat_cannot_be_mailed_before_it_ends(world: World, workflow: Workflow) -> None:
    world.settings(failure_emails={"from": SENDER, "to": [TEAM]})
    world.live_dialog("sales", {"mode": "round_robin"})
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")

    answer = visitor.ask("emailTranscript", conversationId=conversation_id)

    assert answer["type"] == "error" and answer["code"] == "CONFLICT", answer
    assert stored.get(conversation_id).transcript_mailed_at is None
    assert not sent_mails()


def test_without_a_captured_address_nothing_is_mailed(world: World, workflow: Workflow) -> None:
    _, visitor, conversation_id = ended_chat(world, {"firstName": "Vera"})

    answer = visitor.ask("emailTranscript", conversationId=conversation_id)

    assert answer["type"] == "error" and answer["code"] == "CONFLICT", answer
    assert "e-mail address" in answer["message"]
    assert not sent_mails()


def test_another_visitors_conversation_looks_missing(world: World, workflow: Workflow) -> None:
    _, _, conversation_id = ended_chat(world)
    stranger = world.visitor_client()

    answer = stranger.ask("emailTranscript", conversationId=conversation_id)

    assert answer["type"] == "error" and answer["code"] == "NOT_FOUND", answer
    assert not sent_mails()


def test_an_agent_may_not_ask_for_the_visitors_mail(world: World, workflow: Workflow) -> None:
    agent, _, conversation_id = ended_chat(world)

    answer = agent.ask("emailTranscript", conversationId=conversation_id)

    assert answer["type"] == "error" and answer["code"] == "FORBIDDEN", answer


def test_an_address_gets_a_few_transcripts_a_day_and_then_rate_limited(
        world: World, workflow: Workflow) -> None:
    # Given one address captured in more conversations than the daily limit
    world.settings(failure_emails={"from": SENDER, "to": [TEAM]})
    world.live_dialog("sales", {"mode": "round_robin"})
    visitor = world.visitor_client()
    answers = []
    for _ in range(TRANSCRIPTS_PER_RECIPIENT_PER_DAY + 1):
        conversation_id = world.walk_to_live_card(visitor, "sales")
        visitor.ask("endChat", conversationId=conversation_id)
        answers.append((conversation_id, visitor.ask("emailTranscript", conversationId=conversation_id)))

    # Then the last is refused until the next UTC day, and marks nothing
    assert [a["type"] for _, a in answers[:-1]] == ["ack"] * TRANSCRIPTS_PER_RECIPIENT_PER_DAY
    refused_id, refused = answers[-1]
    assert refused["type"] == "error" and refused["code"] == "RATE_LIMITED", refused
    assert 1 <= refused["retryAfterSeconds"] <= 86400
    assert stored.get(refused_id).transcript_mailed_at is None
    eventually(lambda: len(mails_to(VERA["email"])) >= TRANSCRIPTS_PER_RECIPIENT_PER_DAY)
    assert len(mails_to(VERA["email"])) == TRANSCRIPTS_PER_RECIPIENT_PER_DAY


def test_get_transcript_can_include_the_text_the_mails_show(world: World, workflow: Workflow) -> None:
    agent, _, conversation_id = ended_chat(world)

    plain = agent.ask("getTranscript", conversationId=conversation_id)
    with_text = agent.ask("getTranscript", conversationId=conversation_id, includeText=True)

    assert "text" not in plain
    assert "Alice Martin: Hello Vera, how can I help?" in with_text["text"]
    assert "First name: Vera, E-mail: vera@acme.io" in with_text["text"]
    assert {k: v for k, v in with_text.items() if k not in ("text", "requestId")} == \
        {k: v for k, v in plain.items() if k != "requestId"}


@pytest.fixture
def in_the_sandbox(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """An account whose SES is still in the sandbox: GetAccount answers
    ProductionAccessEnabled false (livechat_local/moto_patches.py)."""
    from moto.sesv2.models import SESV2Backend

    monkeypatch.setattr(SESV2Backend, "production_access_enabled", False)


def test_in_the_ses_sandbox_an_unverified_address_is_refused_at_once_and_nothing_is_claimed(
        world: World, workflow: Workflow, in_the_sandbox: None) -> None:
    _, visitor, conversation_id = ended_chat(world)

    answer = visitor.ask("emailTranscript", conversationId=conversation_id)

    # Then the visitor is told now (not "on its way" and a refusal nobody sees), and nothing
    # is marked: the same request succeeds once the address (or its domain) is verified
    assert answer["type"] == "error" and answer["code"] == "CONFLICT", answer
    assert "sandbox" in answer["message"] and VERA["email"] in answer["message"]
    assert stored.get(conversation_id).transcript_mailed_at is None
    assert not mails_to(VERA["email"])
    import boto3

    boto3.client("sesv2", region_name="us-east-1").create_email_identity(EmailIdentity="acme.io")
    assert visitor.ask("emailTranscript", conversationId=conversation_id)["type"] == "ack"
    the_visitors_mail()
