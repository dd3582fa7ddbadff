"""Every key of the single table, in one place (docs/architecture.md lists the access
patterns): partition keys, sort keys and the index keys items carry."""

from __future__ import annotations

import base64
import hashlib

AGENT_PK = "AGENT"  # sk: the agent's e-mail
TEAM_PK = "TEAM"  # sk: the team's name
DIALOG_PK = "DIALOG"  # sk: the dialog's id
CONFIG_PK = "CONFIG"
SETTINGS_SK = "SETTINGS"
COUNTER_PK = "COUNTER"
ENGAGEMENTS = "ENGAGEMENTS"  # the engagement quota's counter
IDEMPOTENCY_PK = "IDEMPOTENCY"  # Powertools Idempotency records (failure e-mails)
META_SK = "META"  # a conversation's own item
# A conversation's clock: its last seq and activity, the only item a message to a live chat
# updates (it carries no index key, so a message writes no index; store.transaction). It
# sorts just after META, so one Query of sk META..META#CLOCK reads both.
CLOCK_SK = "META#CLOCK"
ALL_CONVERSATIONS = "CONVS"  # gsi1pk of every conversation (and gsi3/gsi4's partition)
CONNECTION_SK = "CONN"
VISITOR_SK = "VISITOR"


def conv_pk(conversation_id: str) -> str:
    return f"CONV#{conversation_id}"


def event_sk(seq: int) -> str:
    return f"EVT#{seq:010d}"


LAST_EVENT_SK = event_sk(10**10 - 1)


MESSAGE_PREFIX = "CMID#"


def message_id_sk(client_message_id: str, sender: str | None = None) -> str:
    """Where a message sent with a clientMessageId is stored: the event itself, keyed by
    that id, so that the Put which stores it is also the one that refuses it stored twice
    (one item a message, not an event and a marker). Every event without one is at
    event_sk(seq). An earlier release put only a marker here ({seq}) and the message at
    event_sk(seq); both are still read (store.conversations). It sorts before EVT#, so one
    Query of MESSAGE_PREFIX..LAST_EVENT_SK reads every event of a conversation.
    `sender`: the key of a side's message whose id the other side's message holds already
    (each client makes up its own ids; the protocol's ids have no '#')."""
    suffix = f"#{sender}" if sender else ""
    return f"{MESSAGE_PREFIX}{client_message_id}{suffix}"


def inbox_pk(agent_email: str) -> str:
    """gsi2pk of an active chat: the inbox of its agent."""
    return f"INBOX#{agent_email}"


def activity_sk(at: str, conversation_id: str) -> str:
    """gsi1sk (newest activity first) and gsi2sk (accepted order)."""
    return f"{at}#{conversation_id}"


def connection_pk(connection_id: str) -> str:
    return f"CONN#{connection_id}"


VISITOR_HANDLE_LENGTH = 16  # base64url characters: 96 bits of SHA-256


def visitor_handle(visitor_id: str) -> str:
    """A visitor as their item's key and their conversations' ids name them: the first 16
    characters of base64url(SHA-256(visitor id)), 96 bits: two visitors sharing one becomes
    likely only near 10^14 visitors; short, because each message rewrites the conversation
    item, whose id holds it three times (docs/performance.md, "Cost"). The id is a random 128-bit pseudonym,
    and the handle does not give it back: agents, who see conversation ids, never learn a
    visitor's id (docs/security.md)."""
    digest = hashlib.sha256(visitor_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:VISITOR_HANDLE_LENGTH]


def visitor_pk(visitor_id: str) -> str:
    return visitor_pk_of_handle(visitor_handle(visitor_id))


def visitor_pk_of_handle(handle: str) -> str:
    return f"VISITOR#{handle}"


def legacy_visitor_pk(visitor_id: str) -> str:
    """Where an earlier release kept a visitor's item (by the id itself); moved by the
    upgrade `livechat apply` runs (livechat_admin.migrate), erased with the visitor."""
    return f"VISITOR#{visitor_id}"


def round_robin_sk(cursor: str) -> str:
    """Where an earlier release kept a round-robin cursor (pk COUNTER); read once by the
    migration that moves it (livechat.store.cursors)."""
    return f"RR#{cursor}"


CURSOR_KIND = "rr-cursor"


def cursor_sk(cursor: str) -> str:
    """A round-robin cursor's item in the agents' partition (pk AGENT_PK)."""
    return f"#RR#{cursor}"


PUSH_OWNER_SK = "OWNER"  # the owner item of a push endpoint (pk push_endpoint_pk)


def push_pk(agent_email: str) -> str:
    """An agent's Web Push subscriptions: one item each, sk the endpoint's hash."""
    return f"PUSH#{agent_email}"


def push_endpoint_pk(endpoint_hash: str) -> str:
    """Which agent holds a push endpoint (an endpoint belongs to one agent)."""
    return f"PUSHEP#{endpoint_hash}"


# The deployment's VAPID key pair (store.vapid): two items written together, once. The
# halves sit in partitions of their own so IAM can tell them apart (dynamodb:LeadingKeys):
# the public web function may read VAPID but only create, never read, VAPIDKEY.
VAPID_PUBLIC_PK = "VAPID"
VAPID_PUBLIC_SK = "PUBLIC"
VAPID_PRIVATE_PK = "VAPIDKEY"
VAPID_PRIVATE_SK = "PRIVATE"


# Rate-limit counters: one partition per subject (a connection, a visitor, an address), one
# item per window (livechat.domain.limits.Window.name), expiring by the table's TTL.
def rate_pk(subject: str) -> str:
    return f"RATE#{subject}"
