"""What erasing a visitor reads and deletes (`livechat visitor erase`; livechat_admin.erase
decides what goes, this module knows where it is).

Finding: there is no index by e-mail or by visitor. Every conversation item is in gsi1
(`gsi1pk = CONVS`), so a Query of that one partition reads every conversation item and none
of the events, markers or other items (a Scan of the table would read them all): the cost
is the size of the conversation items (about 1-2 KB each: 0.5 read unit per 4 KB, eventually
consistent), and the filter only saves the transfer, not the units. The index is eventually
consistent: a conversation started in the last second may be missed (the command says what
it found; run it again).

Deleting: a conversation's partition (`CONV#<id>`: its item, events, message-id markers) is
read keys-only and strongly consistent, everything but the conversation item is deleted in
batches, and the conversation item last, under the condition that it has not moved
(`last_seq` as read) and is not live. So an interrupted erase leaves the conversation
findable for the next run, and an event written meanwhile is found by the next round.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pynamodb.exceptions import DeleteError

from livechat.domain.states import Status
from livechat.store import tables
from livechat.store.keys import (
    ALL_CONVERSATIONS,
    CONNECTION_SK,
    META_SK,
    VISITOR_SK,
    connection_pk,
    conv_pk,
    legacy_visitor_pk,
    rate_pk,
    visitor_pk,
)
from livechat.store.tables import ConnectionModel, ConversationModel, VisitorModel, _Item

# DynamoDB takes at most 100 operands in an IN list.
_IN_LIMIT = 100
# What a conversation's row needs to be matched and judged; no transcript is read.
_ROW_ATTRIBUTES = ["pk", "visitor_id", "visitor", "status", "started_at", "last_seq"]
_MAX_ROUNDS = 5


@dataclass(frozen=True)
class ConversationRow:
    conversation_id: str
    visitor_id: str
    email: str | None  # the captured visitor.email, as stored
    status: Status
    started_at: str


def _row(item: ConversationModel) -> ConversationRow:
    visitor = tables.plain(item.visitor) or {}
    email = visitor.get("email")
    return ConversationRow(item.conversation_id, item.visitor_id, email if isinstance(email, str) else None,
                           Status(item.status), item.started_at)


def conversations_with_email() -> Iterator[ConversationRow]:
    """Every conversation that captured an e-mail (one pass over gsi1's CONVS partition)."""
    tables.bind()
    for item in ConversationModel.by_activity.query(
            ALL_CONVERSATIONS, filter_condition=ConversationModel.visitor["email"].exists(),
            attributes_to_get=_ROW_ATTRIBUTES):
        yield _row(item)


def conversations_of_visitors(visitor_ids: Iterable[str]) -> Iterator[ConversationRow]:
    """Every conversation of these visitors (one pass over gsi1 per 100 visitors)."""
    tables.bind()
    ids = sorted(set(visitor_ids))
    for start in range(0, len(ids), _IN_LIMIT):
        chunk = ids[start:start + _IN_LIMIT]
        for item in ConversationModel.by_activity.query(
                ALL_CONVERSATIONS, filter_condition=ConversationModel.visitor_id.is_in(*chunk),
                attributes_to_get=_ROW_ATTRIBUTES):
            yield _row(item)


def partition_keys(conversation_id: str) -> list[str]:
    """The sort keys of every item of a conversation's partition (strongly consistent)."""
    tables.bind()
    return [item.sk for item in _Item.query(conv_pk(conversation_id), consistent_read=True,
                                            attributes_to_get=["pk", "sk"])]


def visitor_keys(visitor_id: str) -> list[tuple[str, str]]:
    """Where a visitor's item may be: under their handle, and where an earlier release
    kept it (by the id itself) until the upgrade moves it (livechat.store.keys)."""
    return [(visitor_pk(visitor_id), VISITOR_SK), (legacy_visitor_pk(visitor_id), VISITOR_SK)]


def visitor_connections(visitor_id: str) -> set[str] | None:
    """The connection ids the visitor's items hold; None when there is no visitor item."""
    tables.bind()
    found: set[str] | None = None
    for pk, sk in visitor_keys(visitor_id):
        try:
            item = VisitorModel.get(pk, sk, consistent_read=True)
        except VisitorModel.DoesNotExist:
            continue
        found = (found or set()) | set(item.connections or ())
    return found


def existing_connections(connection_ids: Iterable[str]) -> set[str]:
    """Those of `connection_ids` whose connection item exists (a GetItem each)."""
    tables.bind()
    found = set()
    for cid in connection_ids:
        try:
            ConnectionModel.get(connection_pk(cid), CONNECTION_SK, consistent_read=True)
        except ConnectionModel.DoesNotExist:
            continue
        found.add(cid)
    return found


def rate_counter_keys(subjects: Iterable[str]) -> list[tuple[str, str]]:
    """(pk, sk) of every rate-limit counter item of these subjects (livechat.store.limits)."""
    tables.bind()
    return [(item.pk, item.sk) for subject in subjects
            for item in _Item.query(rate_pk(subject), consistent_read=True, attributes_to_get=["pk", "sk"])]


def delete_keys(keys: Iterable[tuple[str, str]]) -> int:
    """Delete items by key in batches of 25 (BatchWriteItem; unprocessed items are sent
    again). A key with no item is no error."""
    tables.bind()
    count = 0
    with _Item.batch_write() as batch:
        for pk, sk in keys:
            batch.delete(_Item(pk, sk))
            count += 1
    return count


def delete_connections(connection_ids: Iterable[str]) -> int:
    return delete_keys((connection_pk(cid), CONNECTION_SK) for cid in connection_ids)


def delete_visitor(visitor_id: str) -> int:
    return delete_keys(visitor_keys(visitor_id))


class StillLive(Exception):
    """The conversation became live (a chat was requested) while it was being erased."""


LIVE = frozenset({Status.ROUTING, Status.OFFERED, Status.ACTIVE})


def delete_conversation(conversation_id: str) -> int:
    """Delete the conversation's every item, its own item last and only if it is neither live
    nor moved since its partition was read (then another round); how many items went.
    Raises StillLive (its own item kept) if it is live."""
    tables.bind()
    pk = conv_pk(conversation_id)
    gone: set[str] = set()
    for _ in range(_MAX_ROUNDS):
        try:
            conv = ConversationModel.get(pk, META_SK, consistent_read=True)
        except ConversationModel.DoesNotExist:
            # Gone already (a run interrupted after its item went, or never there): the
            # partition may still hold what a writer added after that run read it.
            rest = set(partition_keys(conversation_id))
            delete_keys((pk, sk) for sk in sorted(rest))
            return len(gone | rest)
        if Status(conv.status) in LIVE:
            raise StillLive(f"conversation {conversation_id} is {conv.status}")
        last_seq = int(conv.last_seq or 0)
        rest = set(partition_keys(conversation_id)) - {META_SK}
        delete_keys((pk, sk) for sk in sorted(rest))
        gone |= rest
        try:
            conv.delete(condition=(ConversationModel.last_seq == last_seq)
                        & ~ConversationModel.status.is_in(*(s.value for s in LIVE)))
        except DeleteError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                continue  # an event was added (or a chat requested) meanwhile: look again
            raise
        return len(gone) + 1
    raise StillLive(f"conversation {conversation_id} kept changing while it was erased")
