"""The fixed contract as data: the actions, server events and error codes that
../shared/spec/protocol.md names (read at run time), and the registry of what the contract
tests cover, so that a name added to the contract without a test turns the suite red."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT.parent / "shared" / "spec" / "protocol.md"

ACTION_TABLES = ("Visitor actions", "Agent actions", "Both sides")
EVENT_TABLES = ("Server events",)

# Error codes the contract names that no contract test provokes from outside, each with why.
EXEMPT_CODES: dict[str, str] = {
    "INTERNAL": "a server fault: a correct server never answers it to a well-formed or malformed frame",
    "RATE_LIMITED": "rate limits belong to a later issue, and `livechat dev` applies none by default",
}


def protocol_text() -> str:
    if not PROTOCOL.is_file():
        pytest.fail(f"the contract is missing: {PROTOCOL} (../shared/spec/protocol.md beside the repository "
                    "root) — the contract tests check the server against it and copy nothing of it")
    return PROTOCOL.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Contract:
    actions: frozenset[str]
    events: frozenset[str]
    codes: frozenset[str]
    reasons: frozenset[tuple[str, str]]  # (event type, reason): the `reason` values each event may carry


def _table_rows(text: str, headings: Iterable[str]) -> dict[str, str]:
    """The rows of the tables under these headings: first-column name (`in backticks`) -> row."""
    wanted, rows, current = set(headings), {}, ""
    for line in text.splitlines():
        heading = re.match(r"^#{2,4}\s+(.*\S)\s*$", line)
        if heading:
            current = heading.group(1)
        elif current in wanted:
            row = re.match(r"^\|\s*`([A-Za-z_]+)`\s*\|", line)
            if row:
                rows[row.group(1)] = line
    return rows


def _error_codes(text: str) -> set[str]:
    """The codes of the "Error codes:" paragraph, and any `error` CODE named elsewhere."""
    match = re.search(r"^Error codes:(.*?)(?:\n\s*\n|\Z)", text, re.M | re.S)
    if match is None:
        pytest.fail(f'{PROTOCOL}: no "Error codes:" paragraph to read the error codes from')
    codes = set(re.findall(r"`([A-Z][A-Z_]+)`", match.group(1)))
    codes |= set(re.findall(r"`error`\s+`?([A-Z][A-Z_]+)\b", text))
    return codes


def read_contract() -> Contract:
    text = protocol_text()
    action_rows = _table_rows(text, ACTION_TABLES)
    actions = set(action_rows)
    event_rows = _table_rows(text, EVENT_TABLES)
    events = set(event_rows)
    reasons = {(event, value) for event, row in event_rows.items()
               for values in re.findall(r"`reason`:\s*((?:`[a-z_]+`(?:\s*\\?\|\s*)?)+)", row)
               for value in re.findall(r"`([a-z_]+)`", values)}
    # The answers the action tables name: "→ `inbox` {chats: [...]}", "→ `pong`", …
    for row in action_rows.values():
        events |= set(re.findall(r"→\s*`([A-Za-z]+)`", row))
    # Frames the prose spells out as JSON: {"type": "ack", ...}, {"type": "status", ...}.
    events |= set(re.findall(r'\{"type":\s*"([A-Za-z]+)"', text))
    codes = _error_codes(text)
    for what, names in (("actions", actions), ("server events", events), ("error codes", codes)):
        if not names:
            pytest.fail(f"{PROTOCOL}: found no {what} (has its layout changed?)")
    return Contract(frozenset(actions), frozenset(events), frozenset(codes), frozenset(reasons))


# --- what the tests cover -----------------------------------------------------------------

@dataclass
class Registry:
    actions: set[str]
    events: set[str]
    codes: set[str]
    reasons: set[tuple[str, str]]


COVERED = Registry(set(), set(), set(), set())

F = TypeVar("F", bound=Callable[..., Any])


def covers(*, actions: Iterable[str] = (), events: Iterable[str] = (), codes: Iterable[str] = (),
           reasons: Mapping[str, Iterable[str]] | None = None) -> Callable[[F], F]:
    """Mark a test as one that checks these actions' answers, these events' fields, these
    error codes, these events' `reason` values (recorded when its module is imported)."""

    def mark(test: F) -> F:
        COVERED.actions.update(actions)
        COVERED.events.update(events)
        COVERED.codes.update(codes)
        COVERED.reasons.update((event, value) for event, values in (reasons or {}).items() for value in values)
        return test

    return mark
