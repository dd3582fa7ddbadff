"""What one `resume` reads, by the length of the chat: a message is stored under its
clientMessageId (livechat.store.keys.message_id_sk), so a resume reads every message of the
conversation, whatever `afterSeq` says, and orders them by seq.

Drives the real handlers through the test world (moto in-process) for a live chat of each
length, the messages as bench.cost sends them (its texts, ids shaped as the widget's), then
one resume after the last event but one (a page that missed one) and one after 0 (a page
load), and prints the read units each cost (bench.cost's rules: a Query is charged on the
summed size of the items it read, strongly consistent 1 unit per 4 KB) and their price,
next to the write units the layout saves on those messages. Prints figures, never
pass/fail. Run from the repository root:

    .venv/bin/python -m bench.resume_cost [--messages 20,100,500] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tests.support import metering

metering.environment()
# The bench writes hundreds of messages a minute from one connection: no message limit.
os.environ["LIVECHAT_DEFAULT_RATE_LIMITS"] = "0"

import boto3  # noqa: E402

from bench.cost.ledger import Ledger, metered_handlers  # noqa: E402
from bench.cost.prices import PRICES  # noqa: E402
from bench.cost.scenario import say  # noqa: E402
from bench.cost.units import table_indexes  # noqa: E402
from tests.support.aws import REGION  # noqa: E402
from tests.support.metering import count_calls, embedded_aws  # noqa: E402
from tests.support.world import World  # noqa: E402

AGENT = "agent@example.com"
SAVED_WRU_PER_MESSAGE = 2  # the marker item a message no longer writes, x2 in a transaction
EVENTS_QUERY = "Query conversation partition"  # the events' read; the rest is the frame's own read


def _rru(ledger: Ledger, scenario: str, label: str | None = None) -> float:
    """The read units of a scenario: all of them, or those of one kind of call."""
    usages = ledger.scenarios[scenario].usage.values()
    if label is None:
        return sum(u.rru for u in usages)
    return sum(u.units[label]["rru"] for u in usages if label in u.units)


def measure(sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    with embedded_aws() as gateway:
        ledger = Ledger(table_indexes(), boto3.client("dynamodb", region_name=REGION))
        with count_calls(ledger), metered_handlers(ledger):
            world = World(gateway)
            for n, messages in enumerate(sizes):
                agent, visitor, chat = world.accepted_chat(AGENT)
                for i in range(messages):
                    say(visitor if i % 2 == 0 else agent, chat, n, i, typing=False)
                last = int(visitor.ask("resume", conversationId=chat, afterSeq=0)["seq"])
                ledger.current = f"gap-{n}"
                visitor.ask("resume", conversationId=chat, afterSeq=last - 1)
                ledger.current = f"all-{n}"
                visitor.ask("resume", conversationId=chat, afterSeq=0)
                ledger.current = "setup"
                agent.ask("endChat", conversationId=chat)
                rows.append({"messages": messages, "events": last,
                             "resume_one_missed_rru": _rru(ledger, f"gap-{n}"),
                             "events_query_rru": _rru(ledger, f"gap-{n}", EVENTS_QUERY),
                             "resume_all_rru": _rru(ledger, f"all-{n}")})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.resume_cost", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", default="20,100,500", help="chat lengths, comma-separated (default 20,100,500)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    rows = measure([int(m) for m in args.messages.split(",") if m.strip()])
    rru, wru = PRICES["rru"].each, PRICES["wru"].each
    for row in rows:
        row["usd_per_resume"] = row["resume_one_missed_rru"] * rru
        row["usd_saved_on_its_messages"] = row["messages"] * SAVED_WRU_PER_MESSAGE * wru
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("resume cost: one live chat per length, moto, bench.cost's read-unit rules and prices")
    print(f"{'messages':>9} {'events':>7} {'RRU, one missed':>16} {'of it, events':>14} {'RRU, from 0':>12}"
          f" {'$ per resume':>13} {'$ saved on its messages':>24}")
    for row in rows:
        print(f"{row['messages']:>9} {row['events']:>7} {row['resume_one_missed_rru']:>16.1f}"
              f" {row['events_query_rru']:>14.1f} {row['resume_all_rru']:>12.1f} {row['usd_per_resume']:>13.9f}"
              f" {row['usd_saved_on_its_messages']:>24.9f}")
    print("a resume reads the conversation with its parties (the frame's own read, as every frame)"
          " and then every message (keyed by clientMessageId) with the events after afterSeq: before,"
          " only the events after afterSeq (1 unit for one missed); the saving is the 2 write units"
          " of the marker each message no longer writes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
