"""The engagement quota (plan `select`): a lifetime limit of accepted live chats.

An engagement is counted by the accept's own transaction (a conditional counter, see
livechat.domain.transitions.accept), so two accepts racing for the last engagement can
never both count.
"""

from __future__ import annotations

import math

from livechat.domain.workspace import WorkspaceSettings
from livechat.outbound import failures
from livechat.store import counters


def limit_of(settings: WorkspaceSettings) -> int | None:
    return settings.engagement_limit if settings.plan == "select" else None


def used() -> int:
    return counters.engagements_used()


def reached(settings: WorkspaceSettings) -> bool:
    limit = limit_of(settings)
    return limit is not None and used() >= limit


def after_engagement(settings: WorkspaceSettings) -> None:
    """Warn the team at 90 % and when the limit is reached (notify_failure mails each once)."""
    limit = limit_of(settings)
    if limit is None:
        return
    value = used()
    detail = {"used": value, "limit": limit}
    if value == limit:
        failures.report(failures.failed_action(failures.ENGAGEMENT_QUOTA, "quota_reached",
                                               detail=detail))
    elif value == math.ceil(limit * 0.9):
        failures.report(failures.failed_action(failures.ENGAGEMENT_QUOTA, "quota_warning",
                                               detail=detail))
