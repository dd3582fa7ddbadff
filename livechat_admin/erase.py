"""`livechat visitor erase EMAIL`: remove a visitor's personal data from the table (issue 14,
"Personal data"; docs/security.md says what it reaches and what it does not).

Who: every conversation whose captured e-mail (`visitor.email`) is EMAIL, compared without
regard to case, and the visitors (visitor ids) those conversations belong to. Of those
visitors' other conversations, the ones that captured no e-mail go too (they are the same
browser's, and nothing else ties them to anyone); one that captured another e-mail is kept
and named (another person on the same browser, or another address of the same person: the
request names one address).

What: each conversation's whole partition (its item with the captured fields and the page,
every event — answers, captures, messages, system events — and the message-id markers),
each visitor's item, the connection items it lists, and the rate-limit counters of the
visitor and of those connections. Then the visitor's open sockets, if any, are closed.

Live chats: refused. If any of those conversations is being routed, offered or is an
active chat, nothing is erased and the command says which (exit status 1): end the chat
first (the agent ends it in the inbox; or the visitor; or it expires after
`inactivity_timeout_seconds`), then run again. Erasing a chat under an agent's feet would
leave their inbox and slot counter pointing at nothing. A conversation that becomes live
while the erase runs is kept (its item, with what it holds) and reported the same way.

`--dry-run` lists what would go and changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livechat.chat.limits import connection_subject, records_subject, visitor_subject
from livechat.store import erasure
from livechat.store.erasure import LIVE, ConversationRow, StillLive
from livechat.store.keys import CONNECTION_SK, connection_pk

from livechat_admin.stack import Target


class EraseError(Exception):
    """The request cannot be carried out as given (exit status 2)."""


def normalise(email: str) -> str:
    address = email.strip().lower()
    if address.count("@") != 1 or address.startswith("@") or address.endswith("@"):
        raise EraseError(f"{email!r} is not an e-mail address")
    return address


@dataclass
class Visitor:
    visitor_id: str
    has_item: bool = False
    connections: set[str] = field(default_factory=set)  # connection items that exist
    rate_counters: list[tuple[str, str]] = field(default_factory=list)

    def keys(self) -> list[tuple[str, str]]:
        """Every item of this visitor outside the conversations."""
        own = erasure.visitor_keys(self.visitor_id) if self.has_item else []
        return own + [(connection_pk(c), CONNECTION_SK) for c in sorted(self.connections)] + self.rate_counters


@dataclass
class Plan:
    email: str
    conversations: list[ConversationRow]  # to erase, oldest first
    items: dict[str, int]  # conversation id -> items in its partition
    visitors: list[Visitor]
    kept: list[ConversationRow]  # the same visitors' conversations with another e-mail

    @property
    def live(self) -> list[ConversationRow]:
        return [c for c in self.conversations if c.status in LIVE]

    def lines(self) -> list[str]:
        lines = []
        for c in self.conversations:
            why = f"e-mail {c.email}" if c.email else f"no e-mail, visitor {c.visitor_id}"
            live = "; LIVE, refused" if c.status in LIVE else ""
            lines.append(f"conversation {c.conversation_id} ({c.status.value}, started {c.started_at}, {why}{live}):"
                         f" {self.items.get(c.conversation_id, 0)} item(s)")
        for v in self.visitors:
            parts = (["its item"] if v.has_item else []) + (
                [f"{len(v.connections)} connection item(s) ({', '.join(sorted(v.connections))})"]
                if v.connections else []) + (
                [f"{len(v.rate_counters)} rate-limit counter(s)"] if v.rate_counters else [])
            lines.append(f"visitor {v.visitor_id}: {', '.join(parts) if parts else 'no item of its own'}")
        lines += [f"kept: conversation {c.conversation_id} ({c.status.value}) of visitor {c.visitor_id},"
                  " which captured another e-mail" for c in self.kept]
        return lines

    @property
    def item_count(self) -> int:
        return sum(self.items.values()) + sum(len(v.keys()) for v in self.visitors)


def plan(email: str) -> Plan:
    """What erasing `email` removes (reads only: gsi1 once, and once more when it matched)."""
    address = normalise(email)
    matched = [c for c in erasure.conversations_with_email() if c.email and c.email.strip().lower() == address]
    visitor_ids = sorted({c.visitor_id for c in matched})
    erase: dict[str, ConversationRow] = {c.conversation_id: c for c in matched}
    kept = []
    if visitor_ids:
        for c in erasure.conversations_of_visitors(visitor_ids):
            if c.conversation_id in erase:
                continue
            if c.email and c.email.strip().lower() != address:
                kept.append(c)
            else:
                erase[c.conversation_id] = c
    conversations = sorted(erase.values(), key=lambda c: (c.started_at, c.conversation_id))
    items = {c.conversation_id: len(erasure.partition_keys(c.conversation_id)) for c in conversations}
    visitors = []
    for visitor_id in visitor_ids:
        held = erasure.visitor_connections(visitor_id)
        connections = erasure.existing_connections(held or ())
        subjects = [visitor_subject(visitor_id)] + [s for c in sorted(connections)
                                                    for s in (connection_subject(c), records_subject(c))]
        visitors.append(Visitor(visitor_id, held is not None, connections, erasure.rate_counter_keys(subjects)))
    return Plan(address, conversations, items, visitors, sorted(kept, key=lambda c: c.conversation_id))


@dataclass
class Outcome:
    conversations: int = 0
    items: int = 0
    closed: list[str] = field(default_factory=list)  # sockets closed
    refused: list[str] = field(default_factory=list)  # conversations found live: kept


def execute(found: Plan, management_api: Callable[[], Any]) -> Outcome:
    """Erase what `found` lists: the conversations first; then, unless one turned out live,
    the visitors' connection items (before their sockets close, so their $disconnect finds
    no connection and writes nothing), their items and counters; then close the sockets."""
    outcome = Outcome()
    for c in found.conversations:
        try:
            outcome.items += erasure.delete_conversation(c.conversation_id)
        except StillLive as exc:
            outcome.refused.append(str(exc))
            continue
        outcome.conversations += 1
    if outcome.refused:
        return outcome  # the visitor is in a live chat again: their items are in use
    for v in found.visitors:
        outcome.items += erasure.delete_keys(v.keys())
    sockets = sorted({c for v in found.visitors for c in v.connections})
    if sockets:
        api = management_api()
        for connection_id in sockets:
            with contextlib.suppress(api.exceptions.GoneException):  # closed already
                api.delete_connection(ConnectionId=connection_id)
            outcome.closed.append(connection_id)
    return outcome


def run(email: str, target: Target, *, dry_run: bool = False, say: Callable[[str], None] = print,
        warn: Callable[[str], None] = print) -> int:
    """Plan (and unless dry_run or refused, erase) against an activated target; the exit
    status: 0 done (or nothing to do), 1 refused (a live chat), 2 a bad address."""
    try:
        found = plan(email)
    except EraseError as exc:
        warn(str(exc))
        return 2
    if not found.conversations:
        say(f"no conversation captured {found.email}: nothing to erase")
        return 0
    for line in found.lines():
        say(line)
    if found.live:
        warn(f"refused: {len(found.live)} conversation(s) of this visitor are live chats "
             f"({', '.join(c.conversation_id for c in found.live)}); end them first (the agent in the "
             "inbox, or inactivity expiry), then run again. Nothing was erased.")
        return 1
    if dry_run:
        say(f"{len(found.conversations)} conversation(s), {found.item_count} item(s) would be erased"
            " (dry run: nothing changed)")
        return 0
    outcome = execute(found, target.management_api)
    if outcome.refused:
        for reason in outcome.refused:
            warn(f"kept: {reason} (it became live while erasing); end it, then run again")
        warn(f"{outcome.conversations} conversation(s), {outcome.items} item(s) erased; "
             f"{len(outcome.refused)} conversation(s) and the visitor's own items kept")
        return 1
    say(f"{outcome.conversations} conversation(s), {outcome.items} item(s) erased"
        + (f"; {len(outcome.closed)} open connection(s) closed" if outcome.closed else ""))
    return 0
