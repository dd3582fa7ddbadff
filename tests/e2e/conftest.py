"""The local stack (`livechat dev`) as a subprocess, and clients that talk to it only as the
widget and the inbox do: real WebSockets and HTTP (../shared/spec/protocol.md). The
livechat-free machinery lives in tests/blackbox.py (shared with tests/contract)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager

import pytest

from tests.blackbox import (
    ANSWER_TIMEOUT,
    LIVE_CARD,
    Client,
    DevProcess,
    Endpoints,
    Frame,
    Scene,
    Stack,
    Visitor,
    closing,
    dev_command,
    first_of,
    live_chat,
    run,
    running_stack,
    scene,
    start_stack,
    tampered,
)

__all__ = [  # what the e2e tests import from here
    "ACCEPT_TIMEOUT", "AGENTS", "ALICE", "ANSWER_TIMEOUT", "BOB", "CAROL", "FAILURE_FROM", "FAILURE_TO",
    "INACTIVITY_TIMEOUT", "LIVE_CARD", "SOLO_AGENT", "TEAM", "TEAM_MEMBERS", "Client", "DevProcess",
    "Endpoints", "Frame", "Scene", "Stack", "Visitor", "closing", "dev_command", "first_of", "live_chat", "run",
    "scene", "scene_with", "start_stack", "tampered", "workspace_yaml",
]

ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"
AGENTS = {  # e-mail -> (name, password)
    ALICE: ("Alice Adams", "Alice-e2e-pass-1"),
    BOB: ("Bob Brown", "Bob-e2e-pass-1"),
    CAROL: ("Carol Clark", "Carol-e2e-pass-1"),
}
TEAM = "emea"
TEAM_MEMBERS = (ALICE, BOB)
SOLO_AGENT = CAROL
ACCEPT_TIMEOUT = 2
INACTIVITY_TIMEOUT = 3
FAILURE_FROM = "chat-alerts@example.com"
FAILURE_TO = "sales-ops@example.com"


def workspace_yaml() -> str:
    agents = "\n".join(
        f"""  - email: {email}
    name: {name}
    avatar_url: https://example.com/{email.split("@")[0]}.png
    max_chats: 5
    teams: [{TEAM if email in TEAM_MEMBERS else ""}]
    password: "{password}\""""
        for email, (name, password) in AGENTS.items()
    )
    return f"""settings:
  plan: prime
  engagement_limit: null
  accept_timeout_seconds: {ACCEPT_TIMEOUT}
  team_retry_agents: 1
  inactivity_timeout_seconds: {INACTIVITY_TIMEOUT}
  default_max_chats: 5
  fallback_message: "Nobody could take your chat - we'll e-mail you."
  global_fallback_message: "Live chat is not available right now."
  failure_emails:
    from: {FAILURE_FROM}
    to: [{FAILURE_TO}]

agents:
{agents}

teams:
  - name: {TEAM}

dialogs:
  - id: rr
    cards:
      - id: hello
        kind: message
        text: "Hi there"
      - id: {LIVE_CARD}
        kind: live_chat
        routing: {{mode: round_robin}}
  - id: team
    cards:
      - id: {LIVE_CARD}
        kind: live_chat
        routing: {{mode: team, team: {TEAM}}}
  - id: solo
    cards:
      - id: {LIVE_CARD}
        kind: live_chat
        routing: {{mode: agent, agent: {SOLO_AGENT}}}
"""


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One `livechat dev` for the whole e2e session: starting it costs seconds."""
    passwords = {email: password for email, (_, password) in AGENTS.items()}
    with running_stack(tmp_path_factory.mktemp("livechat-dev"), workspace_yaml(), passwords) as running:
        yield running


def scene_with(stack: Stack, available: tuple[str, ...]) -> AbstractAsyncContextManager[Scene]:
    """Every agent of the workspace connected, those named `available` available and the
    others away (status is stored, so each test states the presence it relies on), and a visitor."""
    return scene(stack, AGENTS, available)
