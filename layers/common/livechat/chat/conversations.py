"""The conversation actions that are not routing: the dialog, messages, ending, reading."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pynamodb.exceptions import PutError
from pynamodb.expressions.update import Action

from livechat.api.protocol import Page
from livechat.domain import capture as capture_rules
from livechat.domain import states
from livechat.domain.clock import new_id, now_iso
from livechat.domain.errors import BadRequest, Conflict, NotFound
from livechat.domain.workspace import CaptureCard, QuestionCard
from livechat.outbound.frames import ANSWER_RECORDED, CAPTURE_RECORDED, transcript_item
from livechat.store import agents, catalog
from livechat.store import tables as models
from livechat.store import transaction as store
from livechat.store.tables import ConversationModel, EventModel, conv_pk, plain
from livechat.store.transaction import Applied, Change, ExtraWrite, NewEvent

PAGE_SIZE = 50


def page_with_utm(page: Page) -> dict[str, Any]:
    """The page as stored; utm is taken from the url's utm_* parameters when absent."""
    data = page.model_dump(exclude_none=True)
    if not data.get("utm") and page.url:
        try:
            query = parse_qs(urlsplit(page.url).query)
        except ValueError:
            # The url is the client's text, stored as sent: one urlsplit cannot split
            # ("https://[", a host NFKC normalisation changes) has no utm to take.
            query = {}
        utm = {k: query[f"utm_{k}"][0] for k in ("source", "medium", "campaign")
               if query.get(f"utm_{k}")}
        if utm:
            data["utm"] = utm
    return data


# Names the conversations a client names itself (clientConversationId): one per visitor and id.
_CLIENT_NAMED = uuid.UUID("5d0f5c1e-7a8b-4c31-9a43-2f6a1c0de9b7")


def start(visitor_id: str, dialog_id: str, page: Page, *, client_id: str | None = None) -> str:
    """Create an automated conversation. With the client's own id, the conversation's id is
    derived from (visitor, client id), so a re-sent start finds the one it created."""
    catalog.get_dialog(dialog_id)  # NOT_FOUND for an unknown dialog
    models.bind()
    conversation_id = (uuid.uuid5(_CLIENT_NAMED, f"{visitor_id}\n{client_id}").hex
                       if client_id else new_id())
    at = now_iso()
    item = ConversationModel(
        conv_pk(conversation_id),
        models.META_SK,
        visitor_id=visitor_id,
        dialog_id=dialog_id,
        page=page_with_utm(page),
        started_at=at,
        last_activity_at=at,
        gsi1sk=f"{at}#{conversation_id}",
    )
    try:
        item.save(condition=ConversationModel.pk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        # The id is fresh or this visitor's own: a failed "does not exist" means our own put
        # committed and its response was lost (a 5xx; botocore sent it again), or the
        # client started this conversation before.
        stored = _stored(conversation_id)
        if stored is None or stored.visitor_id != visitor_id or (
                client_id is None and stored.started_at != at):
            raise
        if stored.dialog_id != dialog_id:
            raise Conflict(f"clientConversationId: already names a conversation of dialog "
                           f"{stored.dialog_id!r}") from None
    return conversation_id


def _stored(conversation_id: str) -> ConversationModel | None:
    try:
        return store.get_conversation(conversation_id)
    except NotFound:
        return None


def owned_by_visitor(conversation_id: str, visitor_id: str) -> ConversationModel:
    conv = store.get_conversation(conversation_id)
    if conv.visitor_id != visitor_id:
        raise NotFound(f"conversation {conversation_id} not found")
    return conv


def assigned_to_agent(conversation_id: str, email: str) -> ConversationModel:
    conv = store.get_conversation(conversation_id)
    if conv.agent != email:
        raise NotFound(f"conversation {conversation_id} not found")
    return conv


def _require_automated(conv: ConversationModel) -> None:
    if conv.status != states.AUTOMATED:
        raise Conflict("the dialog is over for this conversation")


def answer(conv: ConversationModel, card_id: str, value: str) -> Applied:
    card = catalog.get_dialog(conv.dialog_id).card(card_id)
    if not isinstance(card, QuestionCard):
        raise BadRequest(f"cardId: {card_id!r} is not a question card of this dialog")
    if value not in {a.label for a in card.answers}:
        raise BadRequest(f"value: {value[:80]!r} is not an answer of card {card_id!r}")

    def plan(current: ConversationModel) -> Change:
        _require_automated(current)
        return Change(
            events=[NewEvent("answer", ANSWER_RECORDED, "visitor", card_id=card_id, value=value)],
            condition=ConversationModel.status == states.AUTOMATED,
        )

    return store.apply(conv.conversation_id, plan, conversation=conv)


def capture(conv: ConversationModel, card_id: str, fields: dict[str, str]) -> Applied:
    card = catalog.get_dialog(conv.dialog_id).card(card_id)
    if not isinstance(card, CaptureCard):
        raise BadRequest(f"cardId: {card_id!r} is not a capture card of this dialog")
    clean = capture_rules.clean_fields(fields, card.fields, card.required, card.id)

    def plan(current: ConversationModel) -> Change:
        _require_automated(current)
        actions = [ConversationModel.visitor[k].set(v) for k, v in clean.items()]
        return Change(
            events=[NewEvent("capture", CAPTURE_RECORDED, "visitor", card_id=card_id,
                             fields=clean)],
            actions=actions,
            condition=ConversationModel.status == states.AUTOMATED,
        )

    return store.apply(conv.conversation_id, plan, conversation=conv)


def send_message(conv: ConversationModel, sender: str, text: str, client_message_id: str
                 ) -> Applied:
    """Store one message; a retried clientMessageId returns the stored one."""
    allowed = (
        {states.ROUTING, states.OFFERED, states.ACTIVE} if sender == "visitor" else {states.ACTIVE}
    )

    def plan(current: ConversationModel) -> Change:
        if current.status not in allowed:
            raise Conflict(f"no live chat to send to (conversation is {current.status})")
        actions: list[Action] = []
        if current.status == states.ACTIVE:
            # Keeps the chat out of the inactivity sweep (gsi3 is keyed by it).
            actions.append(ConversationModel.live_activity_at.set(now_iso()))
        return Change(
            events=[NewEvent("message", "message", sender, text=text,
                             client_message_id=client_message_id, activity=True)],
            actions=actions,
            condition=ConversationModel.status == current.status,
        )

    return store.apply(conv.conversation_id, plan, conversation=conv)


def end(conv: ConversationModel, by: str) -> tuple[Applied, str | None]:
    """Close a conversation. Returns the change and, when it was being offered, the
    withdrawn offer id. An active chat's slot is released in the same transaction."""
    withdrawn: list[str | None] = [None]

    def plan(current: ConversationModel) -> Change:
        if current.status not in states.OPEN:
            raise Conflict("the conversation has already ended")
        if by == "agent" and current.status != states.ACTIVE:
            raise Conflict("the chat is not live")
        actions = [
            ConversationModel.status.set(states.ENDED),
            ConversationModel.end_reason.set(by),
            ConversationModel.ended_at.set(now_iso()),
            ConversationModel.gsi2pk.remove(),
            ConversationModel.gsi2sk.remove(),
            ConversationModel.live_activity_at.remove(),
            ConversationModel.sweep_at.remove(),
            ConversationModel.offer_expires_at.remove(),
        ]
        extra = []
        holder = current.agent if current.status == states.ACTIVE else current.offer_agent
        withdrawn[0] = current.offer_id if current.status == states.OFFERED else None
        if current.status in (states.ACTIVE, states.OFFERED) and holder and current.offer_id:
            release = agents.release(current.conversation_id, current.offer_id)
            extra.append(ExtraWrite(agents.handle(holder), release.actions, release.condition,
                                    lambda: Conflict("the chat's slot is not held")))
        if current.status == states.OFFERED and current.offer_id:
            index = next((i for i, o in enumerate(current.offers or [])
                          if o.get("offerId") == current.offer_id), None)
            if index is not None:
                actions.append(
                    ConversationModel.offers[index]["outcome"].set("visitor_left")
                )
        events = []
        if current.status != states.AUTOMATED:
            events.append(NewEvent("system", "chatEnded", "system",
                                   text=f"Chat ended by the {by}", data={"reason": by}))
        return Change(events=events, actions=actions,  # type: ignore[arg-type]
                      condition=ConversationModel.status == current.status, extra=extra)

    applied = store.apply(conv.conversation_id, plan, conversation=conv)
    return applied, withdrawn[0]


def transcript(conv: ConversationModel) -> dict[str, Any]:
    events = store.events_after(conv.conversation_id, 0)
    result: dict[str, Any] = {
        "conversationId": conv.conversation_id,
        "visitor": plain(conv.visitor) or {},
        "page": plain(conv.page) or {},
        "status": conv.status,
        "events": [transcript_item(e) for e in events],
    }
    if conv.agent:
        result["agent"] = {"name": conv.agent_name or conv.agent,
                           "avatarUrl": conv.agent_avatar or ""}
    return result


def transcript_events(conversation_id: str) -> list[EventModel]:
    return store.events_after(conversation_id, 0)


def inbox(email: str) -> list[dict[str, Any]]:
    models.bind()
    chats = ConversationModel.open_by_agent.query(models.inbox_pk(email),
                                                  scan_index_forward=False)
    return [
        {
            "conversationId": c.conversation_id,
            "visitor": plain(c.visitor) or {},
            "page": plain(c.page) or {},
            "acceptedAt": c.accepted_at,
            "lastActivityAt": c.last_activity_at,
        }
        for c in chats
        if c.status == states.ACTIVE
    ]


def _encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise BadRequest("cursor: not a cursor this server gave") from None
    expected = {"pk", "sk", "gsi1pk", "gsi1sk"}
    if (not isinstance(key, dict) or set(key) != expected
            or not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str)
                       for v in key.values())
            or key["gsi1pk"]["S"] != models.ALL_CONVERSATIONS):
        raise BadRequest("cursor: not a cursor this server gave")
    return key


def list_all(cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    models.bind()
    start_key = _decode_cursor(cursor) if cursor else None
    result = ConversationModel.by_activity.query(
        models.ALL_CONVERSATIONS, scan_index_forward=False, limit=PAGE_SIZE,
        last_evaluated_key=start_key,
    )
    items = []
    for c in result:
        item: dict[str, Any] = {
            "conversationId": c.conversation_id,
            "kind": c.kind,
            "status": c.status,
            "visitor": plain(c.visitor) or {},
            "startedAt": c.started_at,
            "lastActivityAt": c.gsi1sk.split("#", 1)[0],
        }
        if c.agent:
            item["agent"] = {"email": c.agent, "name": c.agent_name or c.agent}
        items.append(item)
    return items, _encode_cursor(result.last_evaluated_key)
