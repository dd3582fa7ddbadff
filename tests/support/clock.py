"""A clock the test moves by hand, for tests that play the timers (an offer's deadline, the
inactivity timeout) instead of sleeping; and identifiers made in order.

The code reads time through `livechat.clock.now` (and `now_iso`, which calls it), but
several modules did `from livechat.domain.clock import now`: each of those holds its own binding.
`controlled_clock` replaces the function in `livechat.clock` and in every loaded livechat
module that bound it, found by identity rather than by a hand-kept list, so a module that
starts importing `now` tomorrow is covered too. Only our own notion of time moves: JWT
expiry, Powertools idempotency and moto keep the real clock.

`new_id` (conversation and offer ids) is replaced the same way, by a counter in uuid4's
hex shape: where the code breaks a tie by id (two requests due at the same instant are
recovered in key order), a replayed Hypothesis example then breaks it the same way.
"""

from __future__ import annotations

import importlib
import itertools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import ModuleType

from livechat.domain import clock

from livechat_local.lambdas import FUNCTIONS


class FakeClock:
    """Time stands still until `advance` is called."""

    def __init__(self, start: datetime) -> None:
        self.moment = start
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        return f"{next(self._ids):032x}"

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> datetime:
        self.moment += timedelta(seconds=seconds)
        return self.moment

    def advance_to(self, moment: datetime) -> datetime:
        self.moment = max(self.moment, moment)
        return self.moment


def _bindings(target: Callable[[], object]) -> list[tuple[ModuleType, str]]:
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
    """Every livechat module reads `FakeClock.now` and takes `FakeClock.new_id` inside the
    block (the clock starts on a millisecond, as the stored timestamps have)."""
    # Load every handler first, so every module that binds `now` is there to be patched.
    # Here rather than at import: a handler's Metrics reads its namespace from the
    # environment when the module loads, and the fixtures set the environment first.
    for handler_module in FUNCTIONS.values():
        importlib.import_module(handler_module)
    real_now, real_new_id = clock.now, clock.new_id
    moment = start or real_now()
    fake = FakeClock(moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC))
    # One bound method object each, so that they can be found again by identity.
    fakes: dict[Callable[[], object], Callable[[], object]] = {real_now: fake.now,
                                                              real_new_id: fake.new_id}
    for real, stand_in in fakes.items():
        bindings = _bindings(real)
        assert (clock, real.__name__) in bindings
        for module, attr in bindings:
            setattr(module, attr, stand_in)
    try:
        yield fake
    finally:
        # Also a module imported inside the block, which bound a stand-in.
        for real, stand_in in fakes.items():
            for module, attr in _bindings(stand_in):
                setattr(module, attr, real)
