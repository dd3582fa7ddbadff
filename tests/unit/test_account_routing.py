"""Account routing's pure parts: the accounts of the workspace file, and the plan."""

from __future__ import annotations

from typing import Any

import pytest
from livechat.domain import routing
from livechat.domain.snapshots import Agent
from livechat.domain.workspace import RoundRobinRouting, TeamRouting, WorkspaceSettings
from livechat.domain.workspace_document import Workspace, workspace_problems

pytestmark = pytest.mark.unit

AGENTS = [{"email": "alice@example.com", "name": "Alice"}, {"email": "bob@example.com", "name": "Bob"}]


def problems(accounts: Any, **settings: Any) -> list[str]:
    return workspace_problems({"settings": settings, "agents": AGENTS, "accounts": accounts})


def test_accounts_are_folded_into_the_settings_the_router_reads() -> None:
    workspace = Workspace.model_validate({
        "settings": {"account_routing": True}, "agents": AGENTS,
        "accounts": [{"domain": " BigCorp.COM", "owner": "Alice@Example.com"}]})

    assert workspace.settings.account_owners == {"bigcorp.com": "alice@example.com"}
    assert workspace.settings.accounts_in_effect() == {"bigcorp.com": "alice@example.com"}
    # Stored and read back by a function, the same settings
    again = WorkspaceSettings.model_validate_json(workspace.settings.model_dump_json(by_alias=True))
    assert again == workspace.settings


def test_account_routing_is_off_unless_asked() -> None:
    workspace = Workspace.model_validate({"agents": AGENTS,
                                          "accounts": [{"domain": "bigcorp.com", "owner": "bob@example.com"}]})
    assert workspace.settings.account_routing is False
    assert workspace.settings.accounts_in_effect() == {}


@pytest.mark.parametrize(("accounts", "expected"), [
    ([{"domain": "bigcorp.com", "owner": "alice@example.com"},
      {"domain": "BIGCORP.com", "owner": "bob@example.com"}],
     ["accounts[1].domain: 'bigcorp.com' is listed twice (accounts[0])"]),
    ([{"domain": "bigcorp.com", "owner": "zed@example.com"}],
     ["accounts[0].owner: unknown agent 'zed@example.com'"]),
    ([{"domain": "@bigcorp.com", "owner": "alice@example.com"}],
     ["accounts[0].domain: '@bigcorp.com' is not an e-mail domain (e.g. bigcorp.com: no @, no scheme,"
      " no wildcard)"]),
    ([{"domain": "*.bigcorp.com", "owner": "alice@example.com"}],
     ["accounts[0].domain: '*.bigcorp.com' is not an e-mail domain (e.g. bigcorp.com: no @, no scheme,"
      " no wildcard)"]),
    ([{"domain": "bigcorp.com"}], ["accounts[0].owner: Field required"]),
])
def test_bad_accounts_are_refused_with_their_path(accounts: Any, expected: list[str]) -> None:
    assert problems(accounts, account_routing=True) == expected


def test_the_owners_are_not_a_setting_of_the_file() -> None:
    assert workspace_problems({"settings": {"account_owners": {"bigcorp.com": "alice@example.com"}}}) == [
        "settings.account_owners: not a setting: list the accounts at the top level"
        " (accounts: [{domain, owner}])"]


AGENT_ROWS = [Agent(email="alice@example.com", name="Alice", teams=("emea",)),
              Agent(email="bob@example.com", name="Bob", teams=("emea",))]
ACCOUNTS = {"bigcorp.com": "carol@example.com"}


def test_the_owner_has_a_pool_of_their_own_ahead_of_the_cards() -> None:
    plan = routing.plan(TeamRouting(mode="team", team="emea"), {"emailDomain": "bigcorp.com"}, AGENT_ROWS,
                        ACCOUNTS)

    assert [(p.name, p.members, p.cursor) for p in plan.pools] == [
        ("account:bigcorp.com", ("carol@example.com",), None),
        ("team:emea", ("alice@example.com", "bob@example.com"), "team:emea"),
        ("all", ("alice@example.com", "bob@example.com"), "all")]
    assert plan.target == "account bigcorp.com: owner carol@example.com, then team emea"
    assert [p.name for p in routing.card_pools(plan)] == ["team:emea", "all"]


@pytest.mark.parametrize("attrs", [{}, {"emailDomain": "eu.bigcorp.com"}, {"emailDomain": "acme.io"}])
def test_no_owner_without_the_accounts_domain_exactly(attrs: dict[str, str]) -> None:
    with_accounts = routing.plan(RoundRobinRouting(mode="round_robin"), attrs, AGENT_ROWS, ACCOUNTS)
    without = routing.plan(RoundRobinRouting(mode="round_robin"), attrs, AGENT_ROWS)

    assert with_accounts == without
    assert routing.account_owner(ACCOUNTS, attrs) is None
