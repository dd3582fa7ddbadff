"""The conversation use cases that are not routing: the dialog, messages, ending, reading."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

from livechat.domain import transitions
from livechat.domain.clock import new_id, now_iso
from livechat.domain.errors import BadRequest, Conflict, NotFound
from livechat.domain.retention import DEFAULT_DAYS as DEFAULT_RETENTION_DAYS
from livechat.domain.snapshots import Conversation, Event
from livechat.domain.states import Status
from livechat.domain.workspace import CaptureCard, QuestionCard
from livechat.outbound import transcripts
from livechat.outbound.frames import transcript_item
from livechat.store import catalog, conversations, mirror, parties, transaction
from livechat.store.keys import visitor_handle
from livechat.store.limits import Charge
from livechat.store.parties import Parties
from livechat.store.transaction import Applied

PAGE_SIZE = 50
# Names the conversations a client names itself (clientConversationId): one per visitor and id.
_CLIENT_NAMED = uuid.UUID("5d0f5c1e-7a8b-4c31-9a43-2f6a1c0de9b7")


def page_with_utm(page: dict[str, Any]) -> dict[str, Any]:
    """The page as stored; utm is taken from the url's utm_* parameters when absent."""
    data = {k: v for k, v in page.items() if v is not None}
    url = data.get("url")
    if not data.get("utm") and url:
        try:
            query = parse_qs(urlsplit(url).query)
        except ValueError:
            # The url is the client's text, stored as sent: one urlsplit cannot split
            # ("https://[", a host NFKC normalisation changes) has no utm to take.
            query = {}
        utm = {k: query[f"utm_{k}"][0] for k in ("source", "medium", "campaign") if query.get(f"utm_{k}")}
        if utm:
            data["utm"] = utm
    return data


def new_conversation_id(visitor_id: str, client_id: str | None) -> str:
    """`<visitor handle>.<uuid>`: the visitor's item is addressed before the conversation
    is read, so one BatchGetItem reads both (livechat.store.parties). Derived from (visitor,
    client id) when the client names the conversation, so a re-sent start finds it."""
    unique = uuid.uuid5(_CLIENT_NAMED, f"{visitor_id}\n{client_id}").hex if client_id else new_id()
    return f"{visitor_handle(visitor_id)}.{unique}"


def start(visitor_id: str, dialog_id: str, page: dict[str, Any], *, client_id: str | None = None,
          charge: Charge | None = None, retention_days: int = DEFAULT_RETENTION_DAYS) -> str:
    """Create an automated conversation. With the client's own id, the conversation's id is
    derived from (visitor, client id), so a re-sent start finds the one it created.
    `retention_days`: the workspace's (settings.retention_days)."""
    catalog.get_dialog(dialog_id)  # NOT_FOUND for an unknown dialog
    conversation_id = new_conversation_id(visitor_id, client_id)
    at = now_iso()
    if conversations.create(conversation_id, visitor_id, dialog_id, page_with_utm(page), at, charge=charge,
                            retention_days=retention_days):
        return conversation_id
    # The id is fresh or this visitor's own: a failed "does not exist" means our own put
    # committed and its response was lost (a 5xx; botocore sent it again), or the client
    # started this conversation before.
    stored = _stored(conversation_id)
    if stored is None or stored.visitor_id != visitor_id or (client_id is None and stored.started_at != at):
        # Not ours and not this client's: nothing to answer but "try again" (INTERNAL).
        raise RuntimeError(f"conversation id {conversation_id} is taken")
    if stored.dialog_id != dialog_id:
        raise Conflict(f"clientConversationId: already names a conversation of dialog {stored.dialog_id!r}")
    return conversation_id


def _stored(conversation_id: str) -> Conversation | None:
    try:
        return conversations.get(conversation_id)
    except NotFound:
        return None


def visitor_party(conversation_id: str, visitor_id: str, *, relay: bool = False) -> Parties:
    """The visitor's own conversation with the parties' connections, in one read;
    someone else's looks exactly like a missing one. `relay`: livechat.store.parties.read."""
    found = parties.read(conversation_id, relay=relay)
    if found.conversation.visitor_id != visitor_id:
        raise NotFound(f"conversation {conversation_id} not found")
    return found


def agent_party(conversation_id: str, email: str, *, relay: bool = False) -> Parties:
    """A chat assigned to this agent with the parties' connections, in one read."""
    found = parties.read(conversation_id, agent=email, relay=relay)
    if found.conversation.agent != email:
        raise NotFound(f"conversation {conversation_id} not found")
    return found


def owned_by_visitor(conversation_id: str, visitor_id: str) -> Conversation:
    conv = conversations.get(conversation_id)
    if conv.visitor_id != visitor_id:
        raise NotFound(f"conversation {conversation_id} not found")
    return conv


def answer(conv: Conversation, card_id: str, value: str, *, charge: Charge | None = None) -> Applied:
    card = catalog.get_dialog(conv.dialog_id).card(card_id)
    if not isinstance(card, QuestionCard):
        raise BadRequest(f"cardId: {card_id!r} is not a question card of this dialog")
    if value not in {a.label for a in card.answers}:
        raise BadRequest(f"value: {value[:80]!r} is not an answer of card {card_id!r}")
    return transaction.apply(conv.conversation_id, partial(transitions.record_answer, card_id=card_id, value=value),
                 conversation=conv, charge=charge)


def capture(conv: Conversation, card_id: str, fields: dict[str, str], *, charge: Charge | None = None) -> Applied:
    card = catalog.get_dialog(conv.dialog_id).card(card_id)
    if not isinstance(card, CaptureCard):
        raise BadRequest(f"cardId: {card_id!r} is not a capture card of this dialog")
    from livechat.domain import capture as capture_rules  # the capture action's rules only

    clean = capture_rules.clean_fields(fields, card.fields, card.required, card.id)
    return transaction.apply(conv.conversation_id, partial(transitions.record_capture, card_id=card_id, fields=clean),
                 conversation=conv, charge=charge)


def send_message(conv: Conversation, sender: str, text: str, client_message_id: str, *,
                 charge: Charge | None = None, retention_days: int | None = None) -> Applied:
    """Store one message; a retried clientMessageId returns the stored one (uncounted)."""
    return transaction.apply(conv.conversation_id, partial(transitions.post_message, sender=sender, text=text,
                                               client_message_id=client_message_id, at=now_iso()),
                 conversation=conv, charge=charge, retention_days=retention_days)


def end(conv: Conversation, by: str) -> Applied:
    """Close a conversation; `Applied.conversation` is what it was (for who to tell)."""
    return transaction.apply(conv.conversation_id, partial(transitions.end, by=by, at=now_iso()), conversation=conv)


def transcript(conv: Conversation, *, with_text: bool = False) -> dict[str, Any]:
    events = conversations.events_after(conv.conversation_id, 0)
    result: dict[str, Any] = {
        "conversationId": conv.conversation_id,
        "visitor": dict(conv.visitor),
        "page": dict(conv.page),
        "status": conv.status.value,
        "events": [transcript_item(e) for e in events],
    }
    if with_text:
        result["text"] = "\n".join(transcripts.lines(conv, events)) + "\n"
    if conv.agent:
        result["agent"] = {"name": conv.agent_name or conv.agent, "avatarUrl": conv.agent_avatar or ""}
    return result


def transcript_events(conversation_id: str) -> list[Event]:
    return conversations.events_after(conversation_id, 0)


def inbox(email: str, connection_id: str | None = None) -> list[dict[str, Any]]:
    """The agent's live chats. Listed from `connection_id`, each chat whose mirror of the
    agent's connections lacks it gets it (livechat.store.mirror: a connection that opened
    while the chat was being offered to the agent may have missed it)."""
    chats = [c for c in conversations.open_by_agent(email, clocked=True) if c.status == Status.ACTIVE]
    for c in chats:
        if connection_id and c.agent_connections is not None and connection_id not in c.agent_connections:
            mirror.add(c.conversation_id, email, connection_id)
    return [
        {"conversationId": c.conversation_id, "visitor": dict(c.visitor), "page": dict(c.page),
         "acceptedAt": c.accepted_at, "lastActivityAt": c.last_activity_at}
        for c in chats
    ]


def list_all(cursor: str | None, agent: str) -> tuple[list[dict[str, Any]], str | None]:
    """One page of every conversation for `agent`; the cursor is theirs only (BadRequest
    for one this server did not give them: livechat.store.conversations)."""
    page, next_cursor = conversations.page_by_activity(cursor, PAGE_SIZE, reader=agent)
    items = []
    for c in page:
        item: dict[str, Any] = {
            "conversationId": c.conversation_id, "kind": c.kind, "status": c.status.value,
            "visitor": dict(c.visitor), "startedAt": c.started_at,
            "lastActivityAt": c.last_event_at,
        }
        if c.agent:
            item["agent"] = {"email": c.agent, "name": c.agent_name or c.agent}
        items.append(item)
    return items, next_cursor
