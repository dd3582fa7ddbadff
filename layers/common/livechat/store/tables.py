"""The single DynamoDB table and its item types, as PynamoDB models.

One table keeps every transaction inside one table and lets one Query read all agents.
Access patterns (docs/architecture.md lists them with their costs):

| item          | pk               | sk                 | read by                                   |
|---------------|------------------|--------------------|-------------------------------------------|
| agent         | AGENT            | <email>            | Query pk=AGENT (routing reads every agent) |
| team          | TEAM             | <name>             | Query pk=TEAM                             |
| dialog        | DIALOG           | <dialog id>        | GetItem                                   |
| settings      | CONFIG           | SETTINGS           | GetItem                                   |
| cursor        | AGENT            | #RR#<pool>         | the agents' Query; the offer's transaction |
| counter       | COUNTER          | ENGAGEMENTS        | UpdateItem ADD (the engagement quota)     |
| conversation  | CONV#<id>        | META               | Query META..META#CLOCK; gsi1-gsi4 (docs/architecture.md) |
| clock         | CONV#<id>        | META#CLOCK         | with its conversation (no index key)      |
| event         | CONV#<id>        | EVT#<seq:010d>     | Query sk > EVT#<afterSeq>                  |
| message id    | CONV#<id>        | CMID#<clientMsgId> | GetItem (idempotent sendMessage)          |
| connection    | CONN#<id>        | CONN               | GetItem on every frame                    |
| visitor       | VISITOR#<id>     | VISITOR            | GetItem (the visitor's live connections)  |
| VAPID public  | VAPID            | PUBLIC             | GetItem (/config.json; store.vapid)       |
| VAPID private | VAPIDKEY         | PRIVATE            | GetItem (the push senders; store.vapid)   |

The table's TTL attribute is `expiration` (epoch seconds; template.yaml): conversations,
their clocks, events, message ids and visitors carry write time + `retention_days`
(livechat.domain.retention), connections a day after they opened, rate-limit counters a
window after theirs, Powertools' idempotency records their own.

The table name is bound at run time (:func:`bind`), never at import.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pynamodb.connection.base
from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from livechat import runtime
from livechat.domain import schedules
from livechat.domain.snapshots import Agent, Conversation, Event
from livechat.domain.states import Status
from livechat.store.keys import ALL_CONVERSATIONS


class _Unbound:
    """Meta shared by every model; :func:`bind` fills it from validated settings."""

    table_name = "livechat-unbound"
    region: str | None = None
    host: str | None = None


class ConversationsByActivity(GlobalSecondaryIndex["ConversationModel"]):
    """Every conversation, newest activity first (the conversations view)."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class OpenChatsByAgent(GlobalSecondaryIndex["ConversationModel"]):
    """Sparse: present only while a live chat is active, keyed by its agent (the inbox)."""

    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class LiveChatsByActivity(GlobalSecondaryIndex["ConversationModel"]):
    """Sparse: active live chats by their last message (inactivity expiry)."""

    class Meta:
        index_name = "gsi3"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    live_activity_at = UnicodeAttribute(range_key=True)


class RequestsByDeadline(GlobalSecondaryIndex["ConversationModel"]):
    """Sparse: requests being routed or offered, by when the sweeper must step in if the
    workflow did not (a workflow that died or never started)."""

    class Meta:
        index_name = "gsi4"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    sweep_at = UnicodeAttribute(range_key=True)


class _Item(Model):
    class Meta(_Unbound):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class AgentModel(_Item):
    name = UnicodeAttribute()
    avatar_url = UnicodeAttribute(default="")
    max_chats = NumberAttribute(default=10)
    teams = ListAttribute(of=UnicodeAttribute, default=list)
    live_chat = BooleanAttribute(default=True)  # the Live Chat permission
    status = UnicodeAttribute(default="available")
    active = NumberAttribute(default=0)  # slots held: pending offers + live chats
    slots: MapAttribute[str, Any] = MapAttribute(default=dict)  # conversation id -> offer id holding the slot
    connections = UnicodeSetAttribute(null=True)  # live inbox connections
    # How many Web Push subscriptions the agent holds (livechat.store.push keeps it exact,
    # in the transactions that add and remove them): with `connections`, what the slot
    # claim's condition reads as "reachable" (protocol.md, second round).
    push_subscriptions = NumberAttribute(default=0)
    # The workspace's schedule (livechat.domain.schedules.to_json), written by `livechat
    # apply`; absent: always on schedule.
    schedule = UnicodeAttribute(null=True)
    # The end of the override the agent's last setStatus made (ISO-8601 UTC), with the
    # status: the slot claim's condition reads both as they were when routing chose.
    override_until = UnicodeAttribute(null=True)

    @property
    def email(self) -> str:
        return self.sk


class TeamModel(_Item):
    description = UnicodeAttribute(default="")


class DialogModel(_Item):
    body = UnicodeAttribute()  # the dialog as JSON, validated by livechat.workspace


class SettingsModel(_Item):
    body = UnicodeAttribute()  # workspace settings as JSON


class CounterModel(_Item):
    value = NumberAttribute(default=0)


class CursorModel(_Item):
    """A round-robin cursor (pk AGENT, sk #RR#<pool>): in the agents' partition, so the
    Query that reads every agent reads the cursors too; moved by the offer's transaction."""

    value = NumberAttribute(default=0)  # the last ticket given
    kind = UnicodeAttribute(default="rr-cursor")  # tells it from an agent in the partition


class RateCounterModel(_Item):
    """One rate-limit window of one subject (livechat.store.limits)."""

    value = NumberAttribute(default=0)
    # The table's TTL attribute (template.yaml): DynamoDB deletes the item after its window.
    expiration = NumberAttribute()


class ConversationModel(_Item):
    visitor_id = UnicodeAttribute()
    dialog_id = UnicodeAttribute()
    kind = UnicodeAttribute(default="automated")  # automated | live
    status = UnicodeAttribute(default="automated")
    visitor: MapAttribute[str, Any] = MapAttribute(default=dict)  # captured fields
    page: MapAttribute[str, Any] = MapAttribute(default=dict)
    card_id = UnicodeAttribute(null=True)  # the live chat card requested
    route_attempt = NumberAttribute(default=0)
    offer_id = UnicodeAttribute(null=True)
    offer_agent = UnicodeAttribute(null=True)
    offer_expires_at = UnicodeAttribute(null=True)
    offer_agent_name = UnicodeAttribute(null=True)  # the offered agent as offered (accept shows it)
    offer_agent_avatar = UnicodeAttribute(null=True)
    offers = ListAttribute(of=MapAttribute, default=list)  # offer history
    tried = UnicodeSetAttribute(null=True)
    agent = UnicodeAttribute(null=True)
    agent_name = UnicodeAttribute(null=True)
    agent_avatar = UnicodeAttribute(null=True)  # snapshot taken at accept
    accepted_at = UnicodeAttribute(null=True)
    first_reply_at = UnicodeAttribute(null=True)  # the agent's first message (livechat.domain.stats)
    started_at = UnicodeAttribute()
    last_activity_at = UnicodeAttribute()
    ended_at = UnicodeAttribute(null=True)
    end_reason = UnicodeAttribute(null=True)
    fallback_reason = UnicodeAttribute(null=True)
    transcript_mailed_at = UnicodeAttribute(null=True)  # the visitor's transcript e-mail, once
    last_seq = NumberAttribute(default=0)
    gsi1pk = UnicodeAttribute(default=ALL_CONVERSATIONS)
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    live_activity_at = UnicodeAttribute(null=True)  # set only while active
    sweep_at = UnicodeAttribute(null=True)  # set only while routing or offered
    # Personal data: the TTL (write time + retention, refreshed by every write, never
    # earlier than any of its events') and the retention in force when last written.
    expiration = NumberAttribute(null=True)
    retention_days = NumberAttribute(null=True)
    # The holding agent's live connections (livechat.store.mirror). Every conversation of
    # this release (its id has a dot) is mirrored by its offers; `agent_mirrored` marks one
    # of an earlier release the upgrade mirrored (an empty set is stored as none).
    agent_connections = UnicodeSetAttribute(null=True)
    agent_mirrored = BooleanAttribute(null=True)
    by_activity = ConversationsByActivity()
    open_by_agent = OpenChatsByAgent()
    live_by_activity = LiveChatsByActivity()
    requests_by_deadline = RequestsByDeadline()

    @property
    def conversation_id(self) -> str:
        return self.pk.removeprefix("CONV#")


class ClockModel(_Item):
    """A conversation's clock (sk META#CLOCK): what every event moves, kept off the
    conversation item so that a message to a live chat writes no index entry
    (livechat.store.transaction says when the conversation item is written too). A
    conversation of an earlier release has none until its next event: its item's own
    `last_seq` and `last_activity_at` count until then."""

    last_seq = NumberAttribute()
    last_activity_at = UnicodeAttribute(null=True)
    first_reply_at = UnicodeAttribute(null=True)  # the agent's first message (domain.stats)
    expiration = NumberAttribute(null=True)  # its latest event's
    retention_days = NumberAttribute(null=True)  # as the last write that read the settings said


class EventModel(_Item):
    """One event of a conversation: at EVT#seq, or, for a message sent with a
    clientMessageId, at that id's key (keys.message_id_sk), where it also stands for the
    id being stored."""

    seq = NumberAttribute()
    kind = UnicodeAttribute()  # answer | capture | message | system
    type = UnicodeAttribute()  # the wire event it replays as
    sender = UnicodeAttribute(attr_name="from")
    at = UnicodeAttribute()
    text = UnicodeAttribute(null=True)
    card_id = UnicodeAttribute(null=True)
    value = UnicodeAttribute(null=True)
    fields: MapAttribute[str, Any] = MapAttribute(null=True)
    client_message_id = UnicodeAttribute(null=True)
    data: MapAttribute[str, Any] = MapAttribute(null=True)  # extra wire fields: agent, reason, message
    expiration = NumberAttribute(null=True)  # the table's TTL: write time + retention


class ConnectionModel(_Item):
    role = UnicodeAttribute()  # agent | visitor
    principal = UnicodeAttribute()  # agent e-mail or visitor id
    connected_at = UnicodeAttribute()
    domain = UnicodeAttribute(null=True)
    stage = UnicodeAttribute(null=True)
    # The table's TTL: a day after it opened (API Gateway closes a connection within two
    # hours), so an item a lost $disconnect left behind goes by itself.
    expiration = NumberAttribute(null=True)

    @property
    def connection_id(self) -> str:
        return self.pk.removeprefix("CONN#")


class VisitorModel(_Item):
    connections = UnicodeSetAttribute(null=True)
    created_at = UnicodeAttribute()
    expiration = NumberAttribute(null=True)  # the table's TTL: last connect + retention


class PushSubscriptionModel(_Item):
    """pk PUSH#<agent>, sk the endpoint's hash: one of the agent's Web Push subscriptions."""

    endpoint = UnicodeAttribute()
    p256dh = UnicodeAttribute()
    auth = UnicodeAttribute()
    created_at = UnicodeAttribute()


class PushOwnerModel(_Item):
    """pk PUSHEP#<hash>, sk OWNER: the agent an endpoint belongs to, written in the same
    transaction as that agent's subscription item (so a move is atomic)."""

    agent = UnicodeAttribute()


class VapidPublicKeyModel(_Item):
    """pk VAPID, sk PUBLIC: the deployment's VAPID public key (base64url, uncompressed point)."""

    public_key = UnicodeAttribute()
    created_at = UnicodeAttribute()


class VapidPrivateKeyModel(_Item):
    """pk VAPIDKEY, sk PRIVATE: the private half (base64url of the private number), written in
    the same transaction as the public item; only the functions that send pushes read it."""

    private_key = UnicodeAttribute()
    created_at = UnicodeAttribute()


def plain(value: Any) -> Any:
    """A PynamoDB raw map (or anything holding one) as plain Python data."""
    if isinstance(value, MapAttribute):
        return plain(value.as_dict())
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


ALL_MODELS: tuple[type[_Item], ...] = (
    AgentModel,
    TeamModel,
    DialogModel,
    SettingsModel,
    CounterModel,
    CursorModel,
    ConversationModel,
    EventModel,
    ConnectionModel,
    VisitorModel,
    PushSubscriptionModel,
    PushOwnerModel,
    VapidPublicKeyModel,
    VapidPrivateKeyModel,
)

_bound = False

# PynamoDB gives each Connection — one per model, one per index, TransactWrite's — a botocore
# session of its own (`get_session()` in `Connection.session`), and each session loads
# botocore's endpoint rules and DynamoDB's service model again for its first client: ~46-51 ms
# of CPU each, several times in a container's first invocations (issue 15). Instead, every
# Connection of a thread gets that thread's one session (sessions are not thread-safe, which
# is why PynamoDB keeps them per thread): its first client pays, the next ones ~2-3 ms.
# PynamoDB has no setting for the session; its module's `get_session` is what it calls.
_sessions = threading.local()


def shared_session(env_vars: dict[str, tuple[Any, Any, Any, Any]] | None = None) -> botocore.session.Session:
    """This thread's botocore session for PynamoDB (a new one after `unbind`); botocore's
    `get_session`'s signature (PynamoDB passes nothing)."""
    session: botocore.session.Session | None = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = botocore.session.get_session(env_vars)
    return session


def bind() -> None:
    """Point every model at the configured table (once per process, or after unbind)."""
    global _bound
    if _bound:
        return
    pynamodb.connection.base.get_session = shared_session  # type: ignore[attr-defined]  # PynamoDB's own import
    settings = runtime.get_settings()
    _Unbound.table_name = settings.table_name
    _Unbound.region = settings.region
    _Unbound.host = settings.dynamodb_endpoint
    # PynamoDB caches a connection per model and index; drop them so the new host counts.
    for holder in (*ALL_MODELS, _Item, ConversationsByActivity, OpenChatsByAgent,
                   LiveChatsByActivity, RequestsByDeadline):
        holder._connection = None  # type: ignore[attr-defined]
    _bound = True


@runtime.on_reset
def unbind() -> None:
    global _bound, _connection, _sessions
    _bound = False
    _connection = None
    _sessions = threading.local()  # every thread's next Connection starts a new session


_connection: Connection | None = None


def connection() -> Connection:
    """The connection TransactWrite needs (models bring their own)."""
    global _connection
    bind()
    settings = runtime.get_settings()
    if _connection is None or _connection.host != settings.dynamodb_endpoint:
        _connection = Connection(region=settings.region, host=settings.dynamodb_endpoint)
    return _connection


def partition_items(pk: str, *, sk_between: tuple[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """Every raw item of one partition (or of a range of its sort keys), strongly consistent,
    page after page: one Query for items of several kinds at once, which a model's own query
    cannot read (the agents with the round-robin cursors, a conversation with its events)."""
    request: dict[str, Any] = {
        "TableName": runtime.get_settings().table_name, "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}}, "ConsistentRead": True}
    if sk_between is not None:
        request["KeyConditionExpression"] += " AND sk BETWEEN :first AND :last"
        request["ExpressionAttributeValues"] |= {":first": {"S": sk_between[0]}, ":last": {"S": sk_between[1]}}
    while True:
        page = connection().dispatch("Query", request)
        yield from page.get("Items", [])
        if not page.get("LastEvaluatedKey"):
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


_BATCH_ATTEMPTS = 5


def key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    """A table key as the low-level API takes it."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def batch_get(keys: list[dict[str, dict[str, str]]], *, consistent: bool = True) -> list[dict[str, Any]]:
    """BatchGetItem of a few keys (at most 100; one round trip unless DynamoDB leaves some
    unprocessed, which it does only under throttling), strongly consistent unless told."""
    table = runtime.get_settings().table_name
    found: list[dict[str, Any]] = []
    pending: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": consistent}}
    for _ in range(_BATCH_ATTEMPTS):
        answer = connection().dispatch("BatchGetItem", {"RequestItems": pending})
        found += answer.get("Responses", {}).get(table, [])
        pending = answer.get("UnprocessedKeys") or {}
        if not pending:
            return found
    raise RuntimeError("BatchGetItem left keys unprocessed")


def committed(write: Callable[[], object]) -> bool:
    """Run one conditional write: True when it was applied, False when its condition
    failed (the state was not the one it was written for); other errors raise."""
    try:
        write()
    except (PutError, UpdateError, DeleteError) as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


# --- snapshots: what the rest of the package reads ----------------------------------------

def conversation_of(item: ConversationModel, clock: ClockModel | None = None) -> Conversation:
    """The conversation as its item and (when read with it) its clock say: the clock's seq,
    activity and first reply are the current ones (the item's may lag while a chat is live)."""
    return Conversation(
        conversation_id=item.conversation_id,
        visitor_id=item.visitor_id,
        dialog_id=item.dialog_id,
        status=Status(item.status),
        started_at=item.started_at,
        last_activity_at=(clock.last_activity_at if clock and clock.last_activity_at else item.last_activity_at),
        kind=item.kind,
        visitor=plain(item.visitor) or {},
        page=plain(item.page) or {},
        card_id=item.card_id,
        route_attempt=int(item.route_attempt or 0),
        offer_id=item.offer_id,
        offer_agent=item.offer_agent,
        offer_expires_at=item.offer_expires_at,
        offers=tuple(plain(item.offers) or ()),
        tried=frozenset(item.tried or ()),
        agent=item.agent,
        agent_name=item.agent_name,
        agent_avatar=item.agent_avatar,
        accepted_at=item.accepted_at,
        first_reply_at=(clock.first_reply_at if clock and clock.first_reply_at else item.first_reply_at),
        ended_at=item.ended_at,
        end_reason=item.end_reason,
        fallback_reason=item.fallback_reason,
        transcript_mailed_at=item.transcript_mailed_at,
        # The later of the two: the item's is ahead only if an earlier release wrote events
        # after this one's clock (a rollback, then this release again).
        last_seq=max(int(item.last_seq or 0), int(clock.last_seq) if clock else 0),
        clock_seq=int(clock.last_seq) if clock else None,
        live_activity_at=item.live_activity_at,
        sweep_at=item.sweep_at,
        last_event_at=item.gsi1sk.split("#", 1)[0],
        retention_days=_retention_days(item, clock),
        expiration=int(item.expiration) if item.expiration is not None else None,
        agent_connections=(frozenset(item.agent_connections or ())
                           if item.agent_mirrored or "." in item.conversation_id else None),
        offer_agent_name=item.offer_agent_name,
        offer_agent_avatar=item.offer_agent_avatar,
    )


def _retention_days(item: ConversationModel, clock: ClockModel | None) -> int | None:
    """The days the conversation remembers: its clock's when a later write set them there."""
    days = clock.retention_days if clock is not None and clock.retention_days is not None else item.retention_days
    return int(days) if days is not None else None


def agent_of(item: AgentModel) -> Agent:
    return Agent(
        email=item.email,
        name=item.name,
        avatar_url=item.avatar_url or "",
        max_chats=int(item.max_chats),
        teams=tuple(str(t) for t in item.teams or ()),
        live_chat=bool(item.live_chat),
        status=item.status,
        active=int(item.active),
        slots={k: str(v) for k, v in (plain(item.slots) or {}).items()},
        connections=frozenset(item.connections or ()),
        push_subscriptions=int(item.push_subscriptions or 0),
        schedule=schedules.from_json(item.schedule) if item.schedule else None,
        override_until=item.override_until,
    )


def event_of(item: EventModel) -> Event:
    return Event(
        seq=int(item.seq),
        kind=item.kind,
        type=item.type,
        sender=item.sender,
        at=item.at,
        text=item.text,
        card_id=item.card_id,
        value=item.value,
        fields=plain(item.fields),
        client_message_id=item.client_message_id,
        data=plain(item.data),
    )
