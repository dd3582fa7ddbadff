"""What a captured field may hold: one table for the server and the widget.

The patterns are written in the subset of regular-expression syntax that Python's `re` and
JavaScript's `RegExp` read alike (anchors, classes, `\\s`, counted repeats), so the widget can
check a form with the very rules the server applies: `/config.json` serves `public_rules()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from livechat.domain.errors import BadRequest

MAX_FIELD_CHARS = 500  # the CaptureFrame model's limit per value, checked again by the widget


@dataclass(frozen=True)
class FieldRule:
    pattern: str
    message: str
    case: Literal["lower", "upper"] | None = None


FIELD_RULES: dict[str, FieldRule] = {
    "email": FieldRule(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$", "not a valid e-mail address", "lower"),
    "phone": FieldRule(r"^\+?[0-9 ().-]{5,25}$", "not a valid phone number"),
    "country": FieldRule(r"^[A-Za-z]{2}$", "use a two-letter ISO country code", "upper"),
}

def clean_fields(fields: dict[str, str], listed: list[str], required: list[str], card_id: str
                 ) -> dict[str, str]:
    """The values as stored (trimmed, e-mail lower-cased, country upper-cased), or BadRequest
    naming the first field that is not listed, not valid, or required and missing."""
    clean: dict[str, str] = {}
    for name, raw in fields.items():
        if name not in listed:
            raise BadRequest(f"fields.{name[:64]}: not a field of capture card {card_id!r}")
        value = raw.strip()
        rule = FIELD_RULES.get(name)
        if rule and value:
            if not re.match(rule.pattern, value):
                raise BadRequest(f"fields.{name}: {rule.message}")
            value = value.lower() if rule.case == "lower" else value.upper() if rule.case == "upper" else value
        if value:
            clean[name] = value
    for name in required:
        if name not in clean:
            raise BadRequest(f"fields.{name}: required")
    return clean


def public_rules() -> dict[str, Any]:
    """The rules as /config.json serves them to the widget."""
    return {
        "maxLength": MAX_FIELD_CHARS,
        "fields": {name: {"pattern": rule.pattern, "message": rule.message}
                   for name, rule in FIELD_RULES.items()},
    }
