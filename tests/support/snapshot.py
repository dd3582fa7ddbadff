"""The whole DynamoDB table as a comparable value, to check that something changed nothing."""

from __future__ import annotations

from typing import Any

import boto3

from tests.support.aws import REGION, TABLE


def table_snapshot() -> list[dict[str, Any]]:
    """Every item of the table (all pages), sorted by pk then sk."""
    client = boto3.client("dynamodb", region_name=REGION)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
