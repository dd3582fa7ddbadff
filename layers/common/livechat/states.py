"""Conversation states: automated → routing → offered → active → ended | expired, or
routing → fallback. Every transition is a conditional write on `status`."""

AUTOMATED = "automated"
ROUTING = "routing"
OFFERED = "offered"
ACTIVE = "active"
ENDED = "ended"
EXPIRED = "expired"  # ended by inactivity
FALLBACK = "fallback"

OPEN = frozenset({AUTOMATED, ROUTING, OFFERED, ACTIVE})
LIVE_KIND = "live"
AUTOMATED_KIND = "automated"

FALLBACK_REASONS = ("not_accepted", "no_agent", "no_rule_matched", "quota_reached")
