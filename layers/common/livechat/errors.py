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
    code = "RATE_LIMITED"
