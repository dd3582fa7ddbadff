"""`livechat route --dry-run`: what a live chat card would do with a sample visitor.

Uses the router's own pieces (livechat.rules, livechat.routing, livechat.agents), so the
dry run cannot disagree with the real routing. Without a stack it says which rule matched
and what the target is; with one it also reads the agents and the round-robin cursors
(never writing) and says who would get the chat now and why the others would not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from livechat.domain import routing
from livechat.domain.routing import why_not_eligible
from livechat.domain.rules import matches, visitor_attributes
from livechat.domain.snapshots import Agent
from livechat.domain.workspace import (
    AllCondition,
    AnyCondition,
    Condition,
    FieldCondition,
    LiveChatCard,
    RulesRouting,
    WorkspaceSettings,
)
from livechat.domain.workspace_document import Workspace


class DryRunError(Exception):
    pass


def describe(condition: Condition) -> str:
    if isinstance(condition, AllCondition):
        return "all(" + ", ".join(describe(c) for c in condition.all) + ")"
    if isinstance(condition, AnyCondition):
        return "any(" + ", ".join(describe(c) for c in condition.any) + ")"
    assert isinstance(condition, FieldCondition)
    if condition.op == "exists":
        return f"{condition.field} {'exists' if condition.value is not False else 'does not exist'}"
    value = (f"[{', '.join(condition.value)}]" if isinstance(condition.value, list)
             else repr(condition.value))
    return f"{condition.field} {condition.op} {value}"


def attributes(visitor: Mapping[str, Any]) -> dict[str, str]:
    """The sample visitor: captured fields at the top level; page attributes either nested
    (`{"page": {"url": ...}, "utm": {"source": ...}}`) or flat (`"page.url"`, `"utm.source"`)."""
    page = dict(visitor.get("page") or {})
    if isinstance(visitor.get("utm"), Mapping):
        page["utm"] = visitor["utm"]
    fields = {k: v for k, v in visitor.items() if k not in ("page", "utm")}
    return visitor_attributes(fields, page)


@dataclass
class Verdict:
    email: str
    pool: str
    verdict: str  # "gets the chat" | "next in line" | a reason


@dataclass
class DryRun:
    attrs: dict[str, str]
    rules: list[tuple[int, str, bool]]  # index, condition, matched
    matched_rule: int | None
    target: str
    no_rule_matched: bool
    pools: list[tuple[str, tuple[str, ...]]]
    verdicts: list[Verdict] = field(default_factory=list)
    live: bool = False
    account: str = ""  # what account routing did, one line

    def lines(self) -> list[str]:
        out = ["visitor attributes: " + (", ".join(f"{k}={v}" for k, v in sorted(self.attrs.items()))
                                         or "(none)")]
        if self.account:
            out.append(self.account)
        for index, text, hit in self.rules:
            out.append(f"rule {index}: {text} → {'MATCH' if hit else 'no match'}")
            if hit:
                break
        if self.no_rule_matched:
            # As the router does (protocol.md): round robin over everyone before giving up.
            out.append("matched: no rule → round robin over everyone (the fallback, no_rule_matched,"
                       " only if nobody can take it)")
        elif self.matched_rule is not None:
            out.append(f"matched: rule {self.matched_rule}")
        out.append(f"target: {self.target}")
        for name, members in self.pools:
            out.append(f"pool {name}: {', '.join(members) or '(nobody)'}")
        if not self.live:
            out.append("(no --stack/--local given: who is available now is not known)")
            return out
        for verdict in self.verdicts:
            out.append(f"  {verdict.pool} {verdict.email}: {verdict.verdict}")
        winner = next((v for v in self.verdicts if v.verdict == "gets the chat"), None)
        out.append(f"now: {winner.email} would be offered the chat" if winner
                   else "now: nobody can take it → the visitor gets the fallback message"
                   + (" (no_rule_matched)" if self.no_rule_matched else ""))
        return out


def profiles_from_file(workspace: Workspace) -> list[Agent]:
    """The file's agents (for the pools, when no stack is given)."""
    return [Agent(email=str(a.email).lower(), name=a.name, teams=tuple(a.teams)) for a in workspace.agents]


def find_card(workspace: Workspace, dialog_id: str, card_id: str) -> LiveChatCard:
    dialog = next((d for d in workspace.dialogs if d.id == dialog_id), None)
    if dialog is None:
        raise DryRunError(f"no dialog {dialog_id!r} in the workspace"
                          f" (dialogs: {', '.join(d.id for d in workspace.dialogs) or 'none'})")
    card = dialog.live_chat_card(card_id)
    if card is None:
        cards = [c.id for _, c in dialog.walk() if isinstance(c, LiveChatCard)]
        raise DryRunError(f"no live chat card {card_id!r} in dialog {dialog_id!r}"
                          f" (live chat cards: {', '.join(cards) or 'none'})")
    return card


def account_line(settings: WorkspaceSettings, attrs: Mapping[str, str]) -> str:
    """Why account routing did or did not put an owner first."""
    if not settings.account_owners:
        return ""
    if not settings.account_routing:
        return "account routing: off (settings.account_routing is false)"
    account = routing.account_owner(settings.accounts_in_effect(), attrs)
    if account is None:
        domain = attrs.get("emailDomain")
        return (f"account routing: no account for {domain} → the card's routing" if domain
                else "account routing: no e-mail captured → the card's routing")
    domain, owner = account
    return (f"account routing: {domain} is {owner}'s account → {owner} is offered the chat first;"
            " if not reachable, or they decline or let it expire, the card's routing without them")


def dry_run(card: LiveChatCard, visitor: Mapping[str, Any], agents: Sequence[Agent],
            *, live: bool, tickets: Mapping[str, int] | None = None,
            settings: WorkspaceSettings | None = None) -> DryRun:
    """`agents` are the stored rows (live) or the file's profiles; `tickets` the current
    value of each round-robin cursor (live); `settings` the file's (account routing)."""
    attrs = attributes(visitor)
    settings = settings or WorkspaceSettings()
    rules: list[tuple[int, str, bool]] = []
    if isinstance(card.routing, RulesRouting):
        rules = [(i, describe(rule.when), matches(rule.when, attrs))
                 for i, rule in enumerate(card.routing.rules)]
    the_plan = routing.plan(card.routing, attrs, agents, settings.accounts_in_effect())
    result = DryRun(attrs, rules, the_plan.matched_rule, the_plan.target, the_plan.no_rule_matched,
                    [(p.name, p.members) for p in the_plan.pools], live=live,
                    account=account_line(settings, attrs))
    if not live:
        return result
    by_email = {a.email: a for a in agents}
    seen: set[str] = set()
    winner_found = False
    for pool in the_plan.pools:
        candidates = routing.eligible(pool, by_email, set())
        if pool.cursor is not None and candidates:
            # The router takes the next ticket of the cursor: this one, without taking it.
            candidates = routing.rotate(candidates, (tickets or {}).get(pool.cursor, 0) + 1)
        order = [a.email for a in candidates] + [m for m in pool.members if m not in
                                                 {a.email for a in candidates}]
        for email in order:
            if email in seen:
                continue
            seen.add(email)
            agent = by_email.get(email)
            if agent is None:
                verdict = "no profile row (not applied yet?)"
            else:
                verdict = why_not_eligible(agent) or ("next in line" if winner_found else "gets the chat")
                winner_found = winner_found or verdict == "gets the chat"
                if verdict in ("next in line", "gets the chat") and not agent.connections:
                    verdict += " (by Web Push: no inbox open)"
                verdict += schedule_note(agent)
            result.verdicts.append(Verdict(email, pool.name, verdict))
    return result


def schedule_note(agent: Agent) -> str:
    """Where the agent's schedule stands now, in their own time zone (the one the admin
    wrote the blocks in); nothing for an agent without a schedule, or whose status will
    not change by itself."""
    state = routing.presence(agent)
    if agent.schedule is None or state.until is None:
        return ""
    where = "on schedule" if state.on_schedule else "off schedule"
    local = state.until.astimezone(agent.schedule.zone)
    return f" [{where}, {state.status} until {local:%a %H:%M} {agent.schedule.timezone}]"


def live_state(card: LiveChatCard, visitor: Mapping[str, Any], settings: WorkspaceSettings | None = None
               ) -> tuple[list[Agent], dict[str, int]]:
    """The stored agents and the round-robin cursors the plan would use (reads only)."""
    from livechat.store import agents, counters

    rows = agents.list_agents()
    the_plan = routing.plan(card.routing, attributes(visitor), rows,
                            (settings or WorkspaceSettings()).accounts_in_effect())
    tickets = {p.cursor: counters.last_ticket(p.cursor) for p in the_plan.pools if p.cursor}
    return rows, tickets


def parse_visitor(text: str) -> dict[str, Any]:
    try:
        visitor = json.loads(text)
    except ValueError as exc:
        raise DryRunError(f"--visitor: not JSON: {exc}") from None
    if not isinstance(visitor, dict):
        raise DryRunError("--visitor: give a JSON object, e.g. '{\"email\": \"a@b.com\", \"country\": \"FR\"}'")
    return visitor
