"""Generate docs/protocol.md from the pydantic models in livechat.protocol.

`python -m livechat.api.protocol_doc > docs/protocol.md`; a unit test keeps the file current.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from livechat.api import protocol
from livechat.domain.transitions import ANSWER_RECORDED, CAPTURE_RECORDED
from livechat.outbound import frames

HEADER = """# livechat wire protocol (generated)

This file is generated from `layers/common/livechat/api/protocol.py` by
`python -m livechat.api.protocol_doc`; `tests/unit/test_protocol_doc.py` fails when it is stale.
The contract it implements is ../shared/spec/protocol.md; additions are marked *(addition)*.

Every client frame is a JSON object with `action`; every one may carry `requestId`
(≤ 128 characters), echoed by its one answer. Unknown extra fields are ignored; known
fields are validated strictly (no type coercion). Ids match `[A-Za-z0-9_.:@+-]{1,128}`.
Frames over 32 KB are refused with `BAD_REQUEST` "frame too large"; message text over
4,000 characters (setting `LIVECHAT_MAX_MESSAGE_CHARS`) with `BAD_REQUEST` naming `text`.
A string holding a lone surrogate (`\\ud800`-`\\udfff`, valid JSON but not UTF-8) or JSON
nested too deeply is refused with `BAD_REQUEST` *(addition)*; such a `requestId` is not echoed.
"""

STORED = f"""
## Stored events (carry `seq`, replayed by `resume`)

| type | fields |
|---|---|
| `routing` | conversationId, seq, at |
| `agentJoined` | conversationId, seq, agent {{name, avatarUrl}}, at |
| `fallback` | conversationId, seq, reason, message, at |
| `chatEnded` | conversationId, seq, reason, at |
| `message` | conversationId, seq, from, text, at, clientMessageId |
| `{ANSWER_RECORDED}` *(addition)* | conversationId, seq, cardId, value, at |
| `{CAPTURE_RECORDED}` *(addition)* | conversationId, seq, cardId, fields, at |

`answer` and `capture` are answered by `ack` with the stored event's `seq` *(addition)*;
`inbox` also carries the agent's effective `status` *(addition)*, so a reconnecting inbox
shows it instead of overwriting it. `resume` replays every stored event after `afterSeq`
in order and is then answered by `ack`
with `seq` = the last seq sent *(addition)*. `setStatus` is answered by `ack` (second
round); the agent's other connections get `status` {{status, onSchedule, until}}.

## Additions and choices where the contract is silent

- `startConversation` takes an optional `clientConversationId` *(addition)*: the client's
  own name for the conversation it starts. The same visitor sending the same id again (a
  start re-sent after a dropped connection, with a new `requestId`) is answered
  `conversationStarted` with the conversation the first one created; another visitor's
  equal id names another conversation; the same id for another dialog is `CONFLICT`.
  The widget sends one per start.
- A `sendMessage`'s `clientMessageId` names a message of its sender: the same side
  sending the same id again in the conversation is a retry (answered with the stored
  `message`, same `seq`, whatever its text), the other side's message with an equal id is
  not (each side's client makes up its own ids; both messages are stored).
- A `conversationId` is opaque: compare it, never parse it. (Since issue 15 the server's
  ids are `<16 characters>.<32 hexadecimal digits>`, the first part naming the visitor's
  stored item — not the visitor id — so one read finds both; ids made before are 32
  hexadecimal digits and keep working.)
- `resume`'s `afterSeq` is at most 2^53 − 1 (JavaScript's largest exact integer): larger
  is `BAD_REQUEST` naming `afterSeq`.
- `decline` of an offer this agent already declined (a retried frame, a second tab) is
  answered `ack` again and finishes what the first left undone (the next agent or the
  fallback); it changes nothing when that was done.
- `capture`: a card's listed fields are optional unless its `required` names them;
  values are trimmed, `email` lower-cased, `country` upper-cased; an empty optional field
  is not stored. `GET /config.json` carries `capture` {{maxLength, fields: {{name:
  {{pattern, message}}}}}} *(addition)*: the server's own rules, in regular-expression
  syntax that JavaScript's `RegExp` reads the same, for clients that check forms first.
- `listOffers` (second round) is answered by `offers` {{items: [{{conversationId, offerId,
  visitor, page, expiresAt, acceptTimeoutSeconds}}], serverTime}}: the agent's offers that
  `accept` would still take at `serverTime` (each `expiresAt` is later), oldest offer
  first, with the fields their `chatOffered` carried (`acceptTimeoutSeconds` is the
  current setting). Going `away` or disconnecting ends no offer, so a reconnecting inbox
  lists what is still pending and counts down from `expiresAt` − (`serverTime` − its clock).
- `subscribePush` {{subscription: {{endpoint, keys: {{p256dh, auth}}}}}} and `unsubscribePush`
  {{endpoint}} (second round, Web Push) are answered by `ack`. An agent may hold several
  subscriptions; an endpoint belongs to one agent, and subscribing it from another agent
  moves it; `unsubscribePush` of an endpoint this agent does not hold is `ack` too and
  changes nothing (another agent's subscription is never touched). The endpoint is
  `https://`, at most 1,024 characters, on a host of `settings.push_services`
  (case-insensitive; `*` is exactly one DNS label); `p256dh` is base64url of a 65-byte
  uncompressed P-256 point, `auth` of 16 bytes; anything else → `BAD_REQUEST` naming the
  field, and nothing is stored. `livechat dev` also accepts `http://127.0.0.1:PORT/...`
  (no other `http://` URL) because it sets `LIVECHAT_ALLOW_LOOPBACK_PUSH`; a deployment
  never does, so its functions refuse every `http://` endpoint.
- `GET /dialogs/{{dialogId}}` also carries `language` (`en`, `fr` or `zh`) and `texts` (an
  object, key → text, often empty) *(addition)*: the language of the widget's own words for
  this dialog and the workspace's rewording of any of them (workspace additions
  `dialogs[].language`, `dialogs[].texts`; the keys and every language's words are
  `web/widget/texts.json`, `{{name}}`-style placeholders are filled by the widget). A client
  of its own may ignore both.
- Web Push delivery (second round) follows protocol.md; where it is silent: the body is
  the `chatOffered` (or `offerWithdrawn`) frame exactly as the WebSocket carries it, cut to
  3,000 bytes by shortening the page's texts longest first (ending in `…`), then dropping
  the visitor's fields other than `firstName`/`lastName` largest first. `offerWithdrawn`
  pushes carry `TTL: 900` (a device that wakes within a quarter of an hour still clears
  its ringing notification) and go, like offers, only to an agent with no live inbox
  connection; a `decline` from one inbox sends no push. The VAPID JWT's `exp` is 12 hours
  ahead. A push service that does not answer within 2 s (connect) + 3 s (read) counts as
  delivered-unknown; one agent's subscriptions are posted to in parallel. An endpoint that
  a narrowed `push_services` no longer allows is not posted to (it counts as refused).
- Rate limits (second round): `answer` and `capture` store an event each and may be
  repeated while the dialog is open, so they count too: per connection per minute under
  `messages_per_minute`, on a counter of their own (a visitor walking a dialog never meets
  it; messages are not reduced by it).
- `inbox` also carries `pushSubscriptions` *(addition)*: how many Web Push subscriptions
  the agent holds, so the inbox can say whether offers reach them with every tab closed.
  `livechat route --dry-run` marks an agent reachable by push only.
- Schedules (second round): `status` (the frame, and the `inbox` answer's field) is the
  *effective* status, computed when read from the stored status, the schedule and the
  override; `onSchedule` says whether now is inside one of the agent's blocks (always true
  without a schedule) and `until` is the instant the effective status next changes by
  itself (a block's start or end, or the override's end, where the status really differs;
  adjacent blocks, also across midnight, are no change), or `null` — always sent, never
  left out — when it does not change within the next 8 days (no schedule, or a schedule
  always on or always off). For an agent with a schedule, `setStatus` stores the status
  with the override's end (the next boundary or local midnight); without one, the status
  holds until the next `setStatus`. A local time skipped by daylight saving moves to the
  next valid minute; one that occurs twice is its first occurrence. An offer's slot claim
  is conditioned on the status and override routing read, so a `setStatus` racing an
  offer leaves exactly one order: the offer made first (it stands, as a pending offer
  does when its agent goes away or off schedule), or the toggle first (the claim fails and
  routing moves to the next agent).
- `$connect` of an agent whose profile row kept changing while it was being created is
  refused with HTTP 409 (connect again); 401/403 are as the contract says.
- Origins (second round): with `settings.allowed_origins` set, a request without an `Origin`
  header (or with `null`) is refused like one from a site not listed: `POST /visitor/session`
  → 403 `{{"code": "FORBIDDEN", "message"}}`, a visitor's `$connect` → 403. Origins compare
  normalised (scheme and host lower-case, the scheme's default port dropped). An agent's
  `$connect` is not origin-checked. CORS is answered by the functions, not API Gateway:
  `Access-Control-Allow-Origin` is `*` without a list, the request's own `Origin` when it
  is listed, absent otherwise, always with `Vary: Origin`, on `POST /visitor/session`, its
  `OPTIONS` preflight (204; 403 for an origin not listed), `GET /config.json` and
  `GET /dialogs/{{dialogId}}`; `widget.js` keeps `*`.
- `POST /visitor/session` over `sessions_per_address_per_minute` (per `sourceIp`) → HTTP 429
  with `Retry-After` and the body `{{"code": "RATE_LIMITED", "message", "retryAfterSeconds"}}`
  (the same number of seconds). Every well-formed request counts, a renewal refused with
  401 too; a malformed body (400/413) or a refused origin (403) does not.
- A visitor's `$connect` over `connections_per_visitor` → HTTP 429, without `Retry-After`:
  it lifts when one of the visitor's connections closes (counted until its `$disconnect`).
- A `listConversations` `cursor` is valid only for the agent it was given to, and while
  the deployment's secret stays the same: any other → `BAD_REQUEST` naming `cursor` (list
  again from the start). Cursors do not expire otherwise.
- `emailTranscript` {{conversationId}} *(addition, visitor)* e-mails the conversation's
  transcript to the `email` captured in that conversation — a frame never names a
  recipient — and is answered by `ack` once the request is stored; the mail follows within
  seconds through notify_failure (SES v2, from `failure_emails.from`, text and HTML, the
  same lines as `getTranscript`'s `text`, nothing internal). Only once the conversation is
  over (`ended`, `expired` or `fallback`): before → `CONFLICT`; no address captured →
  `CONFLICT`; another visitor's conversation → `NOT_FOUND`; an agent → `FORBIDDEN`. Once
  per conversation: the request is a conditional write on the conversation, so a retry is
  answered `ack` again and nothing is mailed twice. At most 3 per address (compared
  lower-case) and UTC day, across conversations and visitors, on the local stack too
  (it protects someone else's mailbox): one more → `RATE_LIMITED` with `retryAfterSeconds`
  to the next UTC midnight, and nothing is marked. The SES sandbox refuses unverified
  recipients: while the deployment's SES account is in the sandbox (SES v2 `GetAccount`),
  an address that is not a verified identity (nor its domain) is answered `CONFLICT` at
  once — the message says the site cannot e-mail that address yet — and nothing is marked,
  so the same request succeeds once the address can be reached.
- `getTranscript` takes an optional `includeText` (bool) *(addition)*: the `transcript` then
  also carries `text`, the conversation as plain text, one line per event with its UTC
  time — `[2026-12-06 09:15:02 UTC] Vera answered “Talk to sales?”: Yes`, the captured
  fields with their labels, each message with its sender's name (the visitor's captured
  first and last name, the agent's name), what happened (routing, joined, fallback, ended).
  The failure e-mails' "Transcript so far" and `emailTranscript`'s mail use the same lines;
  the inbox's "Download transcript" saves it (and the JSON of the transcript).
- `inbox` also carries the agent's `name` *(addition)*: the inbox labels the agent's own
  messages with it.
- `getStats` {{from, to}} *(addition, issue 16: the performance dashboard)*: UTC dates
  `YYYY-MM-DD`, both included, `to` not before `from`, at most 92 days; anything else →
  `BAD_REQUEST` whose message starts with the field's name. Only for an agent whose ID token
  carried the `LiveChatAdmin` group when the connection opened (workspace `admin: true`,
  kept by `livechat apply`): the `$connect` authorizer puts `admin` on the connection, so
  an agent made admin (or a connection opened before this flag existed) reconnects first;
  any other agent, and a visitor, → `FORBIDDEN`. Answered by `stats` {{from, to, totals,
  days: [{{day, …row}}], agents: [{{agent, name, …row}}], teams: [{{team, …row}}]}}: every day of
  the range (zeros included), the agents and teams with any count in it. A row is
  `requested`, `connected`, `missed`, `missedByReason` {{not_accepted, no_agent,
  no_rule_matched, quota_reached}}, `abandoned` (the visitor left while routed or offered),
  `offered`, `offersExpired`, `offersDeclined`, `offersUnreachable`,
  `avgTimeToAcceptSeconds`, `firstResponses`, `avgFirstResponseSeconds`, `chatsEnded`,
  `avgChatLengthSeconds` (averages in seconds, one decimal, `null` without a sample). Each
  number counts on the UTC day its transition happened. The team is the one the chat's
  card (or its matched rule) routes to; an agent's row counts their own offers, accepts,
  first responses and chat lengths (a request or a fallback is the chat's, not an agent's).
  Time to accept: per chat from the request's first offer (what the visitor waited), per
  agent from their own offer. First response: from the accept to the agent's first
  message. Chat length: from the accept to the end (to the last activity for an
  inactivity end). The counters are kept as chats happen (docs/architecture.md); the
  answer reads no conversation.
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{v}`" for v in typing.get_args(annotation))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation) if a is not type(None))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(annotation, "__name__", str(annotation))


def _fields(model: type[BaseModel], skip: set[str]) -> str:
    parts = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key in skip:
            continue
        optional = "" if info.is_required() else "?"
        parts.append(f"`{key}`{optional}: {_type_name(info.annotation)}")
    return "; ".join(parts) or "—"


def render() -> str:
    lines = [HEADER, "## Client actions", "", "| action | role | fields |", "|---|---|---|"]
    inbound = typing.get_args(typing.get_args(protocol.Inbound)[0])
    for model in inbound:
        action = typing.get_args(model.model_fields["action"].annotation)[0]
        role = ("visitor" if action in protocol.VISITOR_ACTIONS
                else "agent" if action in protocol.AGENT_ACTIONS else "both")
        if action == "getTranscript":
            role = "agent (any); visitor (own)"
        if action == "getStats":
            role = "agent (admin)"
        lines.append(f"| `{action}` | {role} | {_fields(model, {'action', 'requestId'})} |")
    lines += ["", "## Server events", "", "| type | fields |", "|---|---|"]
    for model in sorted(frames._Event.__subclasses__(), key=lambda m: m.__name__):
        kind = typing.get_args(model.model_fields["type"].annotation)[0]
        lines.append(f"| `{kind}` | {_fields(model, {'type'})} |")
    lines.append(STORED)
    lines.append(
        "## Error codes\n\n`BAD_REQUEST`, `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND`, "
        "`OFFER_EXPIRED`, `CONFLICT`, `RATE_LIMITED`, `INTERNAL`: see ../shared/spec/protocol.md.\n"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
