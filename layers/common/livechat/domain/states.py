"""Conversation states: automated → routing → offered → active → ended | expired, or
routing → fallback; offered → routing when an offer ends unanswered. Every transition is a
function of livechat.domain.transitions and a conditional write on `status`."""

from enum import StrEnum


class Status(StrEnum):
    AUTOMATED = "automated"
    ROUTING = "routing"
    OFFERED = "offered"
    ACTIVE = "active"
    ENDED = "ended"
    EXPIRED = "expired"  # ended by inactivity
    FALLBACK = "fallback"


AUTOMATED = Status.AUTOMATED
ROUTING = Status.ROUTING
OFFERED = Status.OFFERED
ACTIVE = Status.ACTIVE
ENDED = Status.ENDED
EXPIRED = Status.EXPIRED
FALLBACK = Status.FALLBACK

OPEN = frozenset({Status.AUTOMATED, Status.ROUTING, Status.OFFERED, Status.ACTIVE})
LIVE_KIND = "live"
AUTOMATED_KIND = "automated"

FALLBACK_REASONS = ("not_accepted", "no_agent", "no_rule_matched", "quota_reached")
