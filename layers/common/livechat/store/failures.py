"""Which AWS errors are worth another try (throttling, 5xx that botocore's own retries did
not absorb), whichever client raised them: boto3 or PynamoDB."""

from __future__ import annotations

from botocore.exceptions import ClientError
from pynamodb.exceptions import PynamoDBException

TRANSIENT_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "TransactionConflictException",
})


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in TRANSIENT_CODES
    if isinstance(exc, PynamoDBException):
        return exc.cause_response_code in TRANSIENT_CODES
    return False
