"""The performance dashboard (issue 16): the counters of a range of UTC days, summed per
day, agent and team (livechat.domain.stats says what each counts)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from livechat.domain import stats
from livechat.store import agents
from livechat.store import stats as counters

logger = Logger(child=True)


def get_stats(start: str, end: str, cost: counters.ReadCost | None = None) -> dict[str, Any]:
    """The `stats` event's body for the days `start`..`end` (BadRequest naming the field
    for a bad range). Reads one Query per counter shard and one of the agents (their
    names): no conversation is read."""
    first, last = stats.parse_range(start, end)
    cost = cost if cost is not None else counters.ReadCost()
    items = list(counters.read(first, last, cost))
    names = {a.email: a.name for a in agents.list_agents()}
    logger.info("stats read", days=(last - first).days + 1, queries=cost.queries + 1, pages=cost.pages,
                items=cost.items, bytes=cost.bytes)
    return stats.summarize(first, last, items, names)
