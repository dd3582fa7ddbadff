"""`livechat conversations export`: every conversation of a date range with its transcript,
as JSON Lines or CSV (admins own their data)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from livechat.store.keys import conv_pk
from livechat.store.tables import ConversationModel

from livechat_admin.export import parse_bound
from tests.support.admin import STACK, Deployment, livechat
from tests.support.world import World

pytestmark = pytest.mark.integration


def conversation(world: World, started: str, last: str, email: str) -> str:
    """A conversation walked to the live chat card (answer + capture), then dated."""
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales", fields={"firstName": "V", "email": email})
    ConversationModel(conv_pk(conversation_id), "META").update(actions=[
        ConversationModel.started_at.set(started),
        ConversationModel.last_activity_at.set(last),
        ConversationModel.gsi1sk.set(f"{last}#{conversation_id}"),
    ])
    return conversation_id


@pytest.fixture
def history(world: World, deployment: Deployment) -> dict[str, str]:
    world.live_dialog("sales", {"mode": "round_robin"})
    return {
        "december": conversation(world, "2025-12-20T10:00:00.000Z", "2025-12-20T10:05:00.000Z", "dec@a.io"),
        "january": conversation(world, "2026-01-10T09:00:00.000Z", "2026-01-10T09:30:00.000Z", "jan@a.io"),
        # Started on the last evening of January, still going on February 1st: in both months.
        "overnight": conversation(world, "2026-01-31T23:50:00.000Z", "2026-02-01T00:20:00.000Z", "night@a.io"),
        "february": conversation(world, "2026-02-14T12:00:00.000Z", "2026-02-14T12:01:00.000Z", "feb@a.io"),
    }


def export(capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str, since: str, until: str) -> tuple[str, str]:
    out = tmp_path / f"export.{fmt}"
    code, _, err = livechat(capsys, "conversations", "export", "--stack", STACK, "--format", fmt,
                            "--since", since, "--until", until, "--output", str(out))
    assert code == 0, err
    return out.read_text(encoding="utf-8"), err


def test_json_lines_hold_each_conversation_of_the_range_with_its_transcript(
    history: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When January is exported as JSON Lines
    text, err = export(capsys, tmp_path, "jsonl", "2026-01-01", "2026-01-31")
    # Then the January conversations are there, newest activity first, with their transcripts
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["conversationId"] for r in rows] == [history["overnight"], history["january"]]
    january = rows[1]
    assert january["visitor"] == {"firstName": "V", "email": "jan@a.io"}
    assert january["startedAt"] == "2026-01-10T09:00:00.000Z"
    assert january["dialogId"] == "sales"
    kinds = [e["kind"] for e in january["transcript"]]
    assert "answer" in kinds and "capture" in kinds
    assert "2 conversation(s) from 2026-01-01T00:00:00.000Z to 2026-02-01T00:00:00.000Z" in err


def test_csv_has_one_row_per_conversation_and_the_transcript_as_json(
    history: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When February is exported as CSV
    text, _ = export(capsys, tmp_path, "csv", "2026-02-01", "2026-02-28")
    # Then each February conversation is one row, its transcript a JSON column
    rows = list(csv.DictReader(text.splitlines()))
    assert [r["conversationId"] for r in rows] == [history["february"], history["overnight"]]
    assert json.loads(rows[0]["visitor"]) == {"firstName": "V", "email": "feb@a.io"}
    transcript = json.loads(rows[0]["transcript"])
    assert [e["kind"] for e in transcript][:2] == ["answer", "capture"]
    assert rows[0]["agent"] == ""


def test_a_range_with_no_conversation_exports_nothing(
    history: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, err = export(capsys, tmp_path, "jsonl", "2026-03-01", "2026-03-31")
    assert text == ""
    assert "0 conversation(s)" in err


def test_date_times_bound_the_range_exactly(
    history: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, _ = export(capsys, tmp_path, "jsonl", "2025-12-20T10:05:00Z", "2026-01-10T09:00:00Z")
    assert [json.loads(line)["conversationId"] for line in text.splitlines()] == [history["december"]]


def test_a_conversation_whose_order_key_lags_its_last_message_is_in_the_range_of_that_message(
    world: World, deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a chat whose last message (00:00:20) left its order key a little earlier (a
    # message moves it only once it is a minute behind), before the range
    world.live_dialog("sales", {"mode": "round_robin"})
    lagging = conversation(world, "2026-02-28T23:50:00.000Z", "2026-03-01T00:00:20.000Z", "lag@a.io")
    ConversationModel(conv_pk(lagging), "META").update(actions=[
        ConversationModel.gsi1sk.set(f"2026-02-28T23:59:50.000Z#{lagging}")])
    # When March 1st is exported
    text, _ = export(capsys, tmp_path, "jsonl", "2026-03-01", "2026-03-01")
    # Then the chat is there
    assert [json.loads(line)["conversationId"] for line in text.splitlines()] == [lagging]


def test_a_bad_date_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = livechat(capsys, "conversations", "export", "--stack", STACK, "--format", "csv",
                            "--since", "yesterday", "--until", "2026-01-01")
    assert code == 2
    assert "'yesterday' is not a date" in err


def test_a_date_means_the_whole_day() -> None:
    assert parse_bound("2026-01-31", end=False) == "2026-01-31T00:00:00.000Z"
    assert parse_bound("2026-01-31", end=True) == "2026-02-01T00:00:00.000Z"
    assert parse_bound("2026-01-31T12:00:00+02:00", end=True) == "2026-01-31T10:00:00.000Z"
