"""The admin's workspace file (spec/workspace.md) as validated pydantic models.

The same models validate the YAML file, the dialogs stored in DynamoDB and the settings
the functions read, so a dialog that could not be saved can never be routed.
"""

# No `from __future__ import annotations` here (issue 15, cold start): pydantic would compile
# and evaluate every field's annotation string when the classes are built (~1 ms of this
# module's import). Only the forward references (the recursive cards and conditions, a
# validator's own class) are strings.
from collections.abc import Iterator
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    model_validator,
    validate_email,
)

from livechat.domain.push import DEFAULT_PUSH_SERVICES, pattern_problem
from livechat.domain.retention import DEFAULT_DAYS, MAX_DAYS
from livechat.domain.widget_texts import Language
from livechat.domain.widget_texts import problems as wording_problems

CAPTURE_FIELDS = ("firstName", "lastName", "email", "company", "jobTitle", "phone", "country")
RULE_FIELDS = (
    "emailDomain",
    "page.url",
    "page.title",
    "page.referrer",
    "utm.source",
    "utm.medium",
    "utm.campaign",
)


def _email(value: str) -> str:
    return validate_email(value)[1]


# EmailStr's check and normalisation, the same function, but email_validator is imported when
# an address is validated: EmailStr imports it when a model using it is built, so every
# handler paid for it at every cold start, routing a dialog that names no agent or not.
Email = Annotated[str, AfterValidator(_email), WithJsonSchema({"type": "string", "format": "email"})]


class _Strict(BaseModel):
    # Each model's validator is built when it is first used, not at import: a handler uses a
    # few of these (the settings; a dialog for the dialog actions), the whole file's models
    # only `livechat apply` (issue 15: ~14 ms of every cold start).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class FailureEmails(_Strict):
    from_: str = Field(default="chat-alerts@example.com", alias="from")
    to: list[str] = Field(default_factory=list)


class RateLimits(_Strict):
    """Second round (workspace.md): fixed windows aligned to the UTC minute or hour."""

    messages_per_minute: int = Field(default=30, ge=1, le=10_000)  # per connection
    conversations_per_visitor_per_hour: int = Field(default=20, ge=1, le=10_000)
    sessions_per_address_per_minute: int = Field(default=10, ge=1, le=10_000)
    connections_per_visitor: int = Field(default=5, ge=1, le=100)


def _origin(value: str) -> str:
    """`scheme://host[:port]` as a browser sends it in `Origin`: lower-case, no path."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{value!r} is not an origin (https://host[:port])")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r} is not an origin: no path, query or user part")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} has a bad port") from None
    default = {"https": 443, "http": 80}[parts.scheme]
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


Origin = Annotated[str, AfterValidator(_origin)]


def _push_service(pattern: str) -> str:
    problem = pattern_problem(pattern)
    if problem:
        raise ValueError(problem)
    return pattern.lower()


PushService = Annotated[str, AfterValidator(_push_service)]


class WorkspaceSettings(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    plan: Literal["prime", "select"] = "prime"
    engagement_limit: int | None = Field(default=None, ge=1)
    accept_timeout_seconds: int = Field(default=100, ge=1, le=3600)
    team_retry_agents: int = Field(default=1, ge=0, le=10)
    inactivity_timeout_seconds: int = Field(default=600, ge=1, le=86400)
    default_max_chats: int = Field(default=10, ge=1, le=10)
    fallback_message: str = "Our team is busy right now — we'll e-mail you shortly."
    global_fallback_message: str = "Live chat is not available right now."
    failure_emails: FailureEmails = Field(default_factory=FailureEmails)
    # Second round: the hosts agents' Web Push endpoints may be on (livechat.domain.push).
    push_services: list[PushService] = Field(default_factory=lambda: list(DEFAULT_PUSH_SERVICES))
    # Who may embed the widget (POST /visitor/session and a visitor's $connect); None = anyone.
    allowed_origins: list[Origin] | None = None
    # None: a deployment applies RateLimits() and the local stack none (workspace.md);
    # livechat.chat.limits.effective reads it.
    rate_limits: RateLimits | None = None
    # Personal data (issue 14): conversations, their events and visitors' items expire this
    # many days after their last write (the table's TTL; livechat.domain.retention).
    retention_days: int = Field(default=DEFAULT_DAYS, ge=1, le=MAX_DAYS)
    # Second round: offer a named account's chats to its owner first (livechat.domain.routing).
    account_routing: bool = False
    # Not a key of the file's settings block: the file's top-level `accounts`, folded in by
    # Workspace, so that the router finds them in the settings it reads anyway.
    account_owners: dict[str, str] = Field(default_factory=dict)

    def accounts_in_effect(self) -> dict[str, str]:
        """Domain → owner when account routing is on, else nothing."""
        return dict(self.account_owners) if self.account_routing else {}


# --- rules ------------------------------------------------------------------------------

class FieldCondition(_Strict):
    field: str = Field(min_length=1)
    op: Literal[
        "equals", "not_equals", "in", "not_in", "contains", "starts_with", "ends_with", "exists"
    ]
    value: str | list[str] | bool | None = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> "FieldCondition":
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"operator {self.op!r} needs a list value")
        if self.op == "exists" and self.value is not None and not isinstance(self.value, bool):
            raise ValueError("operator 'exists' takes true, false or no value")
        if self.op not in ("in", "not_in", "exists") and not isinstance(self.value, str):
            raise ValueError(f"operator {self.op!r} needs a text value")
        return self


class AllCondition(_Strict):
    all: list["Condition"] = Field(min_length=1)


class AnyCondition(_Strict):
    any: list["Condition"] = Field(min_length=1)


def _condition_kind(value: Any) -> str:
    """`{all: [...]}` and `{any: [...]}` combine; anything else is a field test. Choosing
    the kind up front gives one error per mistake instead of one per union member."""
    keys = set(value) if isinstance(value, dict) else {
        k for k in ("all", "any") if isinstance(value, BaseModel) and hasattr(value, k)}
    if "all" in keys:
        return "AllCondition"
    if "any" in keys:
        return "AnyCondition"
    return "FieldCondition"


Condition = Annotated[
    Annotated[FieldCondition, Tag("FieldCondition")]
    | Annotated[AllCondition, Tag("AllCondition")]
    | Annotated[AnyCondition, Tag("AnyCondition")],
    Discriminator(_condition_kind),
]


class RouteTarget(_Strict):
    agent: Email | None = None
    team: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "RouteTarget":
        if (self.agent is None) == (self.team is None):
            raise ValueError("a route names exactly one of 'agent' or 'team'")
        return self


class Rule(_Strict):
    when: Condition
    route: RouteTarget


def condition_fields(condition: Condition, path: str) -> Iterator[tuple[str, str]]:
    """(path, field name) of every field test in a condition."""
    if isinstance(condition, AllCondition):
        for i, sub in enumerate(condition.all):
            yield from condition_fields(sub, f"{path}.all[{i}]")
    elif isinstance(condition, AnyCondition):
        for i, sub in enumerate(condition.any):
            yield from condition_fields(sub, f"{path}.any[{i}]")
    else:
        yield path, condition.field


class RoundRobinRouting(_Strict):
    mode: Literal["round_robin"]


class AgentRouting(_Strict):
    mode: Literal["agent"]
    agent: Email


class TeamRouting(_Strict):
    mode: Literal["team"]
    team: str = Field(min_length=1)


class RulesRouting(_Strict):
    mode: Literal["custom_rules"]
    rules: list[Rule] = Field(min_length=1)


Routing = Annotated[
    RoundRobinRouting | AgentRouting | TeamRouting | RulesRouting, Field(discriminator="mode")
]


# --- cards ------------------------------------------------------------------------------

class Answer(_Strict):
    label: str = Field(min_length=1, max_length=200)
    next: list["Card"] = Field(default_factory=list)


class MessageCard(_Strict):
    id: str = Field(min_length=1, max_length=100)
    kind: Literal["message"]
    text: str


class QuestionCard(_Strict):
    id: str = Field(min_length=1, max_length=100)
    kind: Literal["question"]
    text: str
    answers: list[Answer] = Field(min_length=1)


class CaptureCard(_Strict):
    id: str = Field(min_length=1, max_length=100)
    kind: Literal["capture"]
    fields: list[str] = Field(min_length=1)
    required: list[str] = Field(default_factory=list)  # workspace.md: default none required


class LiveChatCard(_Strict):
    id: str = Field(min_length=1, max_length=100)
    kind: Literal["live_chat"]
    text: str = "Let me connect you with someone from our team."
    routing: Routing


class AvailabilityCard(_Strict):
    """Branches on whether live chat can reach anyone now (spec: branch on availability)."""

    id: str = Field(min_length=1, max_length=100)
    kind: Literal["availability"]
    live_chat_card: str
    available: list["Card"] = Field(default_factory=list)
    unavailable: list["Card"] = Field(default_factory=list)


Card = Annotated[
    MessageCard | QuestionCard | CaptureCard | LiveChatCard | AvailabilityCard,
    Field(discriminator="kind"),
]


class Dialog(_Strict):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    cards: list[Card] = Field(min_length=1)
    # The widget's own words for this dialog (livechat.domain.widget_texts): its language and
    # any entry reworded; the visitor sees the cards' texts as written.
    language: Language = "en"
    texts: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_tree(self) -> "Dialog":
        problems = list(dialog_problems(self))
        if problems:
            raise ValueError("; ".join(f"{path}: {message}" for path, message in problems))
        if self.texts:
            worded = list(wording_problems(self.texts))
            if worded:
                raise ValueError("; ".join(worded))
        return self

    def walk(self) -> Iterator[tuple[str, Card]]:
        yield from _walk(self.cards, "cards")

    def card(self, card_id: str) -> Card | None:
        for _, card in self.walk():
            if card.id == card_id:
                return card
        return None

    def live_chat_card(self, card_id: str) -> LiveChatCard | None:
        card = self.card(card_id)
        return card if isinstance(card, LiveChatCard) else None


def _branches(card: Card, path: str) -> Iterator[tuple[str, list[Card]]]:
    if isinstance(card, QuestionCard):
        for i, answer in enumerate(card.answers):
            yield f"{path}.answers[{i}].next", answer.next
    elif isinstance(card, AvailabilityCard):
        yield f"{path}.available", card.available
        yield f"{path}.unavailable", card.unavailable


def _walk(cards: list[Card], path: str) -> Iterator[tuple[str, Card]]:
    for i, card in enumerate(cards):
        card_path = f"{path}[{i}]"
        yield card_path, card
        for branch_path, branch in _branches(card, card_path):
            yield from _walk(branch, branch_path)


def _branch_problems(cards: list[Card], path: str) -> Iterator[tuple[str, str]]:
    for i, card in enumerate(cards):
        card_path = f"{path}[{i}]"
        if isinstance(card, LiveChatCard) and i != len(cards) - 1:
            yield card_path, (
                f"live chat card {card.id!r} must be the last card of its branch ({path})"
            )
        for branch_path, branch in _branches(card, card_path):
            yield from _branch_problems(branch, branch_path)


def dialog_problems(dialog: Dialog) -> Iterator[tuple[str, str]]:
    yield from _branch_problems(dialog.cards, "cards")
    seen: dict[str, str] = {}
    for path, card in dialog.walk():
        if card.id in seen:
            yield path, f"card id {card.id!r} is used twice (also at {seen[card.id]})"
        seen.setdefault(card.id, path)
    for path, card in dialog.walk():
        if isinstance(card, AvailabilityCard) and not isinstance(
            dialog.card(card.live_chat_card), LiveChatCard
        ):
            yield path, f"card {card.id!r} names {card.live_chat_card!r}, not a live chat card"
    captured: set[str] = set()
    for path, card in dialog.walk():
        if isinstance(card, CaptureCard):
            captured.update(card.fields)
            for name in sorted({f for f in card.fields if card.fields.count(f) > 1}):
                yield f"{path}.fields", f"field {name!r} is listed twice (card {card.id!r})"
            for name in card.required:
                if name not in card.fields:
                    yield f"{path}.required", (
                        f"required field {name!r} is not one of the card's fields (card {card.id!r})")
    known = set(CAPTURE_FIELDS) | set(RULE_FIELDS) | captured
    for path, card in dialog.walk():
        if isinstance(card, LiveChatCard) and isinstance(card.routing, RulesRouting):
            for r, rule in enumerate(card.routing.rules):
                for where, name in condition_fields(rule.when, f"{path}.routing.rules[{r}].when"):
                    if name not in known:
                        yield f"{where}.field", (
                            f"unknown field {name!r} (card {card.id!r}): use a field a capture card"
                            f" asks for, or one of {', '.join(CAPTURE_FIELDS + RULE_FIELDS)}")


def parse_dialog(data: Any) -> Dialog:
    return Dialog.model_validate(data)
