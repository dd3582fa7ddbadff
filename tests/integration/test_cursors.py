"""Tamper-evident cursors (spec/protocol.md, second round; issue 14): a `listConversations`
cursor is opaque base64url, signed with HMAC-SHA256 under a key derived from the
deployment's secret (HMAC(secret, "cursor"), never the visitor tokens' key) and bound to the
agent who asked. An altered, truncated, forged or other agent's cursor → `BAD_REQUEST` naming
`cursor`, and no DynamoDB query is made at all (so never one with a start key a client wrote).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from typing import Any

import pytest
from livechat import runtime
from livechat.store import conversations as stored
from livechat.store.keys import ALL_CONVERSATIONS
from pynamodb.connection.base import Connection

from tests.support.world import Client, World

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:No application metrics to publish")]

ALICE, BOB = "alice@example.com", "bob@example.com"
BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every DynamoDB Query the product makes (through PynamoDB), with its parameters."""
    made: list[dict[str, Any]] = []
    real = Connection._make_api_call

    def recording(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        if operation_name == "Query":
            made.append(operation_kwargs)
        return real(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", recording)
    return made


@pytest.fixture
def listing(world: World) -> tuple[Client, Client, str]:
    """Alice and Bob connected, 55 conversations (more than a page) and Alice's cursor."""
    world.agent(ALICE)
    world.agent(BOB)
    for n in range(55):  # stored directly: the set-up, not what is tested
        stored.create(f"c{n:04d}", "v_cursor", "sales", {}, f"2026-12-05T10:{n:02d}:00.000Z")
    alice, bob = world.agent_client(ALICE), world.agent_client(BOB)
    first = alice.ask("listConversations")
    assert first["type"] == "conversations" and len(first["items"]) == 50, first
    cursor = first["cursor"]
    assert isinstance(cursor, str)
    return alice, bob, cursor


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def assert_bad_cursor(answer: dict[str, Any]) -> None:
    assert (answer["type"], answer.get("code")) == ("error", "BAD_REQUEST"), answer
    assert "cursor" in answer["message"], answer


def flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


def test_the_cursor_is_opaque_base64url_and_pages_on_for_the_agent_who_asked(
        listing: tuple[Client, Client, str]) -> None:
    alice, _, cursor = listing

    assert BASE64URL.fullmatch(cursor)
    second = alice.ask("listConversations", cursor=cursor)

    assert second["type"] == "conversations" and len(second["items"]) == 5, second
    assert second.get("cursor") is None


def altered_cursors(cursor: str) -> dict[str, str]:
    raw = unb64(cursor)
    version, tag, payload = raw[:1], raw[1:33], raw[33:]
    key = json.loads(payload)
    # The same tag around another start key: the page a client would like to jump to.
    other_key = {**key, "gsi1sk": {"S": "2000-01-01T00:00:00.000Z#x"}}
    moved = version + tag + json.dumps(other_key, separators=(",", ":"), sort_keys=True).encode()
    return {
        "a character of the tag changed": flip(cursor, 5),
        "a character of the key changed": flip(cursor, len(cursor) - 10),
        "the last character changed": flip(cursor, len(cursor) - 1),
        "the key replaced, the tag kept": b64(moved),
        "the tag zeroed": b64(version + bytes(32) + payload),
        "truncated by one character": cursor[:-1],
        "truncated to the tag": b64(raw[:33]),
        "padded": cursor + "=" * (-len(cursor) % 4 or 4),
        "another version": b64(b"\x02" + raw[1:]),
        "the bare key, unsigned (the old cursor)": b64(payload),
    }


ALTERATIONS = ["a character of the tag changed", "a character of the key changed",
               "the last character changed", "the key replaced, the tag kept", "the tag zeroed",
               "truncated by one character", "truncated to the tag", "padded", "another version",
               "the bare key, unsigned (the old cursor)"]


@pytest.mark.parametrize("how", ALTERATIONS)
def test_an_altered_cursor_is_a_bad_request_and_no_query_is_made(
        listing: tuple[Client, Client, str], queries: list[dict[str, Any]], how: str) -> None:
    alice, _, cursor = listing
    altered = altered_cursors(cursor)[how]
    assert altered != cursor
    queries.clear()

    answer = alice.ask("listConversations", cursor=altered)

    assert_bad_cursor(answer)
    assert queries == []


def test_another_agents_cursor_is_refused(listing: tuple[Client, Client, str],
                                          queries: list[dict[str, Any]]) -> None:
    # Given Alice's genuine cursor, handed to Bob
    alice, bob, cursor = listing
    queries.clear()

    # When Bob uses it, then BAD_REQUEST and no query; Alice still can
    assert_bad_cursor(bob.ask("listConversations", cursor=cursor))
    assert queries == []
    assert alice.ask("listConversations", cursor=cursor)["type"] == "conversations"


def forge(key: bytes, agent: str, start: dict[str, Any]) -> str:
    """A cursor in the genuine layout, signed with `key` (version, the agent, the key)."""
    payload = json.dumps(start, separators=(",", ":"), sort_keys=True).encode()
    who = agent.encode()
    tag = hmac.new(key, b"\x01" + len(who).to_bytes(4, "big") + who + payload, hashlib.sha256).digest()
    return b64(b"\x01" + tag + payload)


START_KEY = {"pk": {"S": "CONV#x"}, "sk": {"S": "META"}, "gsi1pk": {"S": ALL_CONVERSATIONS},
             "gsi1sk": {"S": "2000-01-01T00:00:00.000Z#x"}}


def test_a_cursor_signed_with_the_visitor_token_key_itself_is_refused(
        listing: tuple[Client, Client, str], queries: list[dict[str, Any]]) -> None:
    # The two uses never share a key: a MAC under the raw secret (what visitor tokens are
    # signed with) is not a cursor's.
    alice, _, _ = listing
    secret = os.environ["LIVECHAT_VISITOR_SECRET"].encode()
    queries.clear()

    assert_bad_cursor(alice.ask("listConversations", cursor=forge(secret, ALICE, START_KEY)))
    assert queries == []


def test_the_key_is_hmac_of_the_secret_and_cursor(listing: tuple[Client, Client, str]) -> None:
    # (what the layout above means: a cursor made with the derived key is accepted)
    alice, _, _ = listing
    derived = hmac.new(os.environ["LIVECHAT_VISITOR_SECRET"].encode(), b"cursor", hashlib.sha256).digest()

    answer = alice.ask("listConversations", cursor=forge(derived, ALICE, START_KEY))

    assert answer["type"] == "conversations", answer


def test_a_cursor_from_a_deployment_with_another_secret_is_refused(
        listing: tuple[Client, Client, str], monkeypatch: pytest.MonkeyPatch) -> None:
    alice, _, cursor = listing
    monkeypatch.setenv("LIVECHAT_VISITOR_SECRET", "another-secret-" + "y" * 40)
    runtime.reset()

    assert_bad_cursor(alice.ask("listConversations", cursor=cursor))


@pytest.mark.parametrize("cursor", ["garbage!", "e30", "%%%", "A", "é" * 10, "A" * 2048])
def test_garbage_is_refused_before_any_query(world: World, queries: list[dict[str, Any]], cursor: str) -> None:
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    queries.clear()

    assert_bad_cursor(alice.ask("listConversations", cursor=cursor))
    assert queries == []
