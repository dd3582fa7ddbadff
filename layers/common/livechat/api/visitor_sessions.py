"""Visitor sessions: `POST /visitor/session` with `{}` or `{"visitorToken": old}`."""

from __future__ import annotations

import json

from livechat.api import auth
from livechat.domain.errors import LivechatError

_MAX_BODY = 4096


def create(body: str | None) -> tuple[int, str]:
    """Returns (HTTP status, JSON body)."""
    try:
        if body and len(body) > _MAX_BODY:
            return 413, json.dumps({"code": "BAD_REQUEST", "message": "body too large"})
        data = json.loads(body) if body else {}
        if not isinstance(data, dict):
            raise ValueError
        old = data.get("visitorToken")
        if old is not None and not isinstance(old, str):
            return 400, json.dumps({"code": "BAD_REQUEST",
                                    "message": "visitorToken: must be a string"})
    except ValueError:
        return 400, json.dumps({"code": "BAD_REQUEST", "message": "body must be a JSON object"})
    try:
        visitor_id, token = auth.renew_visitor_token(old)
    except LivechatError as exc:
        return 401, json.dumps({"code": exc.code, "message": exc.message})
    return 200, json.dumps({"visitorId": visitor_id, "visitorToken": token})
