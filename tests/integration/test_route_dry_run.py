"""`livechat route --dry-run`: a rule table with every operator, and who would get the
chat right now on a running stack (and why the others would not)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from livechat.store import agents, counters
from livechat.store.tables import AgentModel

from tests.support.admin import STACK, Deployment, livechat, write

pytestmark = pytest.mark.integration

RULES: list[dict[str, Any]] = [
    {"when": {"all": [{"field": "utm.source", "op": "equals", "value": "newsletter"},
                      {"field": "page.url", "op": "contains", "value": "/pricing"}]},
     "route": {"agent": "carol@example.com"}},
    {"when": {"field": "email", "op": "ends_with", "value": "@bigcorp.com"},
     "route": {"agent": "alice@example.com"}},
    {"when": {"field": "company", "op": "starts_with", "value": "Acme"},
     "route": {"agent": "dave@example.com"}},
    {"when": {"any": [{"field": "country", "op": "in", "value": ["FR", "DE"]},
                      {"field": "phone", "op": "exists"}]},
     "route": {"team": "emea"}},
    {"when": {"all": [{"field": "country", "op": "not_in", "value": ["US", "CA"]},
                      {"field": "jobTitle", "op": "not_equals", "value": "student"},
                      {"field": "jobTitle", "op": "exists"},
                      {"field": "lastName", "op": "exists", "value": False}]},
     "route": {"team": "amer"}},
    {"when": {"field": "emailDomain", "op": "equals", "value": "gmail.com"},
     "route": {"team": "amer"}},
]

AGENTS = ["alice", "bob", "carol", "dave", "frank"]


def workspace() -> dict[str, Any]:
    return {
        "agents": [{"email": f"{name}@example.com", "name": name.title(),
                    "teams": ["emea"] if name != "frank" else ["amer"]} for name in AGENTS],
        "teams": [{"name": "emea"}, {"name": "amer"}],
        "dialogs": [{"id": "sales", "cards": [
            {"id": "who", "kind": "capture", "fields": ["firstName", "email", "company", "phone",
                                                         "jobTitle", "lastName", "country"]},
            {"id": "live", "kind": "live_chat", "routing": {"mode": "custom_rules", "rules": RULES}},
        ]}],
    }


def route(capsys: pytest.CaptureFixture[str], path: Path, visitor: str, *extra: str) -> tuple[int, str, str]:
    return livechat(capsys, "route", "--dry-run", "--workspace", str(path), "--dialog", "sales",
                    "--card", "live", "--visitor", visitor, *extra)


@pytest.mark.parametrize(("visitor", "matched", "target"), [
    ('{"email": "x@y.com", "page": {"url": "https://s.example/pricing"}, "utm": {"source": "newsletter"}}',
     "rule 0", "target: rule 0: agent carol@example.com"),
    ('{"email": "x@y.com", "page.url": "https://s.example/pricing", "utm.source": "Newsletter"}',
     "rule 0", "target: rule 0: agent carol@example.com"),
    ('{"email": "ceo@BigCorp.com"}', "rule 1", "target: rule 1: agent alice@example.com"),
    ('{"email": "a@b.com", "company": "Acme Inc"}', "rule 2", "target: rule 2: agent dave@example.com"),
    ('{"email": "a@b.com", "country": "DE"}', "rule 3", "target: rule 3: team emea"),
    ('{"email": "a@b.com", "phone": "+33 1 23 45 67 89"}', "rule 3", "target: rule 3: team emea"),
    ('{"email": "a@b.com", "country": "BR", "jobTitle": "CTO"}', "rule 4", "target: rule 4: team amer"),
    ('{"email": "x@gmail.com", "country": "US", "jobTitle": "CTO"}', "rule 5", "target: rule 5: team amer"),
    ('{"email": "x@gmail.com", "country": "BR", "jobTitle": "CTO", "lastName": "Li"}', "rule 5",
     "target: rule 5: team amer"),
    ('{"email": "a@b.com", "jobTitle": "student"}', "rule 5", None),
], ids=["all+equals+contains", "flat-page-attributes", "ends_with", "starts_with", "any+in",
        "any+exists", "not_in+not_equals+exists", "equals-after-not_in-fails", "exists-false-fails",
        "no-rule"])
def test_each_visitor_matches_the_first_rule_that_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], visitor: str, matched: str, target: str | None
) -> None:
    # Given the rule table (no stack: only the file is read)
    path = write(tmp_path, workspace())
    # When a sample visitor is routed in a dry run
    code, out, _ = route(capsys, path, visitor)
    # Then the first rule that holds is named with its target, or none is
    assert code == 0
    if target is None:
        assert ("matched: no rule → round robin over everyone (the fallback, no_rule_matched, only if"
                " nobody can take it)") in out
        assert "target: no rule matched: round robin\n" in out
        assert out.count("no match") == len(RULES)
    else:
        index = int(matched.split()[1])
        assert f"matched: {matched}\n" in out
        assert target + "\n" in out
        assert out.count("no match") == index
        assert "(no --stack/--local given: who is available now is not known)" in out


def test_the_rules_are_printed_with_their_conditions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = route(capsys, write(tmp_path, workspace()), '{"email": "a@b.com", "country": "FR"}')
    assert out.splitlines()[:6] == [
        "dialog sales, card live: custom_rules",
        "visitor attributes: country=FR, email=a@b.com, emailDomain=b.com",
        "rule 0: all(utm.source equals 'newsletter', page.url contains '/pricing') → no match",
        "rule 1: email ends_with '@bigcorp.com' → no match",
        "rule 2: company starts_with 'Acme' → no match",
        "rule 3: any(country in [FR, DE], phone exists) → MATCH",
    ]


def test_an_unknown_card_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = livechat(capsys, "route", "--dry-run", "--workspace", str(write(tmp_path, workspace())),
                            "--dialog", "sales", "--card", "who", "--visitor", "{}")
    assert code == 2
    assert "no live chat card 'who' in dialog 'sales' (live chat cards: live)" in err


def test_a_visitor_that_is_not_a_json_object_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = route(capsys, write(tmp_path, workspace()), "[1]")
    assert code == 2
    assert "--visitor: give a JSON object" in err


def live_team(deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The workspace applied; alice available and connected, bob away, carol full, dave not
    connected; frank (amer) available."""
    path = write(tmp_path, workspace())
    assert livechat(capsys, "apply", str(path), "--stack", STACK)[0] == 0
    for name in ("alice", "bob", "carol", "frank"):
        agents.add_connection(f"{name}@example.com", f"conn-{name}")
    agents.set_status("bob@example.com", "away")
    agents.handle("carol@example.com").update(actions=[AgentModel.active.set(10)])
    return path


def test_against_the_stack_it_says_who_gets_the_chat_and_why_the_others_would_not(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the team emea: alice can take a chat, bob is away, carol full, dave not connected
    path = live_team(deployment, tmp_path, capsys)
    # When a French visitor is dry-run against the stack
    code, out, _ = route(capsys, path, '{"email": "a@b.com", "country": "FR"}', "--stack", STACK)
    # Then alice would get the chat and each other agent's reason is given, in plan order
    assert code == 0
    lines = out.splitlines()
    assert lines[lines.index("target: rule 3: team emea") + 1:] == [
        "pool team:emea: alice@example.com, bob@example.com, carol@example.com, dave@example.com",
        "pool all: alice@example.com, bob@example.com, carol@example.com, dave@example.com, frank@example.com",
        "  team:emea alice@example.com: gets the chat",
        "  team:emea bob@example.com: away",
        "  team:emea carol@example.com: full",
        "  team:emea dave@example.com: not reachable (no inbox open, no push subscription)",
        "  all frank@example.com: next in line",
        "now: alice@example.com would be offered the chat",
    ]


def test_a_named_agent_without_the_permission_falls_back_to_everyone(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = live_team(deployment, tmp_path, capsys)
    agents.handle("dave@example.com").update(actions=[AgentModel.live_chat.set(False)])
    _, out, _ = route(capsys, path, '{"email": "a@b.com", "company": "Acme"}', "--stack", STACK)
    assert "  agent:dave@example.com dave@example.com: no Live Chat permission" in out
    assert "  all alice@example.com: gets the chat" in out
    assert "  all frank@example.com: next in line" in out


def test_when_nobody_can_take_it_the_visitor_would_get_the_fallback(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = live_team(deployment, tmp_path, capsys)
    for name in ("alice", "frank"):
        agents.set_status(f"{name}@example.com", "away")
    _, out, _ = route(capsys, path, '{"email": "a@b.com", "country": "FR"}', "--stack", STACK)
    assert out.splitlines()[-1] == "now: nobody can take it → the visitor gets the fallback message"


def test_the_round_robin_cursor_decides_who_is_first(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two agents of emea who can take a chat, and the team's cursor at ticket 1
    path = live_team(deployment, tmp_path, capsys)
    agents.add_connection("dave@example.com", "conn-dave")
    counters.next_ticket("team:emea")
    # When a French visitor is dry-run
    _, out, _ = route(capsys, path, '{"email": "a@b.com", "country": "FR"}', "--stack", STACK)
    # Then the next ticket (2) starts at the second eligible agent, as the router would
    assert "  team:emea dave@example.com: gets the chat" in out
    assert "  team:emea alice@example.com: next in line" in out
    # And the dry run took no ticket
    assert counters.read("RR#team:emea") == 1


# --- account routing (workspace.md, second round) ---------------------------------------

def with_accounts(routing_on: bool = True) -> dict[str, Any]:
    data = workspace()
    data["settings"] = {"account_routing": routing_on}
    data["accounts"] = [{"domain": "BigCorp.com", "owner": "frank@example.com"}]
    return data


def test_the_dry_run_says_when_account_routing_puts_the_owner_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = route(capsys, write(tmp_path, with_accounts()), '{"email": "x@bigcorp.com", "country": "FR"}')
    assert code == 0
    assert ("account routing: bigcorp.com is frank@example.com's account → frank@example.com is offered"
            " the chat first; if not reachable, or they decline or let it expire, the card's routing"
            " without them") in out
    # the card's rules still match as before (rule 1: @bigcorp.com → alice), after the owner
    assert "target: account bigcorp.com: owner frank@example.com, then rule 1: agent alice@example.com" in out
    lines = out.splitlines()
    assert lines.index("pool account:bigcorp.com: frank@example.com") < lines.index(
        "pool agent:alice@example.com: alice@example.com")


@pytest.mark.parametrize(("on", "email", "said"), [
    (True, "x@eu.bigcorp.com", "account routing: no account for eu.bigcorp.com → the card's routing"),
    (True, None, "account routing: no e-mail captured → the card's routing"),
    (False, "x@bigcorp.com", "account routing: off (settings.account_routing is false)"),
])
def test_the_dry_run_says_why_no_owner_comes_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], on: bool, email: str | None, said: str
) -> None:
    visitor = f'{{"email": "{email}", "country": "FR"}}' if email else '{"country": "FR"}'
    _, out, _ = route(capsys, write(tmp_path, with_accounts(on)), visitor)
    assert said in out
    assert "pool account:" not in out


def test_against_the_stack_an_owner_who_is_away_is_passed_over(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the accounts applied (they travel in the stored settings) and frank away
    path = write(tmp_path, with_accounts())
    assert livechat(capsys, "apply", str(path), "--stack", STACK)[0] == 0
    for name in ("alice", "frank"):
        agents.add_connection(f"{name}@example.com", f"conn-{name}")
    agents.set_status("frank@example.com", "away")
    from livechat.store import catalog
    assert catalog.get_workspace_settings().accounts_in_effect() == {"bigcorp.com": "frank@example.com"}
    # When a bigcorp visitor is dry-run against the stack
    _, out, _ = route(capsys, path, '{"email": "x@bigcorp.com", "country": "FR"}', "--stack", STACK)
    # Then the owner's verdict comes first, and the card's own target takes over
    lines = out.splitlines()
    verdicts = lines[lines.index("pool account:bigcorp.com: frank@example.com"):]
    assert "  account:bigcorp.com frank@example.com: away" in verdicts
    assert "  agent:alice@example.com alice@example.com: gets the chat" in verdicts
    assert verdicts[-1] == "now: alice@example.com would be offered the chat"


def test_when_no_rule_matches_the_stack_says_who_round_robin_would_offer_it_to(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The router does not give up when no rule matches: round robin over everyone first.
    path = live_team(deployment, tmp_path, capsys)
    _, out, _ = route(capsys, path, '{"email": "a@b.com", "jobTitle": "student"}', "--stack", STACK)
    assert "  all alice@example.com: gets the chat" in out
    assert out.splitlines()[-1] == "now: alice@example.com would be offered the chat"
    for name in ("alice", "frank"):
        agents.set_status(f"{name}@example.com", "away")
    _, out, _ = route(capsys, path, '{"email": "a@b.com", "jobTitle": "student"}', "--stack", STACK)
    assert out.splitlines()[-1] == ("now: nobody can take it → the visitor gets the fallback message"
                                    " (no_rule_matched)")
