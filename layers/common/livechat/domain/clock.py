"""Time and identifiers, in one place so tests can reason about them."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z and milliseconds: sorts as text, as the indexes need."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(now())


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_id() -> str:
    return uuid.uuid4().hex


VISITOR_ID_PREFIX = "v_"


def new_visitor_id() -> str:
    return VISITOR_ID_PREFIX + secrets.token_urlsafe(16)
