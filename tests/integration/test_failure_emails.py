"""notify_failure: one e-mail per failed action (conversation and reason) through SES v2,
with text and HTML parts, retried when throttled and dead-lettered when it cannot be sent."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from livechat.outbound import failure_mail as notifications
from livechat.outbound.failures import LIVE_CHAT, failed_action
from livechat.store.keys import COUNTER_PK, ENGAGEMENTS
from livechat.store.tables import CounterModel
from moto.core.exceptions import JsonRESTError
from moto.sesv2.models import SESV2Backend
from moto.sesv2.responses import SESV2Response

from tests.support.workflow import SENDER, TEAM, Workflow, eventually, queue_messages, sent_mails
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

INBOX = "https://chat.example.com/inbox"  # LIVECHAT_INBOX_URL, set by the workflow fixture
PAGE = "https://example.com/pricing?utm_source=newsletter"
VISITOR = {"firstName": "Vera", "email": "vera@acme.io"}
FALLBACK = "We'll e-mail you."


def configure(world: World, routing: dict[str, Any], **settings: Any) -> None:
    world.settings(accept_timeout_seconds=1, fallback_message=FALLBACK,
                   failure_emails={"from": SENDER, "to": [TEAM]}, **settings)
    world.live_dialog("sales", routing)


def request(world: World, fields: dict[str, str] | None = None) -> tuple[Client, str]:
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales", fields=fields or VISITOR,
                                              page={"url": PAGE})
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    world.leftovers.setdefault(visitor.connection_id, []).insert(0, answer)
    return visitor, conversation_id


def await_fallback(visitor: Client) -> dict[str, Any]:
    """The visitor's fallback: the answer to requestChat, or a later frame."""
    seen: list[dict[str, Any]] = []

    def probe() -> dict[str, Any] | None:
        seen.extend(visitor.frames())
        return next((f for f in seen if f["type"] == "fallback"), None)

    fallback = eventually(probe, timeout=15)
    assert fallback is not None, seen
    return fallback


# One way to reach each fallback reason; each returns the fallen-back conversation.
def no_agent(world: World) -> str:
    configure(world, {"mode": "round_robin"})
    visitor, conversation_id = request(world)
    assert await_fallback(visitor)["reason"] == "no_agent"
    return conversation_id


def no_rule_matched(world: World) -> str:
    configure(world, {"mode": "custom_rules", "rules": [
        {"when": {"field": "emailDomain", "op": "equals", "value": "bigcorp.com"},
         "route": {"agent": "alice@example.com"}}]})
    world.agent("alice@example.com")  # not connected: the round-robin every mode falls back to finds nobody
    visitor, conversation_id = request(world)
    assert await_fallback(visitor)["reason"] == "no_rule_matched"
    return conversation_id


def not_accepted(world: World) -> str:
    configure(world, {"mode": "round_robin"})
    world.agent("alice@example.com")
    world.agent_client("alice@example.com")
    visitor, conversation_id = request(world)
    assert await_fallback(visitor)["reason"] == "not_accepted"  # after the 1 s timeout
    return conversation_id


def quota_reached(world: World) -> str:
    configure(world, {"mode": "round_robin"}, plan="select", engagement_limit=1)
    CounterModel(COUNTER_PK, ENGAGEMENTS, value=1).save()
    world.agent("alice@example.com")
    world.agent_client("alice@example.com")
    visitor, conversation_id = request(world)
    assert await_fallback(visitor)["reason"] == "quota_reached"
    return conversation_id


REASONS: dict[str, Callable[[World], str]] = {
    "no_agent": no_agent, "no_rule_matched": no_rule_matched,
    "not_accepted": not_accepted, "quota_reached": quota_reached,
}


def the_mail() -> Any:
    """The one e-mail sent (notify_failure may still be running in the workflow's thread)."""
    mails = eventually(sent_mails)
    assert len(mails) == 1, [m.subject for m in mails]
    return mails[0]


@pytest.fixture
def ses_requests(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every SendEmail request as SES received it (moto keeps only one body part)."""
    seen: list[dict[str, Any]] = []
    original = SESV2Response.send_email

    def send_email(self: SESV2Response) -> str:
        seen.append(json.loads(self.body))
        return original(self)

    monkeypatch.setattr(SESV2Response, "send_email", send_email)
    return seen


def ses_failing(monkeypatch: pytest.MonkeyPatch, error: str, status: int,
                times: int | None = None) -> list[int]:
    """Make SES answer `error` (`times` times, or always); return the call log."""
    calls: list[int] = []
    original = SESV2Backend.send_email

    def send_email(self: SESV2Backend, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if times is None or len(calls) <= times:
            failure = JsonRESTError(error, "injected by the test")
            failure.code = status
            raise failure
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SESV2Backend, "send_email", send_email)
    return calls


# --- one e-mail per fallback ------------------------------------------------------------

@pytest.mark.parametrize("reason", list(REASONS))
def test_every_fallback_reason_sends_exactly_one_email_to_the_team(
        world: World, workflow: Workflow, reason: str) -> None:
    conversation_id = REASONS[reason](world)

    mail = the_mail()

    assert mail.source == SENDER
    assert mail.destinations["ToAddresses"] == [TEAM]
    assert reason in mail.subject
    assert conversation_id in mail.body


def test_the_email_has_a_text_and_an_html_part(
        world: World, workflow: Workflow, ses_requests: list[dict[str, Any]]) -> None:
    no_agent(world)

    assert len(ses_requests) == 1
    body = ses_requests[0]["Content"]["Simple"]["Body"]
    assert "vera@acme.io" in body["Text"]["Data"]
    assert "no_agent" in body["Text"]["Data"]
    assert re.search(r"<(table|p|div|h\d)\b", body["Html"]["Data"])
    assert "vera@acme.io" in body["Html"]["Data"]


def test_the_email_says_who_the_visitor_is_and_on_which_page(
        world: World, workflow: Workflow) -> None:
    no_agent(world)

    body = the_mail().body

    assert "vera@acme.io" in body
    assert "Vera" in body
    assert html.escape(PAGE) in body


def test_the_email_carries_what_was_said_so_far(world: World, workflow: Workflow) -> None:
    configure(world, {"mode": "round_robin"})
    world.agent("alice@example.com")
    world.agent_client("alice@example.com")
    visitor, conversation_id = request(world)
    said = visitor.ask("sendMessage", conversationId=conversation_id,
                       text="Do you ship to Norway?", clientMessageId="m1")
    assert said["type"] == "message", said
    await_fallback(visitor)  # nobody accepted

    body = the_mail().body
    assert re.search("transcript", body, re.IGNORECASE), body
    transcript = re.split("transcript", body, maxsplit=1, flags=re.IGNORECASE)[1]

    assert "Do you ship to Norway?" in transcript
    assert "Yes" in transcript  # the question card's answer
    assert "vera@acme.io" in transcript  # the capture


def test_a_visitor_who_only_walked_the_dialog_has_their_answers_and_details_in_the_transcript(
        world: World, workflow: Workflow, ses_requests: list[dict[str, Any]]) -> None:
    no_agent(world)  # question, capture, live chat card; not a word typed

    body = ses_requests[0]["Content"]["Simple"]["Body"]

    for part in (body["Text"]["Data"], html.unescape(body["Html"]["Data"])):
        transcript = part.split("Transcript so far", 1)[1]
        assert "answered “Talk to sales?”: Yes" in transcript, part
        assert "First name: Vera" in transcript and "E-mail: vera@acme.io" in transcript, part
        assert "We'll e-mail you." in transcript, part  # the fallback the visitor was given


def test_the_email_links_to_the_conversation(
        world: World, workflow: Workflow, ses_requests: list[dict[str, Any]]) -> None:
    conversation_id = no_agent(world)

    body = ses_requests[0]["Content"]["Simple"]["Body"]

    link = re.escape(INBOX) + r"\S*" + conversation_id
    assert re.search(link, body["Text"]["Data"]), body["Text"]["Data"]
    assert re.search(r'<a\s[^>]*href="' + link, body["Html"]["Data"]), body["Html"]["Data"]


def test_captured_fields_are_escaped_in_the_html(world: World, workflow: Workflow) -> None:
    configure(world, {"mode": "round_robin"})
    visitor, _ = request(world, {"firstName": "<img src=x onerror=alert(1)>",
                                 "email": "vera@acme.io"})
    await_fallback(visitor)

    body = the_mail().body

    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "<img" not in body


# --- idempotency -------------------------------------------------------------------------

def test_the_same_failure_notified_twice_sends_one_email(world: World, workflow: Workflow) -> None:
    configure(world, {"mode": "round_robin"})
    first = failed_action(LIVE_CHAT, "no_agent", conversation_id="conv-idem")
    time.sleep(0.002)
    retried = failed_action(LIVE_CHAT, "no_agent", conversation_id="conv-idem")  # a later `at`

    notifications.notify(first)
    notifications.notify(retried)

    assert len(sent_mails()) == 1


def test_another_reason_for_the_same_conversation_is_mailed_too(
        world: World, workflow: Workflow) -> None:
    configure(world, {"mode": "round_robin"})

    notifications.notify(failed_action(LIVE_CHAT, "not_accepted", conversation_id="conv-2"))
    notifications.notify(failed_action(LIVE_CHAT, "quota_reached", conversation_id="conv-2"))

    assert sorted(m.subject.rsplit(" ", 1)[-1] for m in sent_mails()) == [
        "not_accepted", "quota_reached"]


# --- SES failures ------------------------------------------------------------------------

def test_a_throttled_email_is_retried_and_sent_once(
        world: World, workflow: Workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(world, {"mode": "round_robin"})
    calls = ses_failing(monkeypatch, "TooManyRequestsException", 429, times=1)
    started = time.monotonic()

    notifications.notify(failed_action(LIVE_CHAT, "no_agent", conversation_id="conv-slow"))

    assert time.monotonic() - started < 5, "botocore's backoff took too long"
    assert len(calls) == 2  # retried by the SES client, not by a second invocation
    assert len(sent_mails()) == 1


def test_an_email_that_cannot_be_sent_lands_in_the_dead_letter_queue(
        world: World, workflow: Workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = ses_failing(monkeypatch, "MessageRejected", 400)
    conversation_id = no_agent(world)  # the visitor still gets the fallback

    assert sent_mails() == []
    assert len(calls) >= 1
    parked = queue_messages(workflow.notify_dlq)
    assert [(m.get("conversationId"), m.get("reason")) for m in parked] == [
        (conversation_id, "no_agent")]
    assert [name for name, _ in workflow.dispatcher.failures] == ["notify_failure"]


def test_a_dead_lettered_email_is_sent_when_redriven_after_ses_recovers(
        world: World, workflow: Workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        ses_failing(patch, "MessageRejected", 400)
        no_agent(world)
    parked = queue_messages(workflow.notify_dlq)
    assert len(parked) == 1

    notifications.notify(parked[0])

    assert len(sent_mails()) == 1


class _InvocationTimedOut(BaseException):
    """How Lambda ends an invocation at its timeout: no `except Exception` runs, so the
    idempotency record is left "in progress"."""


@dataclass
class _ShortContext:
    """A Lambda context with 50 ms left."""

    function_name: str = "notify_failure"
    aws_request_id: str = "req-timeout"

    def get_remaining_time_in_millis(self) -> int:
        return 50


def test_an_email_whose_invocation_timed_out_is_sent_by_the_retry(
        world: World, workflow: Workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an invocation that timed out while SES was sending
    configure(world, {"mode": "round_robin"})
    event = failed_action(LIVE_CHAT, "no_agent", conversation_id="conv-timeout")
    with monkeypatch.context() as patch:
        def hang(self: SESV2Backend, *args: Any, **kwargs: Any) -> Any:
            raise _InvocationTimedOut
        patch.setattr(SESV2Backend, "send_email", hang)
        with pytest.raises(_InvocationTimedOut):
            notifications.notify(event, _ShortContext())
    time.sleep(0.2)  # past that invocation's end

    # When Lambda retries the event
    notifications.notify(event, _ShortContext())

    # Then the retry sends the e-mail (the in-progress record expired with the invocation)
    assert len(sent_mails()) == 1
