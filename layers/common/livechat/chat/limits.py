"""The rate limits of the WebSocket actions that store something (protocol.md and
workspace.md, second round): which counter each action charges, in which window.

- `sendMessage`: `messages_per_minute` per connection;
- `startConversation`: `conversations_per_visitor_per_hour` per visitor;
- `emailTranscript`: `TRANSCRIPTS_PER_RECIPIENT_PER_DAY` per recipient address, always (also
  on the local stack and without a `rate_limits` block): it protects a third party's
  mailbox and the deployment's SES reputation, not the service's capacity.
The count rides in the action's own transaction (livechat.store.limits), so a refused
action stores nothing and a retried one that the store recognises is not counted.
"""

from __future__ import annotations

import hashlib

from livechat import runtime
from livechat.domain.clock import now
from livechat.domain.errors import RateLimited
from livechat.domain.limits import DAY, HOUR, MINUTE, effective, over_limit, window
from livechat.domain.workspace import RateLimits, WorkspaceSettings
from livechat.store import limits
from livechat.store.limits import Charge


def connection_subject(connection_id: str) -> str:
    """The subject whose counters count a connection's messages (`RATE#msg:<id>`)."""
    return f"msg:{connection_id}"


def visitor_subject(visitor_id: str) -> str:
    """The subject whose counters count a visitor's conversations (`RATE#conv:<id>`)."""
    return f"conv:{visitor_id}"


def records_subject(connection_id: str) -> str:
    """The subject whose counters count a connection's answers and captures."""
    return f"rec:{connection_id}"


# Few enough that the company's SES cannot be used to bomb an address by capturing it in
# conversation after conversation; enough for a visitor with a few chats in a day.
TRANSCRIPTS_PER_RECIPIENT_PER_DAY = 3


def recipient_subject(address: str) -> str:
    """The subject whose counters count the transcripts mailed to an address
    (`RATE#mail:<sha256>`): a hash, so that no counter holds the address itself (counters
    outlive a visitor's erasure until their TTL)."""
    return "mail:" + hashlib.sha256(address.strip().lower().encode()).hexdigest()


def in_force(settings: WorkspaceSettings) -> RateLimits | None:
    return effective(settings, defaults=runtime.get_settings().default_rate_limits)


def _charge(subject: str, what: str, limit: int, seconds: int) -> Charge:
    at = now()
    win = window(seconds, at)

    def refused() -> RateLimited:
        return over_limit(what, limit, win, now())

    return limits.charge(subject, win, limit, refused)


def message(connection_id: str, settings: WorkspaceSettings) -> Charge | None:
    rules = in_force(settings)
    if rules is None:
        return None
    return _charge(connection_subject(connection_id), "messages on this connection", rules.messages_per_minute, MINUTE)


def conversation(visitor_id: str, settings: WorkspaceSettings) -> Charge | None:
    rules = in_force(settings)
    if rules is None:
        return None
    return _charge(visitor_subject(visitor_id), "conversations", rules.conversations_per_visitor_per_hour, HOUR)


def record(connection_id: str, settings: WorkspaceSettings) -> Charge | None:
    """`answer` and `capture` store an event each and may be repeated while the dialog is
    open: they count apart from messages, under the same per-minute limit."""
    rules = in_force(settings)
    if rules is None:
        return None
    return _charge(records_subject(connection_id), "answers and captures on this connection",
                   rules.messages_per_minute, MINUTE)


def transcript(address: str) -> Charge:
    return _charge(recipient_subject(address), "transcript e-mails to this address",
                   TRANSCRIPTS_PER_RECIPIENT_PER_DAY, DAY)
