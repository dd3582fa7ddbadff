"""The transaction primitive: a domain Change committed as one DynamoDB transaction.

Every change that appends an event is guarded by the `last_seq` on the conversation's
clock (optimistic concurrency: nothing appended since the plan was read), and every change
by its own guard on the conversation item, so `seq` is gap-free (the events and the clock
are written together or not at all) and every state transition is a condition, never a
check-then-write. (A conversation of an earlier release, with no clock yet, is guarded by
its item's `last_seq` as before; its next event creates the clock.) The agent's slot and
the engagement counter a Change names ride in the same transaction.

The clock (store.tables.ClockModel) is a separate item so that a message to a live chat,
which sets nothing else, writes only its event (keyed by its clientMessageId, which it
thereby marks as stored: keys.message_id_sk), the clock and the sender's rate counter:
the conversation item, and the four index entries an item of a live chat has (gsi1, gsi2,
gsi3, all projecting ALL), are not rewritten for it. Index keys
follow the fields when the item is written: gsi1sk moves with every event (the
conversations view) unless the Change says otherwise (a message moves it, and gsi3's
live_activity_at, only once they are ACTIVITY_KEY_STEP_SECONDS behind:
domain.transitions.activity_key_due), the inbox keys (gsi2) exist exactly while the chat is
active.

Retention (livechat.domain.retention): each event is written with
`expiration` = now + retention days, and the conversation item's `expiration` is refreshed
whenever the item is written with an event (never moved earlier): a message to a live chat
leaves the item alone, but the chat's end or expiry writes it, so a conversation outlives
its last event. The clock carries its latest event's `expiration`. The
days are the caller's (a use case that read the settings anyway passes
`settings.retention_days`, which is then remembered on the item) or else the ones the item
remembers: no extra read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from livechat.domain import retention
from livechat.domain.change import Change, Guard, NewEvent, SlotClaim
from livechat.domain.clock import now_iso, parse_iso
from livechat.domain.errors import Conflict, LivechatError
from livechat.domain.snapshots import Conversation, Event
from livechat.domain.states import Status
from livechat.store import agents, conversations, counters, cursors, limits, stats, tables
from livechat.store.keys import CLOCK_SK, META_SK, activity_sk, conv_pk, event_sk, inbox_pk, message_id_sk
from livechat.store.tables import ClockModel, ConversationModel, EventModel

MAX_ATTEMPTS = 12
# The one conversation field its clock keeps instead of its item: set once, by the agent's
# first message, which would otherwise write the item (and its index entries) for it.
CLOCK_FIELD = "first_reply_at"
Plan = Callable[[Conversation], Change]

connection = tables.connection  # the transactions' connection (re-exported for the store)


def commit_unless_moved(tx: TransactWrite) -> bool:
    """Commit a transaction of single writes: True when it committed, False when one of its
    conditions failed or another transaction held an item (the state moved: read it again)."""
    try:
        with tx:
            pass
    except TransactWriteError as exc:
        if any(r and r.code in ("ConditionalCheckFailed", "TransactionConflict") for r in exc.cancellation_reasons):
            return False
        raise
    return True


@dataclass
class Applied:
    conversation: Conversation  # as read before the change
    events: list[Event]
    duplicate_of: Event | None = None  # a retried clientMessageId


@dataclass
class _Extra:
    """Another item's update inside the same transaction, with the error its failed
    condition means."""

    item: tables._Item
    actions: list[Action]
    condition: Condition | None
    on_fail: Callable[[], LivechatError]


def _event_item(conversation_id: str, seq: int, event: NewEvent, at: str, expiration: int, *,
                own_key: bool = False) -> EventModel:
    sk = (message_id_sk(event.client_message_id, event.sender if own_key else None) if event.client_message_id
          else event_sk(seq))
    return EventModel(
        conv_pk(conversation_id), sk, seq=seq, kind=event.kind, type=event.type,
        sender=event.sender, at=at, text=event.text, card_id=event.card_id, value=event.value,
        fields=dict(event.fields) if event.fields is not None else None,
        client_message_id=event.client_message_id,
        data=dict(event.data) if event.data is not None else None,
        expiration=expiration,
    )


def _put_events(tx: TransactWrite, conversation_id: str, last_seq: int, events: Sequence[NewEvent], *, at: str,
                expiration: int, own_key: bool) -> tuple[list[EventModel], int | None]:
    """Put each event in `tx`, numbered on from `last_seq`: the items, and the index in `tx`
    of the one stored under its clientMessageId, if any, whose failed condition means that
    id is stored already (the clock's condition, not the event's key, keeps `seq` unique).
    `own_key`: the other side's message holds that id's key (keys.message_id_sk)."""
    written: list[EventModel] = []
    by_client_id: int | None = None
    for offset, event in enumerate(events, start=1):
        item = _event_item(conversation_id, last_seq + offset, event, at, expiration, own_key=own_key)
        if event.client_message_id:
            by_client_id = len(written)
        written.append(item)
        tx.save(item, condition=EventModel.pk.does_not_exist())
    return written, by_client_id


def _caught_up(conv: Conversation, change: Change, *, seq: int, at: str | None,
               retention_days: int | None) -> list[Action]:
    """What the clock says, copied onto the item whenever it is written anyway, so that the
    item is exact once a chat is over (its end writes it) and for every reader of the item
    alone: a conversation without a clock, erasure's "moved?" check, the indexes' listings
    and the export."""
    actions: list[Action] = []
    if change.events:
        actions.append(ConversationModel.last_seq.set(seq))
    last_activity = at or (conv.last_activity_at if conv.clocked else None)
    if last_activity:
        actions.append(ConversationModel.last_activity_at.set(last_activity))
    first_reply = change.set.get(CLOCK_FIELD) or (conv.first_reply_at if conv.clocked else None)
    if first_reply:
        actions.append(ConversationModel.first_reply_at.set(first_reply))
    if retention_days is None and conv.clocked and conv.retention_days is not None:
        actions.append(ConversationModel.retention_days.set(conv.retention_days))
    return actions


def _clock_guards(conv: Conversation, change: Change) -> bool:
    """Whether the clock alone can guard this change, leaving the conversation item (and
    its four index entries) unwritten: a change with nothing to set on the item, to a live
    chat that has a clock, planned on its status alone — a message. The clock's `last_seq`
    condition then stands for the status: a live chat ends only by a transition that
    appends an event (end, expire), which moves the clock."""
    return (conv.clocked and conv.status == Status.ACTIVE and bool(change.events)
            and change.guard == Guard(Status.ACTIVE))


def _clock(tx: TransactWrite, conversation_id: str, conv: Conversation, change: Change, *, seq: int,
           at: str | None, expiration: int, retention_days: int | None) -> bool:
    """The clock's part of the transaction (False: it has none). A change that appends no
    event leaves the clock alone: it sets only the item, whose own guard is what it was
    planned on (no ConditionCheck item, which the functions' policies do not allow).
    A conversation gets its clock when it becomes a live chat (the accept), where messages
    start; before that the item's own `last_seq` counts and no clock is written."""
    if not (conv.clocked or conv.status == Status.ACTIVE or change.set.get("status") == Status.ACTIVE):
        return False
    actions: list[Action] = []
    if change.events:
        actions += [ClockModel.last_seq.set(seq), ClockModel.expiration.set(expiration)]
        if at is not None:
            actions.append(ClockModel.last_activity_at.set(at))
        if retention_days is not None:
            # Remembered where this write goes, for the writes that do not read the settings
            # (an end after a message under a shortened retention uses the shorter one).
            actions.append(ClockModel.retention_days.set(retention_days))
    first_reply = change.set.get(CLOCK_FIELD)
    if first_reply is not None:
        actions.append(ClockModel.first_reply_at.set(first_reply))
    if not actions:
        return False
    unmoved = (ClockModel.last_seq == conv.clock_seq) if conv.clocked else ClockModel.last_seq.does_not_exist()
    tx.update(ClockModel(conv_pk(conversation_id), CLOCK_SK), actions, condition=unmoved, add_version_condition=False)
    return True


def _retention_actions(conv: Conversation, expiration: int, retention_days: int | None) -> list[Action]:
    """Refresh the conversation item's TTL (never earlier), and remember the days given."""
    actions: list[Action] = [
        ConversationModel.expiration.set(retention.conversation_expiration(conv.expiration, expiration))]
    if retention_days is not None:
        actions.append(ConversationModel.retention_days.set(retention_days))
    return actions


def _condition(guard: Guard) -> Condition:
    cond = ConversationModel.status == guard.status.value
    if guard.offer_id is not None:
        cond &= ConversationModel.offer_id == guard.offer_id
    if guard.offer_agent is not None:
        cond &= ConversationModel.offer_agent == guard.offer_agent
    if guard.offer_open_after is not None:
        cond &= ConversationModel.offer_expires_at > guard.offer_open_after
    if guard.live_activity_at is not None:
        cond &= ConversationModel.live_activity_at == guard.live_activity_at
    return cond


def _plain(value: Any) -> Any:
    if isinstance(value, frozenset):
        return set(value)
    return value.value if isinstance(value, Status) else value


def _actions(conv: Conversation, change: Change) -> list[Action]:
    model = ConversationModel
    actions: list[Action] = [getattr(model, name).set(_plain(value)) for name, value in change.set.items()
                             if name != CLOCK_FIELD]
    actions += [getattr(model, name).remove() for name in change.remove]
    actions += [getattr(model, name).add(n) for name, n in change.add.items()]
    if change.tried is not None:
        actions.append(model.tried.add({change.tried}))
    if change.new_offer is not None:
        actions.append(model.offers.set(model.offers.append([dict(change.new_offer)])))
    if change.offer_outcome is not None:
        index, outcome = change.offer_outcome
        actions.append(model.offers[index]["outcome"].set(outcome))
    actions += [model.visitor[k].set(v) for k, v in change.visitor.items()]
    if change.agent_connection is not None:
        actions.append(model.agent_connections.add({change.agent_connection}))
    status = change.set.get("status")
    if status == Status.ACTIVE:
        actions += [model.gsi2pk.set(inbox_pk(change.set["agent"])),
                    model.gsi2sk.set(activity_sk(change.set["accepted_at"], conv.conversation_id))]
    elif status is not None and conv.status == Status.ACTIVE:
        actions += [model.gsi2pk.remove(), model.gsi2sk.remove()]
    return actions


def _extras(conv: Conversation, change: Change) -> list[_Extra]:
    extras = []
    if change.slot is not None:
        if isinstance(change.slot, SlotClaim):
            actions, condition = agents.claim(conv.conversation_id, change.slot.offer_id, change.slot.status,
                                              change.slot.override_until)
        else:
            actions, condition = agents.release(conv.conversation_id, change.slot.offer_id)
        extras.append(_Extra(agents.handle(change.slot.agent), actions, condition, change.slot.on_fail))
    if change.engagement is not None:
        counter, increment, below_limit = counters.count_engagement(change.engagement.limit)
        extras.append(_Extra(counter, increment, below_limit, change.engagement.on_fail))
    if change.cursor is not None:
        moved, unchanged = cursors.step(change.cursor.read)
        extras.append(_Extra(cursors.item(change.cursor.cursor), moved, unchanged, change.cursor.on_fail))
    # The dashboard's counters (store.stats): ADD without a condition, so never failed
    # (their on_fail is never called) and never the index a cancellation names.
    extras += [_Extra(item, adds, None, lambda: Conflict("stats")) for item, adds in stats.updates(conv, change)]
    return extras


def apply(conversation_id: str, plan: Plan, *, conversation: Conversation | None = None,
          charge: limits.Charge | None = None, retention_days: int | None = None) -> Applied:
    """Run `plan` on the current conversation and commit its change atomically, retrying
    (with a fresh read and a fresh plan) only when a concurrent change moved the
    conversation under us. A rate-limit `charge` commits with it, or refuses it.
    `retention_days`: the workspace's, when the caller has the settings at hand; else the
    days the conversation remembers (the default for one that remembers none)."""
    conv = conversation or conversations.get(conversation_id)
    own_key = False
    for _ in range(MAX_ATTEMPTS):
        change = plan(conv)
        at = now_iso()
        expiration = retention.expiration(parse_iso(at), retention_days or conv.retention_days
                                          or retention.DEFAULT_DAYS)
        tx = TransactWrite(connection=connection())
        written, by_client_id = _put_events(tx, conversation_id, conv.last_seq, change.events, at=at,
                                            expiration=expiration, own_key=own_key)
        seq = conv.last_seq + len(written)
        activity = any(e.activity for e in change.events)
        meta = _actions(conv, change)
        if change.events and change.reorder:
            # gsi1 orders the conversations view by latest event (a live chat's message moves
            # it only when due: domain.transitions.activity_key_due).
            meta.append(ConversationModel.gsi1sk.set(activity_sk(at, conversation_id)))
        with_meta = bool(meta) or not _clock_guards(conv, change)
        if with_meta:
            meta += _retention_actions(conv, expiration, retention_days)
            meta += _caught_up(conv, change, seq=seq, at=at if activity else None,
                               retention_days=retention_days)
            guard = _condition(change.guard)
            if not conv.clocked:
                guard &= ConversationModel.last_seq == conv.last_seq
            tx.update(ConversationModel(conv_pk(conversation_id), META_SK), meta,
                      condition=guard, add_version_condition=False)
        clocked = _clock(tx, conversation_id, conv, change, seq=seq, at=at if activity else None,
                         expiration=expiration, retention_days=retention_days)
        state_items = len(written) + int(with_meta) + int(clocked)  # the events, the item, the clock
        extras = _extras(conv, change)
        if charge is not None:
            extras.append(_Extra(charge.item, charge.actions, charge.condition, charge.on_fail))
        for extra in extras:
            tx.update(extra.item, extra.actions, condition=extra.condition, add_version_condition=False)
        try:
            with tx:
                pass
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons
            failed = [i for i, r in enumerate(reasons) if r and r.code == "ConditionalCheckFailed"]
            if not failed:
                if any(r and r.code == "TransactionConflict" for r in reasons):
                    conv = conversations.get(conversation_id)
                    continue
                raise
            if by_client_id is not None and by_client_id in failed:
                message = written[by_client_id]
                duplicate, own_key = conversations.client_message(
                    conversation_id, str(message.client_message_id), message.sender)
                if duplicate is not None:
                    return Applied(conv, [], duplicate_of=duplicate)
            extras_failed = [i - state_items for i in failed if i >= state_items]
            if extras_failed and len(extras_failed) == len(failed):
                raise extras[extras_failed[0]].on_fail() from None
            conv = conversations.get(conversation_id)
            continue
        return Applied(conv, [tables.event_of(e) for e in written])
    raise Conflict("the conversation is busy; try again")
