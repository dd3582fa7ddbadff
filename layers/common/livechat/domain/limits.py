"""Rate-limit windows (spec/protocol.md and workspace.md, second round), as pure functions.

Windows are fixed and aligned to the UTC minute, hour or day: the counter of a window is named
by its start, so every instance counts into the same item without agreeing on anything
but the clock, and an old window's counter is simply never read again (it expires by
DynamoDB TTL). `retryAfterSeconds` is the time to the window's end, rounded up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from livechat.domain.errors import RateLimited
from livechat.domain.workspace import RateLimits, WorkspaceSettings

MINUTE = 60
HOUR = 3600
DAY = 86400
_UNITS = {MINUTE: ("m", "minute"), HOUR: ("h", "hour"), DAY: ("d", "UTC day")}


@dataclass(frozen=True)
class Window:
    seconds: int  # MINUTE, HOUR or DAY
    start: int  # epoch seconds of the window's start

    @property
    def end(self) -> int:
        return self.start + self.seconds

    @property
    def name(self) -> str:
        """The window in a key: `m<start>`, `h<start>` or `d<start>`."""
        return f"{_UNITS[self.seconds][0]}{self.start}"

    def retry_after(self, at: datetime) -> int:
        """Seconds from `at` to the window's end, rounded up (at least 1)."""
        return max(1, math.ceil(self.end - at.timestamp()))


def window(seconds: int, at: datetime) -> Window:
    epoch = int(at.astimezone(UTC).timestamp())
    return Window(seconds, epoch - epoch % seconds)


def effective(settings: WorkspaceSettings, *, defaults: bool) -> RateLimits | None:
    """The limits in force: the workspace's block, else the defaults in a deployment and
    none on the local stack (`defaults` = runtime's default_rate_limits)."""
    if settings.rate_limits is not None:
        return settings.rate_limits
    return RateLimits() if defaults else None


def over_limit(what: str, limit: int, win: Window, at: datetime) -> RateLimited:
    return RateLimited(f"too many {what}: at most {limit} per {_UNITS[win.seconds][1]}", win.retry_after(at))


class FrameBudget:
    """A token bucket: `rate` frames per second on average, `burst` at once. It bounds the
    frames of one connection in one container (protocol.md leaves the frames that write
    nothing to the server; livechat.api.gateway keeps one per connection): a connection
    whose frames reach two containers gets twice the rate, which API Gateway's route
    throttling (template.yaml) caps for the whole API."""

    def __init__(self, rate: float, burst: int, at: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.at = at

    def spend(self, at: float) -> float:
        """Take one token at monotonic time `at`: 0 when there was one, else the seconds
        until there is (nothing is taken then)."""
        self.tokens = min(self.burst, self.tokens + (at - self.at) * self.rate)
        self.at = at
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate
