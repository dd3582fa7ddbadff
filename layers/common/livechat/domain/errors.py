"""Domain errors. Each carries its wire code; the dispatcher maps them to `error` frames
in one place and never shows a stack trace."""

from __future__ import annotations


class LivechatError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(LivechatError):
    code = "BAD_REQUEST"


class Unauthorized(LivechatError):
    code = "UNAUTHORIZED"


class Forbidden(LivechatError):
    code = "FORBIDDEN"


class NotFound(LivechatError):
    code = "NOT_FOUND"


class OfferExpired(LivechatError):
    code = "OFFER_EXPIRED"


class Conflict(LivechatError):
    code = "CONFLICT"


class RateLimited(LivechatError):
    """Over a rate limit: nothing was stored; `retry_after_seconds` is when the window
    ends (the error frame's `retryAfterSeconds`, HTTP's `Retry-After`)."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class AlreadyRequested(Conflict):
    """Live chat was requested on this conversation already and it is being routed: a
    retried or concurrent request, answered `routing` again."""


class NotRouting(Conflict):
    """The conversation is no longer waiting for an agent (another router, the visitor
    left): this router stops."""


class AgentUnavailable(Conflict):
    """The agent's slot could not be claimed (full, away, disconnected, tried): try the next."""


class StillActive(Conflict):
    """A message (or an end) got there first: this chat is not inactive."""


class QuotaReached(Conflict):
    """The engagement quota is used up."""


class CursorMoved(Conflict):
    """Another router took the round-robin ticket this offer was planned on: plan again."""
