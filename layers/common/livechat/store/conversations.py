"""Reading conversations and their events, and creating one: single items, the event
range of one partition, and the four indexes (docs/architecture.md: access patterns)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import PutError
from pynamodb.transactions import TransactWrite

from livechat.domain import retention
from livechat.domain.clock import iso, parse_iso
from livechat.domain.errors import BadRequest, NotFound
from livechat.domain.snapshots import Conversation, Event
from livechat.domain.transitions import ACTIVITY_KEY_STEP_SECONDS
from livechat.store import keyring, limits, tables
from livechat.store.keys import (
    ALL_CONVERSATIONS,
    CLOCK_SK,
    LAST_EVENT_SK,
    MESSAGE_PREFIX,
    META_SK,
    activity_sk,
    conv_pk,
    event_sk,
    inbox_pk,
    message_id_sk,
)
from livechat.store.tables import ClockModel, ConversationModel, EventModel

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def get(conversation_id: str) -> Conversation:
    """The conversation with its clock: one strongly consistent Query of sk META..META#CLOCK
    (both small items: one read unit, as the GetItem of the item alone was)."""
    tables.bind()
    return of_raw(conversation_id, tables.partition_items(conv_pk(conversation_id), sk_between=(META_SK, CLOCK_SK)))


def clock_of(conversation_id: str) -> ClockModel | None:
    """The conversation's clock item, if it has one yet (strongly consistent)."""
    tables.bind()
    try:
        return ClockModel.get(conv_pk(conversation_id), CLOCK_SK, consistent_read=True)
    except ClockModel.DoesNotExist:
        return None


def of_raw(conversation_id: str, raws: Iterable[dict[str, Any]]) -> Conversation:
    """The conversation of the raw META and clock items among `raws` (NotFound without META)."""
    item: ConversationModel | None = None
    clock: ClockModel | None = None
    for raw in raws:
        if raw["sk"]["S"] == META_SK:
            item = ConversationModel.from_raw_data(raw)
        elif raw["sk"]["S"] == CLOCK_SK:
            clock = ClockModel.from_raw_data(raw)
    if item is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return tables.conversation_of(item, clock)


def create(conversation_id: str, visitor_id: str, dialog_id: str, page: dict[str, Any], at: str,
           *, charge: limits.Charge | None = None, retention_days: int = retention.DEFAULT_DAYS) -> bool:
    """Put a new automated conversation; False when the id exists already (then nothing is
    counted). With a rate-limit `charge`, both commit in one transaction or neither: its
    `on_fail` is raised when only the count was refused. It expires `retention_days` after
    its last write (livechat.store.transaction refreshes it) and remembers the days."""
    tables.bind()
    item = ConversationModel(
        conv_pk(conversation_id), META_SK, visitor_id=visitor_id, dialog_id=dialog_id,
        page=page, started_at=at, last_activity_at=at, gsi1sk=activity_sk(at, conversation_id),
        expiration=retention.expiration(parse_iso(at), retention_days), retention_days=retention_days,
    )
    if charge is not None:
        return _create_charged(item, charge)
    try:
        item.save(condition=ConversationModel.pk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _create_charged(item: ConversationModel, charge: limits.Charge) -> bool:
    tx = TransactWrite(connection=tables.connection())
    tx.save(item, condition=ConversationModel.pk.does_not_exist())
    # False: the id exists — a retried start is recognised, not counted.
    return limits.commit_charged(tx, charge)


def _events(raws: Iterable[dict[str, Any]], *, after_seq: int = 0) -> list[Event]:
    """The events among raw items of a conversation's partition, in `seq` order: those at
    EVT#seq and the messages at their clientMessageId's key (keys.message_id_sk), leaving
    out an earlier release's markers there (no `kind`: their message is at EVT#seq)."""
    found = [tables.event_of(EventModel.from_raw_data(raw)) for raw in raws
             if "kind" in raw and int(raw["seq"]["N"]) > after_seq]
    return sorted(found, key=lambda e: e.seq)


def events_after(conversation_id: str, after_seq: int) -> list[Event]:
    """Every event with seq > `after_seq`, in order: one Query of the conversation's events
    (the messages are keyed by their clientMessageId, not by seq, so it reads them all;
    docs/performance.md, "A message is one item")."""
    tables.bind()
    return _events(tables.partition_items(conv_pk(conversation_id), sk_between=(MESSAGE_PREFIX, LAST_EVENT_SK)),
                   after_seq=after_seq)


def event_at(conversation_id: str, seq: int) -> Event | None:
    """The event `seq` when it is not a message with a clientMessageId (those are keyed by
    it): a system event such as chatEnded. None when there is none at that key."""
    tables.bind()
    try:
        return tables.event_of(EventModel.get(conv_pk(conversation_id), event_sk(seq), consistent_read=True))
    except EventModel.DoesNotExist:
        return None


def with_events(conversation_id: str) -> tuple[Conversation, list[Event]]:
    """The conversation, its clock and all its events, in one Query of its partition (they
    sort together: CMID#… < EVT#… < META < META#CLOCK)."""
    own: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for raw in tables.partition_items(conv_pk(conversation_id), sk_between=(MESSAGE_PREFIX, CLOCK_SK)):
        (own if raw["sk"]["S"].startswith(META_SK) else rest).append(raw)
    return of_raw(conversation_id, own), _events(rest)


def client_message(conversation_id: str, client_message_id: str, sender: str) -> tuple[Event | None, bool]:
    """The message `sender` stored with this clientMessageId, if any, and whether the id's
    own key holds the other side's message (`sender`'s then goes under
    keys.message_id_sk(id, sender)). One read of both keys; a marker an earlier release left
    under the id is followed to its message."""
    tables.bind()
    pk = conv_pk(conversation_id)
    shared_sk, own_sk = message_id_sk(client_message_id), message_id_sk(client_message_id, sender)
    found = {raw["sk"]["S"]: raw for raw in tables.batch_get([tables.key(pk, shared_sk), tables.key(pk, own_sk)])}
    shared = found.get(shared_sk)
    first: Event | None = None
    if shared is not None:
        first = (tables.event_of(EventModel.from_raw_data(shared)) if "kind" in shared
                 else event_at(conversation_id, int(shared["seq"]["N"])))
    if first is not None and first.sender == sender:
        return first, False
    own = found.get(own_sk)
    # Taken also by a marker whose message is gone (expired first): the id's own key then.
    return (tables.event_of(EventModel.from_raw_data(own)) if own is not None else None), shared is not None


def open_by_agent(email: str, *, clocked: bool = False) -> list[Conversation]:
    """The agent's active chats, newest accepted first (gsi2, sparse); `clocked`: with
    their clocks (one BatchGetItem more), for their current activity time, which an index
    entry may lag (livechat.store.transaction)."""
    tables.bind()
    items = list(ConversationModel.open_by_agent.query(inbox_pk(email), scan_index_forward=False))
    clocks: dict[str, ClockModel] = {}
    for start in range(0, len(items) if clocked else 0, 100):
        for raw in tables.batch_get([tables.key(i.pk, CLOCK_SK) for i in items[start:start + 100]]):
            clocks[raw["pk"]["S"]] = ClockModel.from_raw_data(raw)
    return [tables.conversation_of(c, clocks.get(c.pk)) for c in items]


def page_by_activity(cursor: str | None, limit: int, *, reader: str
                     ) -> tuple[list[Conversation], str | None]:
    """One page of every conversation, newest activity first (gsi1), and the next page's
    cursor, which only `reader` (the agent who asked) may hand back. A cursor this server
    did not give that reader is refused (BadRequest) before any query is made."""
    start = _decode_cursor(cursor, reader) if cursor else None
    tables.bind()
    result = ConversationModel.by_activity.query(
        ALL_CONVERSATIONS, scan_index_forward=False, limit=limit, last_evaluated_key=start,
    )
    items = [tables.conversation_of(c) for c in result]
    return items, _encode_cursor(result.last_evaluated_key, reader)


def inactive_since(cutoff: str) -> list[Conversation]:
    """Active chats whose last message is older than `cutoff` (gsi3, sparse)."""
    tables.bind()
    return [tables.conversation_of(c) for c in ConversationModel.live_by_activity.query(
        ALL_CONVERSATIONS, ConversationModel.live_activity_at < cutoff)]


def requests_due(moment: str) -> list[Conversation]:
    """Requests being routed or offered whose sweep deadline has passed (gsi4, sparse)."""
    tables.bind()
    return [tables.conversation_of(c) for c in ConversationModel.requests_by_deadline.query(
        ALL_CONVERSATIONS, ConversationModel.sweep_at < moment)]


# --- listConversations cursors (spec/protocol.md, second round: opaque, tamper-evident) ----
# A cursor is base64url (no padding) of: a version byte, an HMAC-SHA256 tag (32 bytes), and the
# page's LastEvaluatedKey as JSON. The tag covers the version, the agent who asked (so a
# cursor handed to another agent is refused too) and the key, under a key of its own derived
# from the deployment's secret (livechat.store.keyring: HMAC(secret, "cursor"), never the
# visitor tokens' key). A cursor is checked in full, tag first, before it comes near
# DynamoDB: an altered, truncated, forged or other agent's cursor is a BAD_REQUEST naming
# `cursor`, and no query is ever made with a start key a client wrote.

_CURSOR_VERSION = b"\x01"
_TAG_BYTES = 32
_CURSOR_KEYS = {"pk", "sk", "gsi1pk", "gsi1sk"}
_NOT_A_CURSOR = "cursor: not a cursor this server gave you"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _cursor_tag(reader: str, payload: bytes) -> bytes:
    who = reader.encode()
    signed = _CURSOR_VERSION + len(who).to_bytes(4, "big") + who + payload
    return hmac.new(keyring.derived_key(keyring.CURSOR), signed, hashlib.sha256).digest()


def _encode_cursor(key: dict[str, Any] | None, reader: str) -> str | None:
    if not key:
        return None
    payload = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return _b64(_CURSOR_VERSION + _cursor_tag(reader, payload) + payload)


def _decode_cursor(cursor: str, reader: str) -> dict[str, Any]:
    if not isinstance(cursor, str) or not _BASE64URL.fullmatch(cursor):
        raise BadRequest(_NOT_A_CURSOR)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except ValueError:  # binascii.Error: a length no encoding has
        raise BadRequest(_NOT_A_CURSOR) from None
    # One spelling per cursor: unused low bits of the last character changed are a change too.
    if _b64(raw) != cursor or len(raw) <= 1 + _TAG_BYTES or raw[:1] != _CURSOR_VERSION:
        raise BadRequest(_NOT_A_CURSOR)
    tag, payload = raw[1:1 + _TAG_BYTES], raw[1 + _TAG_BYTES:]
    if not hmac.compare_digest(tag, _cursor_tag(reader, payload)):
        raise BadRequest(_NOT_A_CURSOR)
    # Signed by us, so well-formed; checked anyway, as a key DynamoDB is handed.
    try:
        key = json.loads(payload)
    except ValueError:
        raise BadRequest(_NOT_A_CURSOR) from None
    if (not isinstance(key, dict) or set(key) != _CURSOR_KEYS
            or not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str)
                       for v in key.values())
            or key["gsi1pk"]["S"] != ALL_CONVERSATIONS):
        raise BadRequest(_NOT_A_CURSOR)
    return key


def active_since(since: str) -> list[Conversation]:
    """Every conversation with an event at or after `since`, newest activity first (gsi1).
    Its order key may lag its last message (transitions.activity_key_due): the query reaches
    back that far, and the conversation's own latest event decides."""
    tables.bind()
    reach = iso(parse_iso(since) - timedelta(seconds=ACTIVITY_KEY_STEP_SECONDS))
    found = [tables.conversation_of(c) for c in ConversationModel.by_activity.query(
        ALL_CONVERSATIONS, ConversationModel.gsi1sk >= reach, scan_index_forward=False)]
    latest = {c.conversation_id: max(c.last_event_at, c.last_activity_at) for c in found}
    return sorted((c for c in found if latest[c.conversation_id] >= since),
                  key=lambda c: latest[c.conversation_id], reverse=True)
