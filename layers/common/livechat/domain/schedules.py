"""Agents' weekly schedules and the effective status (spec/workspace.md, second round).

A schedule is a time zone (an IANA name) and, per weekday, blocks `HH:MM-HH:MM` of local
time. Nothing runs at a boundary: the effective status is computed whenever it is read,
from the stored status, the toggle's override and the schedule:

- no schedule: the stored status, always on schedule, never changing by itself;
- while the override lasts (the agent's own `setStatus`, until the next boundary or local
  midnight, whichever comes first): the stored status;
- otherwise: `available` inside a block, `away` outside.

Local times are turned into instants day by day, so daylight saving is the zone's business:
a local time that does not exist (the hour skipped in spring) moves to the next valid
minute, and one that exists twice (the hour repeated in autumn) is its first occurrence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

AVAILABLE = "available"
AWAY = "away"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
DAY_MINUTES = 24 * 60
# A week and a day ahead covers every weekly pattern; a schedule whose effective status
# does not change within it never changes (always on, or always off).
HORIZON_DAYS = 8
# The longest gap a zone ever skipped is a whole day (Pacific/Apia, 2011-12-30).
_MAX_GAP_MINUTES = DAY_MINUTES + 60
_BLOCK = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")

Block = tuple[int, int]  # minutes after local midnight: [start, end), end <= 24:00


@dataclass(frozen=True)
class Schedule:
    timezone: str
    weekly: Mapping[str, tuple[Block, ...]]  # day -> sorted, merged blocks

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Effective:
    status: str
    on_schedule: bool
    until: datetime | None  # when `status` next changes by itself; None: never


def zone_problem(name: str) -> str | None:
    # ZoneInfo also accepts relative file paths; an IANA name never starts with a dot or
    # a slash, and "localtime"-like keys are not names an admin means.
    if not name or name.startswith(("/", ".")) or ".." in name:
        return f"unknown time zone {name!r} (an IANA name, e.g. Europe/Paris)"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        return f"unknown time zone {name!r} (an IANA name, e.g. Europe/Paris)"
    return None


def parse_block(text: str) -> Block:
    """`HH:MM-HH:MM`, start before end, within one day (`24:00` may end it)."""
    match = _BLOCK.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a block HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start >= end:
        raise ValueError(f"{text!r}: the start must be before the end, within one day")
    return start, end


def format_block(block: Block) -> str:
    return "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in block)


def day_problems(day: str, blocks: Sequence[Block]) -> list[str]:
    """`day[i]: ...` for each block that overlaps an earlier-starting one (adjacent blocks
    are not overlapping: they merge)."""
    problems = []
    ordered = sorted(range(len(blocks)), key=lambda i: blocks[i])
    for before, after in pairwise(ordered):
        if blocks[after][0] < blocks[before][1]:
            problems.append(f"{day}[{after}]: {format_block(blocks[after])} overlaps"
                            f" {day}[{before}] ({format_block(blocks[before])})")
    return problems


def merge(blocks: Sequence[Block]) -> tuple[Block, ...]:
    """Sorted, with adjacent blocks joined (the input has no overlaps)."""
    merged: list[Block] = []
    for start, end in sorted(blocks):
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def build(timezone: str, weekly: Mapping[str, Sequence[str]]) -> Schedule:
    """A schedule from validated text (the workspace models check it first)."""
    return Schedule(timezone, {day: merge([parse_block(b) for b in weekly.get(day, ())])
                               for day in DAYS if weekly.get(day)})


def to_json(schedule: Schedule) -> str:
    return json.dumps({"timezone": schedule.timezone,
                       "weekly": {d: [format_block(b) for b in bs] for d, bs in schedule.weekly.items()}},
                      sort_keys=True, separators=(",", ":"))


def from_json(text: str) -> Schedule:
    data = json.loads(text)
    return build(data["timezone"], data["weekly"])


def _instant(zone: ZoneInfo, local: datetime) -> datetime:
    """The UTC instant of a local wall time; one that does not exist moves to the next
    valid minute, one that exists twice is the first."""
    for _ in range(_MAX_GAP_MINUTES):
        moment = local.replace(tzinfo=zone).astimezone(UTC)
        if moment.astimezone(zone).replace(tzinfo=None) == local:
            return moment
        local += timedelta(minutes=1)
    raise ValueError(f"no valid local time near {local} in {zone.key}")


def _at(zone: ZoneInfo, day: date, minute: int) -> datetime:
    return _instant(zone, datetime.combine(day, time()) + timedelta(minutes=minute))


def _intervals(schedule: Schedule, around: datetime, days: int = HORIZON_DAYS
               ) -> tuple[list[tuple[datetime, datetime]], datetime]:
    """The schedule's blocks as UTC instants, from the day before `around` (local) to
    `days` after it, and that horizon (the end of the last day computed: a block ending
    there may go on the next day, so it is no boundary). A block skipped whole by a clock
    change is empty and dropped."""
    zone = schedule.zone
    first = around.astimezone(zone).date() - timedelta(days=1)
    spans = []
    for offset in range(days + 2):
        day = first + timedelta(days=offset)
        for start, end in schedule.weekly.get(DAYS[day.weekday()], ()):
            begin, finish = _at(zone, day, start), _at(zone, day, end)
            if begin < finish:
                spans.append((begin, finish))
    return spans, _at(zone, first + timedelta(days=days + 2), 0)


def _boundaries(spans: Sequence[tuple[datetime, datetime]], horizon: datetime, *, after: datetime
                ) -> Iterator[datetime]:
    return iter(sorted({t for span in spans for t in span if after < t < horizon}))


def _inside(spans: Sequence[tuple[datetime, datetime]], at: datetime) -> bool:
    return any(begin <= at < end for begin, end in spans)


def override_end(schedule: Schedule, at: datetime) -> datetime:
    """How long the agent's own toggle at `at` holds: until the next boundary or local
    midnight, whichever comes first."""
    zone = schedule.zone
    midnight = _at(zone, at.astimezone(zone).date() + timedelta(days=1), 0)
    following = next(_boundaries(*_intervals(schedule, at), after=at), midnight)
    return min(following, midnight)


def _status_at(status: str, override_until: datetime | None, spans: Sequence[tuple[datetime, datetime]],
               moment: datetime) -> str:
    if override_until is not None and moment < override_until:
        return status
    return AVAILABLE if _inside(spans, moment) else AWAY


def current(status: str, override_until: datetime | None, schedule: Schedule | None,
            now: datetime) -> tuple[str, bool]:
    """`effective` without `until`: the status and whether on schedule, from today's
    blocks alone (what routing asks of every agent, on every request)."""
    if schedule is None:
        return status, True
    spans, _ = _intervals(schedule, now, days=0)
    return _status_at(status, override_until, spans, now), _inside(spans, now)


def effective(status: str, override_until: datetime | None, schedule: Schedule | None,
              now: datetime) -> Effective:
    """The status that counts at `now`, whether `now` is inside a block, and the next
    instant the status changes by itself (a boundary or the override's end where the
    status actually differs; adjacent blocks across midnight are no change)."""
    if schedule is None:
        return Effective(status, True, None)
    spans, horizon = _intervals(schedule, now)
    at_now = _status_at(status, override_until, spans, now)
    changes = set(_boundaries(spans, horizon, after=now))
    if override_until is not None and override_until > now:
        changes.add(override_until)
    until = next((t for t in sorted(changes) if _status_at(status, override_until, spans, t) != at_now), None)
    return Effective(at_now, _inside(spans, now), until)
