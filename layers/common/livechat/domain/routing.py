"""Who may get a chat, in which order: the routing plan of a live chat card, and who is
eligible now.

Pure functions over the agents read in one Query; the writes that claim an agent live in
livechat.chat.offers. Every mode falls back to round-robin over all available agents
before giving up (protocol.md, "availability"): a custom-rules card whose rules match
nobody is routed round-robin, and only when nobody can take it does the visitor get the
`no_rule_matched` fallback.

Account routing (workspace.md, second round) comes before all of that: a visitor whose
e-mail domain names an account is offered to its owner first, in a pool of their own; the
owner is then in `tried` (declined, expired, unreachable), so the card's own pools run
without them.

Schedules (workspace.md, second round): the status that counts is the effective one at the
clock's now (livechat.domain.schedules), computed here from what was read; the slot claim
is conditioned on the stored status and override as read, so a toggle racing an offer is
settled by DynamoDB (livechat.store.agents.claim).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from livechat.domain import schedules
from livechat.domain.clock import now, parse_iso
from livechat.domain.rules import first_match
from livechat.domain.snapshots import Agent
from livechat.domain.workspace import AgentRouting, RoundRobinRouting, Routing, RulesRouting, TeamRouting

ALL_POOL = "all"
ACCOUNT_POOL_PREFIX = "account:"
AVAILABLE = schedules.AVAILABLE
AWAY = schedules.AWAY


def _override(agent: Agent) -> datetime | None:
    return parse_iso(agent.override_until) if agent.override_until else None


def presence(agent: Agent, at: datetime | None = None) -> schedules.Effective:
    """The agent's effective status at `at` (default: now), whether they are on schedule,
    and until when."""
    return schedules.effective(agent.status, _override(agent), agent.schedule, at or now())


def is_eligible(agent: Agent, at: datetime | None = None) -> bool:
    return why_not_eligible(agent, at) is None


def why_not_eligible(agent: Agent, at: datetime | None = None) -> str | None:
    if not agent.live_chat:
        return "no Live Chat permission"
    status, on_schedule = schedules.current(agent.status, _override(agent), agent.schedule, at or now())
    if status != AVAILABLE:
        return "away" if on_schedule else "off schedule"
    if not agent.has_channel:
        return "not reachable (no inbox open, no push subscription)"
    if agent.active >= agent.max_chats:
        return "full"
    return None


@dataclass(frozen=True)
class Pool:
    """Agents tried together. `cursor` names the round-robin cursor, or None for a single
    named agent."""

    name: str
    members: tuple[str, ...]
    cursor: str | None


@dataclass(frozen=True)
class Plan:
    pools: tuple[Pool, ...]
    no_rule_matched: bool = False
    matched_rule: int | None = None
    target: str = ""  # what the card (or matched rule) names, for logs and dry-runs
    notes: tuple[str, ...] = field(default_factory=tuple)


def _all_pool(agents: Sequence[Agent]) -> Pool:
    return Pool(ALL_POOL, tuple(sorted(a.email for a in agents if a.live_chat)), ALL_POOL)


def _team_pool(team: str, agents: Sequence[Agent]) -> Pool:
    members = tuple(sorted(a.email for a in agents if a.live_chat and team in (a.teams or [])))
    return Pool(f"team:{team}", members, f"team:{team}")


def _agent_pool(email: str) -> Pool:
    return Pool(f"agent:{email}", (email.lower(),), None)


def account_owner(accounts: Mapping[str, str], attrs: Mapping[str, str]) -> tuple[str, str] | None:
    """(domain, owner) of the visitor's account: their e-mail's domain exactly (the rules'
    `emailDomain`, lower case; a subdomain is another domain). `accounts` is empty when
    account routing is off."""
    domain = attrs.get("emailDomain", "")
    owner = accounts.get(domain) if domain else None
    return (domain, owner) if owner else None


def plan(routing: Routing, attrs: Mapping[str, str], agents: Sequence[Agent],
         accounts: Mapping[str, str] | None = None) -> Plan:
    card_plan = _card_plan(routing, attrs, agents)
    account = account_owner(accounts or {}, attrs)
    if account is None:
        return card_plan
    domain, owner = account
    return Plan((Pool(f"{ACCOUNT_POOL_PREFIX}{domain}", (owner,), None), *card_plan.pools),
                no_rule_matched=card_plan.no_rule_matched, matched_rule=card_plan.matched_rule,
                target=f"account {domain}: owner {owner}, then {card_plan.target}",
                notes=card_plan.notes)


def card_pools(plan_: Plan) -> tuple[Pool, ...]:
    """The card's own pools: what runs once the account owner has had their offer."""
    return tuple(p for p in plan_.pools if not p.name.startswith(ACCOUNT_POOL_PREFIX))


def _card_plan(routing: Routing, attrs: Mapping[str, str], agents: Sequence[Agent]) -> Plan:
    everyone = _all_pool(agents)
    if isinstance(routing, RoundRobinRouting):
        return Plan((everyone,), target="round robin")
    if isinstance(routing, AgentRouting):
        return Plan((_agent_pool(routing.agent), everyone), target=f"agent {routing.agent}")
    if isinstance(routing, TeamRouting):
        return Plan((_team_pool(routing.team, agents), everyone), target=f"team {routing.team}")
    assert isinstance(routing, RulesRouting)
    hit = first_match(routing.rules, attrs)
    if hit is None:
        return Plan((everyone,), no_rule_matched=True, target="no rule matched: round robin")
    index, rule = hit
    if rule.route.agent is not None:
        return Plan((_agent_pool(rule.route.agent), everyone), matched_rule=index,
                    target=f"rule {index}: agent {rule.route.agent}")
    team = rule.route.team or ""
    return Plan((_team_pool(team, agents), everyone), matched_rule=index,
                target=f"rule {index}: team {team}")


def eligible(pool: Pool, agents: Mapping[str, Agent], tried: set[str]) -> list[Agent]:
    return [
        agents[email]
        for email in pool.members
        if email in agents and email not in tried and is_eligible(agents[email])
    ]


def rotate(candidates: list[Agent], ticket: int) -> list[Agent]:
    """Start the candidate list at the ticket's position (tickets count from 1)."""
    if not candidates:
        return []
    start = (ticket - 1) % len(candidates)
    return candidates[start:] + candidates[:start]


def anyone_eligible(plan_: Plan, agents: Mapping[str, Agent], tried: set[str]) -> bool:
    return any(eligible(pool, agents, tried) for pool in plan_.pools)
