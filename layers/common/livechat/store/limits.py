"""Rate-limit counters (spec/protocol.md, second round: rate limits) in DynamoDB, so a
limit holds across every Lambda instance.

A counter is one item per (subject, window): `RATE#<subject>` / `<window name>`. Counting is
an UpdateItem ADD under the condition that the count is still below the limit, so the
(limit + 1)-th write in a window fails whatever runs at once. A counter that guards a write
rides in that write's transaction (`charge`): the action and its count commit together or
not at all — a refused action stores nothing and counts nothing, and a retried write that
the store recognises (a `clientMessageId`, a `clientConversationId`) fails its own condition
and is not counted. Standalone actions count with `take`. Each item carries the table's TTL
attribute a window after its end, so old windows cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from livechat.domain.errors import Conflict, LivechatError
from livechat.domain.limits import Window
from livechat.store import tables
from livechat.store.keys import rate_pk
from livechat.store.tables import RateCounterModel


@dataclass(frozen=True)
class Charge:
    """One count on a subject's window, refused at `limit`: the item, its update and its
    condition, for a transaction to carry."""

    item: RateCounterModel
    actions: list[Action]
    condition: Condition
    on_fail: Callable[[], LivechatError]  # what a failed condition means (RateLimited)


def charge(subject: str, window: Window, limit: int,
           on_fail: Callable[[], LivechatError] = lambda: Conflict("over a rate limit")) -> Charge:
    tables.bind()
    item = RateCounterModel(rate_pk(subject), window.name)
    return Charge(
        item,
        [RateCounterModel.value.add(1), RateCounterModel.expiration.set(window.end + window.seconds)],
        RateCounterModel.value.does_not_exist() | (RateCounterModel.value < limit),
        on_fail,
    )


def commit_charged(tx: TransactWrite, counted: Charge) -> bool:
    """Commit `tx` (one conditional write) with the count: False when the write's own
    condition failed (a retry the store recognises: nothing is counted); `on_fail()` is
    raised when only the count was refused."""
    tx.update(counted.item, counted.actions, condition=counted.condition)
    try:
        with tx:
            pass
    except TransactWriteError as exc:
        failed = [r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons]
        if failed and failed[0]:
            return False
        if len(failed) > 1 and failed[1]:
            raise counted.on_fail() from None
        raise
    return True


def take(subject: str, window: Window, limit: int) -> bool:
    """Count one on its own (one UpdateItem); False, counting nothing, at the limit."""
    counted = charge(subject, window, limit)
    try:
        counted.item.update(actions=counted.actions, condition=counted.condition)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
