"""The inbox's schedule line (issue 16, workspace.md second round) in chromium against
`livechat dev`: "On schedule until 18:00" under the toggle of an agent inside a block, and
"Off schedule — available anyway until midnight" once an agent outside their schedule sets
themselves available.

The stack runs on the real clock: the agents' schedules are written relative to the time
the module starts (a block around now; no block at all), in UTC, and the pages run in UTC,
so the line's times are the schedule's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.browser.conftest import Stack, running_stack, screenshot, sign_in_to_inbox

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python")
expect = sync_api.expect

pytestmark = pytest.mark.browser

ON_SHIFT, OFF_SHIFT = "sam@example.com", "nina@example.com"
PASSWORDS = {ON_SHIFT: "Sam-browser-1", OFF_SHIFT: "Nina-browser-1"}


def block_around(moment: datetime) -> tuple[str, str]:
    """Every day from an hour before `moment` to three hours after, within the day (UTC);
    and how the line writes its end."""
    minutes = moment.hour * 60 + moment.minute
    start, end = max(0, minutes - 60), min(24 * 60, minutes + 180)
    hhmm = [f"{m // 60:02d}:{m % 60:02d}" for m in (start, end)]
    return f"{hhmm[0]}-{hhmm[1]}", "midnight" if end == 24 * 60 else hhmm[1]


BLOCK, BLOCK_END = block_around(datetime.now(UTC))


def workspace_text() -> str:
    every_day = ", ".join(f'{day}: ["{BLOCK}"]' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    return f"""settings:
  failure_emails:
    from: chat-alerts@example.com
    to: [sales-ops@example.com]

agents:
  - email: {ON_SHIFT}
    name: Sam Shift
    password: "{PASSWORDS[ON_SHIFT]}"
    schedule: {{timezone: UTC, weekly: {{{every_day}}}}}
  - email: {OFF_SHIFT}
    name: Nina Night
    password: "{PASSWORDS[OFF_SHIFT]}"
    schedule: {{timezone: UTC, weekly: {{}}}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("livechat-schedules"), workspace_text()) as running:
        yield running


@pytest.fixture
def utc_page(new_page: Callable[..., Any]) -> Callable[[], Any]:
    """Pages whose clock reads UTC (the schedules' zone)."""
    return lambda: new_page(timezone_id="UTC")


def sign_in(page: Any, stack: Stack, email: str) -> None:
    sign_in_to_inbox(page, stack, email, PASSWORDS[email])


def schedule_line(page: Any) -> Any:
    return page.locator('[data-role="schedule"]')


def test_an_agent_inside_a_block_reads_on_schedule_until_its_end(stack: Stack, utc_page: Callable[[], Any]) -> None:
    page = utc_page()
    sign_in(page, stack, ON_SHIFT)
    expect(schedule_line(page)).to_have_text(f"On schedule until {BLOCK_END}")
    expect(page.locator("#status-label")).to_have_text("Available")
    screenshot(page, "inbox-on-schedule")


def test_an_agent_off_schedule_who_sets_himself_available_reads_available_anyway_until_midnight(
        stack: Stack, utc_page: Callable[[], Any]) -> None:
    # Given Nina, whose schedule has no block, signed in on two tabs: away, off schedule
    page, other_tab = utc_page(), utc_page()
    sign_in(page, stack, OFF_SHIFT)
    sign_in(other_tab, stack, OFF_SHIFT)
    expect(page.locator("#status-label")).to_have_text("Away")
    expect(schedule_line(page)).to_have_text("Off schedule")
    # When she sets herself available
    page.locator(".status-toggle").click()
    # Then both tabs say until when it holds: her local midnight
    for tab in (page, other_tab):
        expect(tab.locator("#status-label")).to_have_text("Available")
        expect(schedule_line(tab)).to_have_text("Off schedule — available anyway until midnight")
    screenshot(page, "inbox-off-schedule-available-anyway")
    # And setting herself away again says so
    page.locator(".status-toggle").click()
    expect(schedule_line(page)).to_have_text("Off schedule")
    expect(schedule_line(other_tab)).to_have_text("Off schedule")
