"""Agents' schedules (workspace.md, second round): the effective status, `onSchedule` and
`until` as pure functions of (stored status, override, schedule, instant), daylight saving
included, and the workspace file's checks with their paths. Every instant is given: no
clock is read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from livechat.domain import routing, schedules
from livechat.domain.schedules import AVAILABLE, AWAY, Effective
from livechat.domain.snapshots import Agent
from livechat.domain.workspace_document import workspace_problems

pytestmark = pytest.mark.unit

PARIS = "Europe/Paris"
# Monday 2026-12-07; Paris is UTC+1 in December.
SPLIT_SHIFT = schedules.build(PARIS, {"mon": ["09:00-12:30", "13:30-18:00"], "tue": ["09:00-18:00"]})


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def effective(at: datetime, schedule: schedules.Schedule | None = SPLIT_SHIFT, status: str = AVAILABLE,
              override_until: datetime | None = None) -> Effective:
    return schedules.effective(status, override_until, schedule, at)


# --- following the schedule --------------------------------------------------------------

def test_inside_a_block_the_agent_is_available_until_the_block_ends() -> None:
    assert effective(utc(2026, 12, 7, 10, 0)) == Effective(AVAILABLE, True, utc(2026, 12, 7, 11, 30))


def test_between_two_blocks_the_agent_is_away_until_the_next_one_starts() -> None:
    assert effective(utc(2026, 12, 7, 12, 0)) == Effective(AWAY, False, utc(2026, 12, 7, 12, 30))


def test_after_the_last_block_of_a_day_the_next_change_is_the_next_days_first_block() -> None:
    assert effective(utc(2026, 12, 7, 17, 0)) == Effective(AWAY, False, utc(2026, 12, 8, 8, 0))


def test_after_the_last_block_of_the_week_the_next_change_is_a_week_on() -> None:
    assert effective(utc(2026, 12, 8, 17, 0)) == Effective(AWAY, False, utc(2026, 12, 14, 8, 0))


def test_a_block_starts_inclusive_and_ends_exclusive() -> None:
    assert effective(utc(2026, 12, 7, 8, 0)).status == AVAILABLE
    assert effective(utc(2026, 12, 7, 11, 30)).status == AWAY


def test_adjacent_blocks_merge_so_until_is_where_the_status_really_changes() -> None:
    joined = schedules.build(PARIS, {"mon": ["12:30-18:00", "09:00-12:30"]})
    assert joined.weekly == {"mon": ((9 * 60, 18 * 60),)}
    assert effective(utc(2026, 12, 7, 10, 0), joined).until == utc(2026, 12, 7, 17, 0)


def test_a_block_ending_at_24_00_runs_into_the_next_days_block_without_a_change() -> None:
    night = schedules.build(PARIS, {"sun": ["22:00-24:00"], "mon": ["00:00-02:00"]})
    assert effective(utc(2026, 12, 6, 22, 0), night) == Effective(AVAILABLE, True, utc(2026, 12, 7, 1, 0))


def test_without_a_schedule_the_stored_status_holds_and_never_changes_by_itself() -> None:
    assert effective(utc(2026, 12, 7, 3, 0), None, AWAY) == Effective(AWAY, True, None)


def test_a_schedule_without_blocks_is_always_off() -> None:
    assert effective(utc(2026, 12, 7, 10, 0), schedules.build(PARIS, {})) == Effective(AWAY, False, None)


def test_a_schedule_of_whole_days_is_always_on() -> None:
    always = schedules.build(PARIS, {day: ["00:00-24:00"] for day in schedules.DAYS})
    assert effective(utc(2026, 12, 7, 10, 0), always, AWAY) == Effective(AVAILABLE, True, None)


# --- the agent's own toggle ----------------------------------------------------------------

def test_the_toggle_holds_until_the_next_boundary() -> None:
    assert schedules.override_end(SPLIT_SHIFT, utc(2026, 12, 7, 10, 0)) == utc(2026, 12, 7, 11, 30)


def test_the_toggle_holds_until_local_midnight_when_that_comes_first() -> None:
    assert schedules.override_end(SPLIT_SHIFT, utc(2026, 12, 7, 20, 0)) == utc(2026, 12, 7, 23, 0)


def test_off_schedule_an_agent_who_toggles_available_is_available_until_midnight() -> None:
    at = utc(2026, 12, 7, 20, 0)
    state = effective(at, status=AVAILABLE, override_until=schedules.override_end(SPLIT_SHIFT, at))
    assert state == Effective(AVAILABLE, False, utc(2026, 12, 7, 23, 0))


def test_on_schedule_an_agent_who_toggles_away_is_back_when_the_next_block_starts() -> None:
    # The override ends at 12:30 local, when the schedule says away anyway: no change there.
    at = utc(2026, 12, 7, 10, 0)
    state = effective(at, status=AWAY, override_until=schedules.override_end(SPLIT_SHIFT, at))
    assert state == Effective(AWAY, True, utc(2026, 12, 7, 12, 30))


def test_an_override_that_has_ended_leaves_the_schedule_in_charge() -> None:
    assert effective(utc(2026, 12, 7, 10, 0), status=AWAY, override_until=utc(2026, 12, 6, 23, 0)).status == AVAILABLE


# --- daylight saving (Paris: 2027-03-28 02:00 → 03:00, 2027-10-31 03:00 → 02:00) ------------

def test_blocks_follow_local_time_across_a_clock_change() -> None:
    sundays = schedules.build(PARIS, {"sun": ["09:00-10:00"]})
    assert effective(utc(2027, 3, 21, 8, 30), sundays).until == utc(2027, 3, 21, 9, 0)  # UTC+1
    assert effective(utc(2027, 3, 28, 7, 30), sundays).until == utc(2027, 3, 28, 8, 0)  # UTC+2


def test_a_start_that_does_not_exist_moves_to_the_next_valid_minute() -> None:
    gap = schedules.build(PARIS, {"sun": ["02:30-04:00"]})
    # 02:30 is skipped on 2027-03-28: the block starts at 03:00 CEST (01:00 UTC).
    assert effective(utc(2027, 3, 28, 0, 30), gap) == Effective(AWAY, False, utc(2027, 3, 28, 1, 0))


def test_a_block_wholly_inside_the_skipped_hour_does_not_happen() -> None:
    skipped = schedules.build(PARIS, {"sun": ["02:00-02:45", "05:00-06:00"]})
    assert effective(utc(2027, 3, 28, 0, 30), skipped).until == utc(2027, 3, 28, 3, 0)


def test_a_local_time_that_exists_twice_is_its_first_occurrence() -> None:
    repeated = schedules.build(PARIS, {"sun": ["02:30-05:00"]})
    # 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET): the first counts.
    assert effective(utc(2027, 10, 31, 0, 0), repeated).until == utc(2027, 10, 31, 0, 30)


@pytest.mark.parametrize(("schedule", "start"), [
    (SPLIT_SHIFT, utc(2026, 12, 6, 0, 0)),
    (schedules.build(PARIS, {"sun": ["02:30-04:00", "22:00-24:00"], "mon": ["00:00-01:00"]}), utc(2027, 3, 26, 0, 0)),
    (schedules.build(PARIS, {"sun": ["02:30-05:00"]}), utc(2027, 10, 29, 0, 0)),
])
def test_routings_quick_answer_agrees_with_the_full_one_every_quarter_hour_of_a_week(
        schedule: schedules.Schedule, start: datetime) -> None:
    override = start + timedelta(hours=30)
    for quarter in range(7 * 24 * 4):
        at = start + timedelta(minutes=15 * quarter)
        full = effective(at, schedule, AWAY, override)
        assert schedules.current(AWAY, override, schedule, at) == (full.status, full.on_schedule), at


# --- routing reads the effective status ----------------------------------------------------

ALICE = Agent(email="alice@example.com", name="Alice", connections=frozenset({"c1"}), schedule=SPLIT_SHIFT)


def test_an_agent_off_schedule_is_not_eligible_and_the_reason_says_so() -> None:
    assert routing.why_not_eligible(ALICE, utc(2026, 12, 7, 12, 0)) == "off schedule"
    assert routing.is_eligible(ALICE, utc(2026, 12, 7, 10, 0))


def test_an_agent_who_toggled_away_on_schedule_is_away() -> None:
    away = replace(ALICE, status=AWAY, override_until="2026-12-07T11:30:00.000Z")
    assert routing.why_not_eligible(away, utc(2026, 12, 7, 10, 0)) == "away"


def test_an_agent_who_toggled_available_off_schedule_is_eligible_until_the_override_ends() -> None:
    anyway = replace(ALICE, override_until="2026-12-07T23:00:00.000Z")
    assert routing.is_eligible(anyway, utc(2026, 12, 7, 20, 0))
    assert routing.why_not_eligible(anyway, utc(2026, 12, 7, 23, 0)) == "off schedule"


# --- the workspace file ------------------------------------------------------------------

def problems(schedule: Any) -> list[str]:
    return workspace_problems({"agents": [{"email": "alice@example.com", "name": "Alice", "schedule": schedule}]})


def test_a_valid_schedule_is_accepted_with_24_00_ending_a_block_and_adjacent_blocks() -> None:
    assert problems({"timezone": PARIS, "weekly": {"mon": ["09:00-12:30", "12:30-24:00"]}}) == []


def test_an_unknown_time_zone_is_refused_with_its_path() -> None:
    assert problems({"timezone": "Europe/Pariss", "weekly": {}}) == [
        "agents[0].schedule.timezone: unknown time zone 'Europe/Pariss' (an IANA name, e.g. Europe/Paris)"]


@pytest.mark.parametrize("path_like", ["../etc/passwd", "/usr/share/zoneinfo/UTC", ""])
def test_a_time_zone_that_is_a_path_is_refused(path_like: str) -> None:
    assert problems({"timezone": path_like, "weekly": {}})[0].startswith("agents[0].schedule.timezone: ")


@pytest.mark.parametrize(("block", "says"), [
    ("9:00-10:00", "is not a block HH:MM-HH:MM"),
    ("10:00-09:00", "the start must be before the end"),
    ("10:00-10:00", "the start must be before the end"),
    ("22:00-24:30", "is not a time of day"),
    ("24:00-24:00", "is not a time of day"),
    ("09:60-10:00", "is not a time of day"),
])
def test_a_malformed_block_is_refused_with_its_path(block: str, says: str) -> None:
    [problem] = problems({"timezone": PARIS, "weekly": {"mon": ["08:00-08:30", block]}})
    assert problem.startswith("agents[0].schedule.weekly.mon[1]: ") and says in problem


def test_overlapping_blocks_are_refused_with_the_path_of_the_later_one() -> None:
    assert problems({"timezone": PARIS, "weekly": {"tue": ["13:00-18:00", "09:00-13:30"]}}) == [
        "agents[0].schedule.weekly.tue[0]: 13:00-18:00 overlaps tue[1] (09:00-13:30)"]


def test_an_unknown_day_is_refused_with_its_path() -> None:
    assert problems({"timezone": PARIS, "weekly": {"monday": ["09:00-10:00"]}}) == [
        "agents[0].schedule.weekly.monday: Extra inputs are not permitted"]


def test_a_schedule_round_trips_through_its_stored_form() -> None:
    assert schedules.from_json(schedules.to_json(SPLIT_SHIFT)) == SPLIT_SHIFT
