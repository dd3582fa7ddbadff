"""DynamoDB item sizes and the request units a read or a write of them costs (on-demand), and
the write units the global secondary indexes take when an item enters, leaves or changes in them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tests.support.template import load_template

WCU_BYTES, RCU_BYTES = 1024, 4096


def number_size(text: str) -> int:
    """DynamoDB: about 1 byte per two significant digits, plus 1."""
    mantissa = text.lstrip("+-").lower().split("e", maxsplit=1)[0].replace(".", "").strip("0")
    return (len(mantissa) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's sizing (docs: item sizes and formats)."""
    ((tag, raw),) = value.items()
    if tag == "S":
        return len(str(raw).encode())
    if tag == "N":
        return number_size(str(raw))
    if tag == "B":
        return len(raw)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(len(str(s).encode()) for s in raw)
    if tag == "NS":
        return sum(number_size(str(n)) for n in raw)
    if tag == "BS":
        return sum(len(b) for b in raw)
    if tag == "L":  # 3 bytes for the document, 1 per element
        return 3 + sum(value_size(v) + 1 for v in raw)
    if tag == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in raw.items())
    raise ValueError(f"unknown DynamoDB type {tag}")


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WCU_BYTES))


def read_units(size: int) -> int:
    return max(1, math.ceil(size / RCU_BYTES))


@dataclass
class Index:
    name: str
    keys: tuple[str, ...]


def table_indexes() -> list[Index]:
    props = next(r for r in load_template()["Resources"].values()
                 if r["Type"] == "AWS::DynamoDB::Table")["Properties"]
    for gsi in props.get("GlobalSecondaryIndexes", []):
        if gsi["Projection"]["ProjectionType"] != "ALL":
            raise SystemExit(f"cost: index {gsi['IndexName']} does not project ALL: size its entries first")
    return [Index(g["IndexName"], tuple(k["AttributeName"] for k in g["KeySchema"]))
            for g in props.get("GlobalSecondaryIndexes", [])]


def index_writes(indexes: list[Index], before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
    """Write units the indexes take for one item changing from `before` to `after`."""
    units = 0
    for index in indexes:
        was = before is not None and all(k in before for k in index.keys)
        now = after is not None and all(k in after for k in index.keys)
        if was and now:
            assert before is not None and after is not None
            if any(before[k] != after[k] for k in index.keys):  # delete the old entry, put the new
                units += write_units(item_size(before)) + write_units(item_size(after))
            elif before != after:
                units += write_units(max(item_size(before), item_size(after)))
        elif was:
            units += write_units(item_size(before))
        elif now:
            units += write_units(item_size(after))
    return units

