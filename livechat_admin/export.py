"""`livechat conversations export`: every conversation of a date range with its transcript.

A conversation is in the range [since, until) when it was active in it: started before
`until` and last active at or after `since`. The gsi1 index (every conversation, by last
activity) is queried from `since` on; those that started at or after `until` are dropped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

from livechat.chat.conversations import transcript
from livechat.domain import clock
from livechat.domain.snapshots import Conversation
from livechat.store import conversations as stored

CSV_COLUMNS = ("conversationId", "kind", "status", "dialogId", "startedAt", "lastActivityAt",
               "endedAt", "endReason", "fallbackReason", "agent", "agentName", "visitor", "page",
               "transcript")


def parse_bound(text: str, *, end: bool) -> str:
    """A date (2026-01-31: the whole day) or an ISO date-time, as the table's timestamp text."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + (timedelta(days=1) if end else timedelta())
        else:
            moment = clock.parse_iso(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO date-time") from None
    return clock.iso(moment)


def conversations(since: str, until: str) -> Iterator[Conversation]:
    """Conversations active in [since, until), newest activity first (ISO timestamps)."""
    for conv in stored.active_since(since):
        if conv.started_at < until:
            yield conv


def record(conv: Conversation) -> dict[str, Any]:
    return {
        "conversationId": conv.conversation_id,
        "kind": conv.kind,
        "status": conv.status.value,
        "dialogId": conv.dialog_id,
        "startedAt": conv.started_at,
        "lastActivityAt": conv.last_activity_at,
        "endedAt": conv.ended_at,
        "endReason": conv.end_reason,
        "fallbackReason": conv.fallback_reason,
        "agent": conv.agent,
        "agentName": conv.agent_name,
        "visitor": dict(conv.visitor),
        "page": dict(conv.page),
        "transcript": transcript(conv)["events"],
    }


def export(out: TextIO, fmt: str, since: str, until: str) -> int:
    """Write every conversation of the range to `out`; return how many."""
    count = 0
    writer = None
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
    for conv in conversations(since, until):
        row = record(conv)
        if writer is None:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer.writerow({key: json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list)
                             else ("" if value is None else value) for key, value in row.items()})
        count += 1
    return count
