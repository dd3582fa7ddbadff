"""Conversation writes: every change that appends an event is one DynamoDB transaction,
guarded by the conversation's `last_seq` (optimistic concurrency) plus its own state
condition. That keeps `seq` gap-free (the event and the counter are written together or
not at all) and makes every state transition a condition, never a check-then-write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from livechat import runtime
from livechat.domain.clock import now_iso
from livechat.domain.errors import Conflict, LivechatError, NotFound
from livechat.runtime import get_settings
from livechat.store import tables as models
from livechat.store.tables import ConversationModel, EventModel, MessageIdModel, conv_pk, event_sk

MAX_ATTEMPTS = 12

_connection: Connection | None = None


def connection() -> Connection:
    global _connection
    models.bind()
    settings = get_settings()
    if _connection is None or _connection.host != settings.dynamodb_endpoint:
        _connection = Connection(region=settings.region, host=settings.dynamodb_endpoint)
    return _connection


@runtime.on_reset
def reset() -> None:
    global _connection
    _connection = None


@dataclass
class NewEvent:
    kind: str  # answer | capture | message | system
    type: str  # the wire event type it replays as
    sender: str  # visitor | agent | system
    text: str | None = None
    card_id: str | None = None
    value: str | None = None
    fields: dict[str, Any] | None = None
    client_message_id: str | None = None
    data: dict[str, Any] | None = None
    activity: bool = False  # a message: counts for the inactivity timeout


@dataclass
class ExtraWrite:
    """Another item's update inside the same transaction, with the error its failed
    condition means."""

    model: models._Item
    actions: list[Action]
    condition: Condition | None
    on_fail: Callable[[], LivechatError]


@dataclass
class Change:
    """What one transaction does to a conversation. Built from the freshly read item by
    a plan function that raises a domain error when the state forbids the change."""

    events: list[NewEvent] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    condition: Condition | None = None
    extra: list[ExtraWrite] = field(default_factory=list)


@dataclass
class Applied:
    conversation: ConversationModel  # as read before the change
    events: list[EventModel]
    duplicate_of: EventModel | None = None  # a retried clientMessageId


def get_conversation(conversation_id: str, *, consistent: bool = True) -> ConversationModel:
    models.bind()
    try:
        return ConversationModel.get(conv_pk(conversation_id), models.META_SK,
                                     consistent_read=consistent)
    except ConversationModel.DoesNotExist:
        raise NotFound(f"conversation {conversation_id} not found") from None


def event_item(conversation_id: str, seq: int, event: NewEvent, at: str) -> EventModel:
    return EventModel(
        conv_pk(conversation_id),
        event_sk(seq),
        seq=seq,
        kind=event.kind,
        type=event.type,
        sender=event.sender,
        at=at,
        text=event.text,
        card_id=event.card_id,
        value=event.value,
        fields=event.fields,
        client_message_id=event.client_message_id,
        data=event.data,
    )


def apply(
    conversation_id: str,
    plan: Callable[[ConversationModel], Change],
    *,
    conversation: ConversationModel | None = None,
) -> Applied:
    """Run `plan` on the current conversation and commit its change atomically, retrying
    (with a fresh read and a fresh plan) only when a concurrent change moved the
    conversation under us."""
    conv = conversation or get_conversation(conversation_id)
    for _ in range(MAX_ATTEMPTS):
        change = plan(conv)
        at = now_iso()
        seq = int(conv.last_seq)
        written: list[EventModel] = []
        tx = TransactWrite(connection=connection())
        puts = 0
        cmid: str | None = None
        for event in change.events:
            seq += 1
            item = event_item(conversation_id, seq, event, at)
            written.append(item)
            tx.save(item, condition=EventModel.pk.does_not_exist())
            puts += 1
            if event.client_message_id:
                cmid = event.client_message_id
                tx.save(
                    MessageIdModel(conv_pk(conversation_id), f"CMID#{cmid}", seq=seq),
                    condition=MessageIdModel.pk.does_not_exist(),
                )
                puts += 1
        actions = list(change.actions)
        if change.events:
            actions.append(ConversationModel.last_seq.set(seq))
            # gsi1 orders the conversations view by latest event; last_activity_at only
            # moves on activity (messages, a join), which is what inactivity expiry reads.
            actions.append(ConversationModel.gsi1sk.set(f"{at}#{conversation_id}"))
            if any(e.activity for e in change.events):
                actions.append(ConversationModel.last_activity_at.set(at))
        guard = ConversationModel.last_seq == int(conv.last_seq)
        if change.condition is not None:
            guard = guard & change.condition
        tx.update(conv, actions, condition=guard, add_version_condition=False)
        for extra in change.extra:
            tx.update(extra.model, extra.actions, condition=extra.condition,
                      add_version_condition=False)
        try:
            with tx:
                pass
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons
            failed = [i for i, r in enumerate(reasons) if r and r.code == "ConditionalCheckFailed"]
            if not failed:
                if any(r and r.code == "TransactionConflict" for r in reasons):
                    conv = get_conversation(conversation_id)
                    continue
                raise
            if cmid is not None and 1 in failed and puts >= 2:
                duplicate = find_client_message(conversation_id, cmid)
                if duplicate is not None:
                    return Applied(conv, [], duplicate_of=duplicate)
            extras_failed = [i - puts - 1 for i in failed if i > puts]
            if extras_failed and puts not in failed:
                raise change.extra[extras_failed[0]].on_fail() from None
            conv = get_conversation(conversation_id)
            continue
        return Applied(conv, written)
    raise Conflict("the conversation is busy; try again")


def find_client_message(conversation_id: str, client_message_id: str) -> EventModel | None:
    try:
        marker = MessageIdModel.get(conv_pk(conversation_id), f"CMID#{client_message_id}",
                                    consistent_read=True)
    except MessageIdModel.DoesNotExist:
        return None
    try:
        return EventModel.get(conv_pk(conversation_id), event_sk(int(marker.seq)),
                              consistent_read=True)
    except EventModel.DoesNotExist:
        return None


def events_after(conversation_id: str, after_seq: int) -> list[EventModel]:
    models.bind()
    return list(
        EventModel.query(
            conv_pk(conversation_id),
            EventModel.sk.between(event_sk(after_seq + 1), event_sk(10**10 - 1)),
            consistent_read=True,
        )
    )
