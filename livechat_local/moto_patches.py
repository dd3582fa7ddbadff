"""Two corrections to moto's DynamoDB that the tests and the local stack both need.

1. Linearizability: moto reads, checks and writes without a lock, so concurrent
   conditional writes can both pass (../shared/NOTES-aws-offline.md). Real DynamoDB is
   linearizable per item; one process-wide lock around moto's request handler gives the
   same guarantee here, so the tests measure our races, not moto's.
2. Transaction cost: to roll a failed TransactWriteItems back, moto deep-copies every
   table the transaction touches — O(table size) per transaction, so a long-running
   local stack (or a test with thousands of events) slows down with every message. We
   snapshot only the items the transaction names; untouched items cannot change inside
   it, so the rollback is the same.
"""

from __future__ import annotations

import copy
import threading
from collections import defaultdict
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

_serial = threading.RLock()
_touched = threading.local()
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    handler = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _serial:
            return handler(self)

    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _touched.keys = _keys_of(self, transact_items)
        try:
            transact(self, transact_items)
        finally:
            _touched.keys = None

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Table.__deepcopy__ = _table_deepcopy  # type: ignore[attr-defined]
    _applied = True


def _keys_of(backend: Any, transact_items: list[dict[str, Any]]
             ) -> dict[str, list[tuple[Any, Any]]]:
    keys: dict[str, list[tuple[Any, Any]]] = {}
    for item in transact_items:
        _, op = next(iter(item.items()))
        table = backend.tables.get(op.get("TableName"))
        raw = op.get("Item") or op.get("Key") or {}
        if table is None or table.hash_key_attr not in raw:
            continue
        hash_key = DynamoType(raw[table.hash_key_attr])
        range_key = None
        if table.range_key_attr and table.range_key_attr in raw:
            range_key = DynamoType(raw[table.range_key_attr])
        keys.setdefault(table.name, []).append((hash_key, range_key))
    return keys


def _table_deepcopy(self: Table, memo: dict[int, Any]) -> Table:
    keys = getattr(_touched, "keys", None)
    if keys is None:
        # Not a transaction's snapshot: the ordinary deep copy.
        full: Table = object.__new__(self.__class__)
        memo[id(self)] = full
        for name, value in self.__dict__.items():
            setattr(full, name, copy.deepcopy(value, memo))
        return full
    clone: Table = copy.copy(self)
    items: defaultdict[Any, Any] = defaultdict(dict)
    for hash_key, value in self.items.items():
        items[hash_key] = dict(value) if self.has_range_key else value
    for hash_key, range_key in keys.get(self.name, []):
        if self.has_range_key:
            current = self.items.get(hash_key, {}).get(range_key)
            if current is None:
                items[hash_key].pop(range_key, None)
            else:
                items[hash_key][range_key] = copy.deepcopy(current)
        elif hash_key in self.items:
            items[hash_key] = copy.deepcopy(self.items[hash_key])
        else:
            items.pop(hash_key, None)
    clone.items = items
    return clone
