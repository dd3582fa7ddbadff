"""A clock the test moves by hand, for tests that play the timers (an offer's deadline, the
inactivity timeout) instead of sleeping.

The code reads time through `livechat.clock.now` (and `now_iso`, which calls it), but
several modules did `from livechat.clock import now`: each of those holds its own binding.
`controlled_clock` replaces the function in `livechat.clock` and in every loaded livechat
module that bound it, found by identity rather than by a hand-kept list, so a module that
starts importing `now` tomorrow is covered too. Only our own notion of time moves: JWT
expiry, Powertools idempotency and moto keep the real clock.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import ModuleType

from livechat import clock

from livechat_local.lambdas import FUNCTIONS


class FakeClock:
    """Time stands still until `advance` is called."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> datetime:
        self.moment += timedelta(seconds=seconds)
        return self.moment

    def advance_to(self, moment: datetime) -> datetime:
        self.moment = max(self.moment, moment)
        return self.moment


def _bindings(target: Callable[[], datetime]) -> list[tuple[ModuleType, str]]:
    found: list[tuple[ModuleType, str]] = []
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "livechat" or name.startswith(("livechat.", "functions."))):
            continue
        for attr, value in list(vars(module).items()):
            if value is target:
                found.append((module, attr))
    return found


@contextmanager
def controlled_clock(start: datetime | None = None) -> Iterator[FakeClock]:
    """Every livechat module reads `FakeClock.now` inside the block (millisecond start, as
    the stored timestamps have)."""
    # Load every handler first, so every module that binds `now` is there to be patched.
    # Here rather than at import: a handler's Metrics reads its namespace from the
    # environment when the module loads, and the fixtures set the environment first.
    for handler_module in FUNCTIONS.values():
        importlib.import_module(handler_module)
    real = clock.now
    moment = start or real()
    fake = FakeClock(moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC))
    reader = fake.now  # one bound method object, so that it can be found again by identity
    bindings = _bindings(real)
    assert (clock, "now") in bindings
    for module, attr in bindings:
        setattr(module, attr, reader)
    try:
        yield fake
    finally:
        # Also a module imported inside the block, which bound the fake.
        for module, attr in _bindings(reader):
            setattr(module, attr, real)
