"""The whole workspace file (spec/workspace.md) as `livechat apply` and `livechat dev` read
it: the agents, teams, accounts and schedules, and the checks across the document. Only the
admin's tools import it; the functions read the settings and dialogs, whose models are in
livechat.domain.workspace, and so never build these (issue 15, cold start).
"""

# No `from __future__ import annotations` (see livechat.domain.workspace).
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from livechat.domain import schedules
from livechat.domain.workspace import (
    AgentRouting,
    Dialog,
    Email,
    LiveChatCard,
    RulesRouting,
    TeamRouting,
    WorkspaceSettings,
    _Strict,
)


def _time_zone(name: str) -> str:
    problem = schedules.zone_problem(name)
    if problem:
        raise ValueError(problem)
    return name


def _block(text: str) -> str:
    schedules.parse_block(text)
    return text


ScheduleBlock = Annotated[str, AfterValidator(_block)]


class WeeklySpec(_Strict):
    mon: list[ScheduleBlock] = Field(default_factory=list)
    tue: list[ScheduleBlock] = Field(default_factory=list)
    wed: list[ScheduleBlock] = Field(default_factory=list)
    thu: list[ScheduleBlock] = Field(default_factory=list)
    fri: list[ScheduleBlock] = Field(default_factory=list)
    sat: list[ScheduleBlock] = Field(default_factory=list)
    sun: list[ScheduleBlock] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_overlaps(self) -> "WeeklySpec":
        # Messages start with the block's own path (mon[1]: ...): workspace_problems
        # prefixes them with the path of this model.
        problems = [p for day in schedules.DAYS
                    for p in schedules.day_problems(day, [schedules.parse_block(b) for b in getattr(self, day)])]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ScheduleSpec(_Strict):
    """workspace.md, second round: weekly blocks in the agent's time zone."""

    timezone: Annotated[str, AfterValidator(_time_zone)]
    weekly: WeeklySpec = Field(default_factory=WeeklySpec)

    def to_schedule(self) -> schedules.Schedule:
        return schedules.build(self.timezone, self.weekly.model_dump())


class AgentSpec(_Strict):
    email: Email
    name: str = Field(min_length=1, max_length=200)
    avatar_url: str = ""
    max_chats: int | None = Field(default=None, ge=1, le=10)
    teams: list[str] = Field(default_factory=list)
    password: str | None = None
    schedule: ScheduleSpec | None = None  # none: always on schedule
    # Also in the LiveChatAdmin group (`livechat apply`): the performance dashboard.
    admin: bool = False


class TeamSpec(_Strict):
    name: str = Field(min_length=1, max_length=100)


def _domain(value: str) -> str:
    domain = value.strip().lower()
    labels = domain.split(".")
    if (len(labels) < 2 or len(domain) > 253
            or not all(label and len(label) <= 63 and label.replace("-", "").isalnum()
                       and not label.startswith("-") and not label.endswith("-") for label in labels)):
        raise ValueError(f"{value!r} is not an e-mail domain (e.g. bigcorp.com: no @, no scheme, no wildcard)")
    return domain


class AccountSpec(_Strict):
    """workspace.md, second round: a visitor whose e-mail is at `domain` (exactly: no
    subdomains) is offered to `owner` first."""

    domain: Annotated[str, AfterValidator(_domain)]
    owner: Email


class Workspace(_Strict):
    settings: WorkspaceSettings = Field(default_factory=WorkspaceSettings)
    agents: list[AgentSpec] = Field(default_factory=list)
    teams: list[TeamSpec] = Field(default_factory=list)
    accounts: list[AccountSpec] = Field(default_factory=list)
    dialogs: list[Dialog] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _owners_only_from_accounts(cls, data: Any) -> Any:
        settings = data.get("settings") if isinstance(data, dict) else None
        if isinstance(settings, dict) and "account_owners" in settings:
            raise ValueError("settings.account_owners: not a setting: list the accounts at the top"
                             " level (accounts: [{domain, owner}])")
        return data

    @model_validator(mode="after")
    def _accounts_into_settings(self) -> "Workspace":
        owners = {a.domain: a.owner.lower() for a in self.accounts}
        if self.settings.account_owners != owners:
            # frozen: the folded settings replace the parsed ones once, at validation
            object.__setattr__(self, "settings", self.settings.model_copy(update={"account_owners": owners}))
        return self


def _loc_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and part.startswith("function-"):
            continue  # pydantic names a model's after-validator in the location
        elif part in ("MessageCard", "QuestionCard", "CaptureCard", "LiveChatCard",
                      "AvailabilityCard", "round_robin", "agent", "team", "custom_rules",
                      "message", "question", "capture", "live_chat", "availability",
                      "FieldCondition", "AllCondition", "AnyCondition", "function-after"):
            continue  # pydantic's union/discriminator tags are not part of the file's path
        else:
            path += f".{part}" if path else str(part)
    return path


_CARD_LISTS = ("cards", "next", "available", "unavailable")
# WeeklySpec's own check names the blocks inside it (mon[1]: ...).
_SCHEDULE_DAY = re.compile(rf"({'|'.join(schedules.DAYS)})\[\d+\]: ")


def _card_at(data: Any, loc: tuple[int | str, ...]) -> str | None:
    """The id of the innermost card on the way to an error location in the raw document."""
    card_id = None
    node, parent_key = data, None
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
            if parent_key in _CARD_LISTS and isinstance(node, dict) and isinstance(node.get("id"), str):
                card_id = node["id"]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            node, parent_key = node[part], part
            continue
        elif isinstance(part, str):
            continue  # a union tag or a validator name: not in the document
        else:
            break
        parent_key = None
    return card_id


def workspace_problems(data: Any) -> list[str]:
    """Every problem of a workspace document, one line each, with the path of the
    offending field (`dialogs[0].cards[3]: live chat card ... must be the last card`)."""
    from pydantic import ValidationError

    try:
        workspace = Workspace.model_validate(data)
    except ValidationError as exc:
        lines: list[str] = []
        for err in exc.errors(include_url=False, include_input=False):
            path = _loc_path(tuple(err["loc"]))
            message = str(err["msg"]).removeprefix("Value error, ")
            # A dialog's own check reports paths inside the dialog: prefix them.
            if message.startswith("cards[") or _SCHEDULE_DAY.match(message):
                lines.extend(
                    (f"{path}.{m}" if path else m).replace("(cards[", f"({path}.cards[" if path else "(cards[")
                    for m in message.split("; ")
                )
            else:
                card_id = _card_at(data, tuple(err["loc"]))
                if card_id and f"card {card_id!r}" not in message:
                    message += f" (card {card_id!r})"
                # A whole-file check names its own path ("settings.x: ...").
                own_path = not path and re.match(r"[A-Za-z_]+(\.[A-Za-z_]+|\[\d+\])*: ", message)
                lines.append(message if own_path else f"{path or '(top)'}: {message}")
        return lines
    return reference_problems(workspace)


def reference_problems(workspace: Workspace) -> list[str]:
    """Routing targets must exist: agents by e-mail, teams by name."""
    agents = {a.email.lower() for a in workspace.agents}
    teams = {t.name for t in workspace.teams}
    problems = []
    for i, spec in enumerate(workspace.agents):
        for team in spec.teams:
            if team not in teams:
                problems.append(f"agents[{i}].teams: unknown team {team!r}")
    for d, dialog in enumerate(workspace.dialogs):
        for path, card in dialog.walk():
            if not isinstance(card, LiveChatCard):
                continue
            where = f"dialogs[{d}].{path}.routing"
            routing = card.routing
            targets: list[tuple[str, str | None, str | None]] = []
            if isinstance(routing, AgentRouting):
                targets.append((where, routing.agent, None))
            elif isinstance(routing, TeamRouting):
                targets.append((where, None, routing.team))
            elif isinstance(routing, RulesRouting):
                for r, rule in enumerate(routing.rules):
                    targets.append((f"{where}.rules[{r}].route", rule.route.agent, rule.route.team))
            for target_path, agent_email, team_name in targets:
                if agent_email is not None and agent_email.lower() not in agents:
                    problems.append(
                        f"{target_path}: unknown agent {agent_email!r} (card {card.id!r})")
                if team_name is not None and team_name not in teams:
                    problems.append(
                        f"{target_path}: unknown team {team_name!r} (card {card.id!r})")
    ids = [dialog.id for dialog in workspace.dialogs]
    for d, dialog_id in enumerate(ids):
        if ids.index(dialog_id) != d:
            problems.append(f"dialogs[{d}].id: dialog id {dialog_id!r} is used twice")
    domains = [account.domain for account in workspace.accounts]
    for a, account in enumerate(workspace.accounts):
        if domains.index(account.domain) != a:
            problems.append(f"accounts[{a}].domain: {account.domain!r} is listed twice"
                            f" (accounts[{domains.index(account.domain)}])")
        if account.owner.lower() not in agents:
            problems.append(f"accounts[{a}].owner: unknown agent {account.owner!r}")
    return problems
