"""The e-mails notify_failure sends, text and HTML, via SES v2: failure e-mails to the team,
one per failed action (conversation and reason), and the transcript a visitor asked for
(action `transcript`), to the address captured in that conversation. Idempotent through
Powertools Idempotency, so a retried workflow or a retried async invocation never mails
twice."""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from pydantic import BaseModel, ConfigDict, Field

from livechat import runtime
from livechat.domain.errors import NotFound
from livechat.domain.snapshots import Conversation
from livechat.outbound import transcripts
from livechat.outbound.failures import TRANSCRIPT
from livechat.runtime import get_settings
from livechat.store import catalog, conversations
from livechat.store.keys import IDEMPOTENCY_PK

logger = Logger(child=True)

WHY = {
    "not_accepted": "No agent accepted the live chat in time.",
    "no_agent": "No agent was available to take the live chat.",
    "no_rule_matched": "No routing rule matched this visitor.",
    "quota_reached": "The live chat engagement quota is reached: visitors get the global "
                     "fallback message until the plan changes.",
    "quota_warning": "90 % of the live chat engagement quota is used.",
}
# Keep a record long enough to cover every retry of a workflow or an async invocation.
_IDEMPOTENCY_SECONDS = 7 * 24 * 3600


class FailedAction(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=64)
    at: str
    conversationId: str | None = Field(default=None, max_length=128)
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Transcript:
    """What a mail shows of a conversation: who, where, and the transcript's lines."""

    visitor: dict[str, Any]
    page: dict[str, Any]
    lines: list[str]


def render(event: FailedAction, conversation: Transcript | None) -> Mail:
    why = WHY.get(event.reason, event.reason)
    what = {"live_chat": "Live chat", "engagement_quota": "Live chat quota"}.get(
        event.action, event.action)
    lines = [f"{what}: {event.reason}", "", why, f"When: {event.at}"]
    rows: list[tuple[str, str]] = [("What failed", f"{what} ({event.reason})"),
                                   ("Why", why), ("When", event.at)]
    subject = f"[livechat] {what} failed: {event.reason}"
    if event.detail:
        for key, value in event.detail.items():
            lines.append(f"{key}: {value}")
            rows.append((key, str(value)))
    transcript_lines: list[str] = []
    if conversation is not None:
        visitor = conversation.visitor
        who = visitor.get("email") or visitor.get("firstName") or "an anonymous visitor"
        subject = f"[livechat] {what} failed for {who}: {event.reason}"
        lines += ["", "Visitor:"] + [f"  {k}: {v}" for k, v in visitor.items()]
        page = conversation.page
        lines += ["", f"Page: {page.get('url', '(unknown)')}"]
        for key, value in visitor.items():
            rows.append((f"Visitor {key}", str(value)))
        rows.append(("Page", str(page.get("url", "(unknown)"))))
        transcript_lines = conversation.lines or ["(nothing was said)"]
        lines += ["", "Transcript so far:"] + [f"  {t}" for t in transcript_lines]
        link = get_settings().inbox_url
        if link:
            url = f"{link}#conversation={event.conversationId}"
            lines += ["", f"Conversation: {url}"]
            rows.append(("Conversation", url))
    def cell(key: str, value: str) -> str:
        if key == "Conversation":
            return f'<a href="{html.escape(value, quote=True)}">Open the conversation</a>'
        return html.escape(value)

    body = "".join(
        f"<tr><th align=left>{html.escape(k)}</th><td>{cell(k, v)}</td></tr>" for k, v in rows
    )
    transcript_html = "".join(f"<li>{html.escape(t)}</li>" for t in transcript_lines)
    page_html = (
        f"<h2>{html.escape(what)} failed</h2><table>{body}</table>"
        + (f"<h3>Transcript so far</h3><ol>{transcript_html}</ol>" if transcript_lines else "")
    )
    return Mail(subject=subject[:200], text="\n".join(lines) + "\n", html=page_html)


def _stored(conversation_id: str | None) -> Conversation | None:
    if not conversation_id:
        return None
    try:
        return conversations.get(conversation_id)
    except NotFound:
        return None


def _transcript(conv: Conversation | None) -> Transcript | None:
    if conv is None:
        return None
    events = conversations.events_after(conv.conversation_id, 0)
    return Transcript(dict(conv.visitor), dict(conv.page), transcripts.lines(conv, events))


def render_for_visitor(transcript: Transcript) -> Mail:
    """The transcript a visitor asked for: what they said and were told, nothing internal
    (no reasons, no link to the inbox)."""
    url = transcript.page.get("url")
    where = f" on {url}" if url else ""
    intro = f"Here is the transcript of your chat{where}, as you asked."
    text = "\n".join([intro, "", *transcript.lines]) + "\n"
    items = "".join(f"<li>{html.escape(t)}</li>" for t in transcript.lines)
    return Mail(subject="Your chat transcript", text=text,
                html=f"<p>{html.escape(intro)}</p><ol>{items}</ol>")


def _deliver(sender: str, to: list[str], mail: Mail) -> dict[str, Any]:
    response = runtime.sesv2().send_email(
        FromEmailAddress=sender,
        Destination={"ToAddresses": to},
        Content={"Simple": {
            "Subject": {"Data": mail.subject, "Charset": "UTF-8"},
            "Body": {"Text": {"Data": mail.text, "Charset": "UTF-8"},
                     "Html": {"Data": mail.html, "Charset": "UTF-8"}},
        }},
    )
    return {"sent": True, "messageId": response.get("MessageId")}


def _send_transcript(conversation_id: str | None, sender: str) -> dict[str, Any]:
    conv = _stored(conversation_id)
    # The recipient is read here, from the conversation, never taken from the event: only
    # the address the visitor captured in that conversation ever gets its transcript.
    recipient = str((conv.visitor if conv else {}).get("email") or "")
    transcript = _transcript(conv)
    if not recipient or transcript is None:
        logger.warning("no captured address (erased?); transcript not sent", conversation_id=conversation_id)
        return {"sent": False, "reason": "no recipient"}
    result = _deliver(sender, [recipient], render_for_visitor(transcript))
    logger.info("transcript e-mail sent", conversation_id=conversation_id)
    return result


def send(event: dict[str, Any]) -> dict[str, Any]:
    failed = FailedAction.model_validate(event)
    settings = catalog.get_workspace_settings()
    if failed.action == TRANSCRIPT:
        return _send_transcript(failed.conversationId, settings.failure_emails.from_)
    recipients = settings.failure_emails.to
    if not recipients:
        logger.warning("no failure_emails.to configured; nothing sent", reason=failed.reason)
        return {"sent": False, "reason": "no recipients"}
    mail = render(failed, _transcript(_stored(failed.conversationId)))
    result = _deliver(settings.failure_emails.from_, list(recipients), mail)
    logger.info("failure e-mail sent", reason=failed.reason,
                conversation_id=failed.conversationId)
    return result


@lru_cache(maxsize=1)
def _idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[action, reason, conversationId]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=_IDEMPOTENCY_SECONDS,
    )


@lru_cache(maxsize=1)
def _idempotent_send() -> Any:
    settings = get_settings()
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=IDEMPOTENCY_PK,
        boto3_client=runtime.dynamodb(),
    )
    return idempotent_function(data_keyword_argument="event", config=_idempotency_config(),
                               persistence_store=persistence)(send)


def notify(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    FailedAction.model_validate(event)  # a malformed event fails before any record
    if context is not None:
        # The in-progress record then expires with this invocation: after a timeout (no
        # exception handler runs) Lambda's retry sends the mail instead of finding it "in
        # progress" until the record expires, days later, and ending in the dead-letter queue.
        _idempotency_config().register_lambda_context(context)
    result: dict[str, Any] = _idempotent_send()(event=event)
    return result


@runtime.on_reset
def reset() -> None:
    _idempotent_send.cache_clear()
    _idempotency_config.cache_clear()
