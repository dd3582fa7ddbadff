"""The WebSocket routes: parse an API Gateway event, run the action, answer the client.

Every frame is answered exactly once (its event, an `error`, or `ack`); a bad frame gets
an `error` naming the problem and changes nothing; errors never carry a stack trace.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from livechat import runtime
from livechat.api import cors
from livechat.chat import presence
from livechat.domain.errors import Forbidden, LivechatError, RateLimited, Unauthorized
from livechat.domain.limits import FrameBudget
from livechat.runtime import get_settings

if TYPE_CHECKING:  # the event models: each function imports the ones it parses
    from livechat.api.identity import Identity
    from livechat.api.ws_connect_events import ConnectEvent, DisconnectEvent
    from livechat.api.ws_message_event import MessageEvent

logger = Logger(child=True)

# Issue 15 (cold start): the frame path — the actions and every use case behind them, the
# inbound frame models, the delivery of answers — is imported by `on_message`, not here, so
# that the $connect/$disconnect function does not load it. The function that answers frames
# imports it at its own import (functions/ws_message/app.py), during Lambda's init, not on
# its first frame.

def management_endpoint(domain_name: str, stage: str) -> str:
    configured = get_settings().ws_management_endpoint
    return configured or f"https://{domain_name}/{stage}"


def on_connect(event: ConnectEvent) -> dict[str, Any]:
    """401/403 for a bad token, 403 for a visitor from an origin not allowed, 429 for a
    visitor's connection over the limit (livechat.chat.presence); nothing stored on refusal."""
    ctx = event.request_context
    try:
        role: str
        if ctx.authorizer is not None:
            role, principal = ctx.authorizer.role, ctx.authorizer.principal
        else:
            # No authorizer ran: only while a deployment that adds it is under way (the
            # functions are updated before the API's new deployment routes $connect
            # through it). The same checks, here, instead of refusing every handshake
            # (the token checks loaded only then: issue 15, cold start).
            from livechat.api import auth

            role, principal = auth.identify(event.query_string_parameters or {})
        presence.connect(ctx.connection_id, role, principal,
                         origin=cors.header(event.headers, "origin"))
    except Forbidden as exc:
        logger.info("connect refused", code=exc.code, reason=exc.message)
        return {"statusCode": 403, "body": exc.message}
    except Unauthorized as exc:
        logger.info("connect refused", code=exc.code, reason=exc.message)
        return {"statusCode": 401, "body": exc.message}
    except (presence.TooManyConnections, RateLimited) as exc:
        logger.info("connect refused", code=exc.code, reason=exc.message)
        return {"statusCode": 429, "body": exc.message}
    except LivechatError as exc:  # a state that kept moving (Conflict): the client retries
        logger.warning("connect refused", code=exc.code, reason=exc.message)
        return {"statusCode": 409, "body": exc.message}
    return {"statusCode": 200}


def _caller(connection_id: str, identity: Identity | None) -> presence.Caller | None:
    """Who is on this connection: from the authorizer's context, which API Gateway alone
    sets (no read); from the connection item only for a connection opened before the
    authorizer was deployed (at most API Gateway's 2 hours after that deployment)."""
    if identity is not None:
        return presence.Caller(connection_id, identity.role, identity.principal)
    return presence.caller_of(connection_id)


def on_disconnect(event: DisconnectEvent) -> dict[str, Any]:
    ctx = event.request_context
    caller = _caller(ctx.connection_id, ctx.authorizer)
    if caller is not None:
        presence.disconnect(caller)
    return {"statusCode": 200}


def on_message(event: MessageEvent) -> dict[str, Any]:
    from livechat.api.actions import ADMIN_ACTIONS, ANSWER_TYPES, HANDLERS, authorize
    from livechat.api.protocol import parse_frame, request_id_of
    from livechat.outbound.delivery import Notifier
    from livechat.outbound.frames import AckEvent, error_frame

    ctx = event.request_context
    body = event.body if isinstance(event.body, str) else None
    endpoint = management_endpoint(ctx.domain_name, ctx.stage)
    request_id = request_id_of(body)
    notifier = Notifier(endpoint, requester=ctx.connection_id, request_id=request_id)
    try:
        _within_frame_budget(ctx.connection_id)
        frame = parse_frame(body, get_settings().max_frame_bytes)
        caller = _caller(ctx.connection_id, ctx.authorizer)
        if caller is None:
            raise Unauthorized("this connection is not registered; reconnect")
        authorize(caller, frame.action)
        if frame.action in ADMIN_ACTIONS and not (ctx.authorizer is not None and ctx.authorizer.admin):
            # The flag is the $connect authorizer's: a connection opened before the agent
            # was made admin (or before the flag existed) gets it by reconnecting.
            raise Forbidden(f"{frame.action} needs the LiveChatAdmin group (sign in again once granted)")
        action: str = frame.action
        notifier.answer_types = ANSWER_TYPES.get(action, frozenset())
        notifier.answered = False
        HANDLERS[action](caller, frame, notifier)
        if not notifier.answered:
            notifier.reply(AckEvent(action=action).wire())
    except LivechatError as exc:
        if not notifier.answered:
            retry_after = exc.retry_after_seconds if isinstance(exc, RateLimited) else None
            notifier.reply(error_frame(exc.code, exc.message, None, retry_after_seconds=retry_after))
        else:
            logger.warning("error after the answer", code=exc.code, reason=exc.message)
    except Exception:
        logger.exception("action failed")
        if not notifier.answered:
            notifier.reply(error_frame("INTERNAL", "internal error; try again", None))
    return {"statusCode": 200}


# One bucket per connection this container has seen, the oldest forgotten first: a bound
# on memory whatever the number of connections (a forgotten one starts a full bucket).
MAX_BUDGETS = 10_000
_budgets: OrderedDict[str, FrameBudget] = OrderedDict()


@runtime.on_reset
def _forget_budgets() -> None:
    _budgets.clear()


def _within_frame_budget(connection_id: str) -> None:
    """RATE_LIMITED, before anything is read or parsed, for a connection over its frames
    per second in this container."""
    settings = get_settings()
    if settings.frames_per_second <= 0:
        return
    at = time.monotonic()
    budget = _budgets.pop(connection_id, None) or FrameBudget(settings.frames_per_second,
                                                             settings.frame_burst, at)
    _budgets[connection_id] = budget
    while len(_budgets) > MAX_BUDGETS:
        _budgets.popitem(last=False)
    wait = budget.spend(at)
    if wait > 0:
        raise RateLimited(f"too many frames: at most {settings.frames_per_second:g} per second",
                          max(1, math.ceil(wait)))
