"""How long personal data is kept (issue 14, "Personal data"): every item that belongs to a
conversation or a visitor carries the table's TTL attribute, `expiration`, in epoch seconds
= its write time + the workspace's `retention_days`. DynamoDB deletes an item some time
after that moment (usually within a few days; until then reads still return it).

Pure: the store computes the attribute with these functions; docs/security.md says which
items carry it and how a setting change applies.
"""

from __future__ import annotations

from datetime import UTC, datetime

DEFAULT_DAYS = 365  # WorkspaceSettings.retention_days when the workspace names none
MAX_DAYS = 3650
DAY_SECONDS = 86_400


def expiration(at: datetime, days: int) -> int:
    """The TTL of an item written at `at` and kept `days` days (epoch seconds, whole)."""
    return int(at.astimezone(UTC).timestamp()) + days * DAY_SECONDS


def conversation_expiration(stored: int | None, written: int) -> int:
    """A conversation's item outlives each of its events: written with its events (a live
    chat's messages: with its end, livechat.store.transaction), it keeps
    the later of what it had and what the new write asks (a shortened retention must not
    make it expire before events written under the longer one)."""
    return max(stored or 0, written)
