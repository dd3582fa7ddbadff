"""The workspace configuration (the settings item, each dialog) is kept per container for
`config_cache_seconds` (livechat.store.catalog), counted on the DynamoDB calls the real
handlers make; time is moved by hand (tests/support/clock.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from livechat import runtime
from livechat.store import catalog

from tests.support.clock import FakeClock, controlled_clock
from tests.support.metering import count_calls, kind
from tests.support.world import World

pytestmark = pytest.mark.integration

TTL = 10.0  # runtime.Settings.config_cache_seconds' default, which a deployment runs with


class GetItems:
    """GetItem calls by the kind of item they read."""

    def __init__(self) -> None:
        self.of: Counter[str] = Counter()

    def on_call(self, service: str, op: str, params: dict[str, Any], context: dict[str, Any]) -> None:
        if service == "dynamodb" and op == "GetItem":
            self.of[kind(params["Key"])] += 1

    def on_result(self, service: str, op: str, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        pass


@pytest.fixture
def reads(world: World) -> Iterator[GetItems]:
    counted = GetItems()
    with count_calls(counted):
        runtime.reset()  # new clients (counted), nothing kept
        yield counted


@pytest.fixture
def clock(world: World) -> Iterator[FakeClock]:
    with controlled_clock() as fake:
        yield fake


def test_the_default_keeps_the_configuration_ten_seconds() -> None:
    assert runtime.Settings(table_name="livechat").config_cache_seconds == TTL


def test_a_second_request_within_the_ttl_reads_no_settings_and_one_after_it_does(
        world: World, reads: GetItems, clock: FakeClock) -> None:
    world.settings(retention_days=30)
    assert world.visitor_token()["status"] == 200
    first = reads.of["settings"]
    assert first == 1

    clock.advance(TTL - 0.001)
    assert world.visitor_token()["status"] == 200
    assert reads.of["settings"] == first

    clock.advance(0.001)
    assert world.visitor_token()["status"] == 200
    assert reads.of["settings"] == first + 1


def test_a_dialog_is_read_once_within_the_ttl_and_again_after_it(
        world: World, reads: GetItems, clock: FakeClock) -> None:
    world.live_dialog("sales", {"mode": "round_robin"})
    visitor = world.visitor_client()

    for _ in range(2):
        visitor.ask("startConversation", dialogId="sales", page={"url": "https://example.com/"})
    assert reads.of["dialog"] == 1

    clock.advance(TTL)
    visitor.ask("startConversation", dialogId="sales", page={"url": "https://example.com/"})
    assert reads.of["dialog"] == 2


def test_a_write_through_the_catalog_is_seen_at_once_by_the_same_process(
        world: World, reads: GetItems, clock: FakeClock) -> None:
    world.settings(retention_days=30)
    assert catalog.get_workspace_settings().retention_days == 30

    world.settings(retention_days=7)  # what `livechat apply` and the test world write through

    assert catalog.get_workspace_settings().retention_days == 7


def test_a_clock_that_went_back_does_not_keep_a_value_longer(
        world: World, reads: GetItems, clock: FakeClock) -> None:
    catalog.get_workspace_settings()
    clock.moment = clock.moment.replace(year=clock.moment.year - 1)

    catalog.get_workspace_settings()

    assert reads.of["settings"] == 2


def test_with_a_ttl_of_zero_as_the_local_stack_runs_every_request_reads(
        world: World, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setenv("LIVECHAT_CONFIG_CACHE_SECONDS", "0")
    counted = GetItems()
    with count_calls(counted):
        runtime.reset()
        for _ in range(3):
            assert world.visitor_token()["status"] == 200

    assert counted.of["settings"] == 3
