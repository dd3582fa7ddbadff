"""Whether the deployment's SES can write to an address at all, asked before a visitor's
transcript is promised to them (`emailTranscript`).

An account still in the SES sandbox sends only to verified identities (an address, or its
whole domain): anything else is refused by SES after the visitor was told "on its way".
So the sandbox is asked about first — `GetAccount` (kept per container: leaving the
sandbox is rare) and, only in the sandbox, `GetEmailIdentity` for the address and its
domain. An answer this function cannot get (a permission missing, an emulator without the
call) counts as "can reach": the send then tries, as it did before.
"""

from __future__ import annotations

import time

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from livechat import runtime

logger = Logger(child=True)

ACCOUNT_CACHE_SECONDS = 600
_account: tuple[float, bool | None] | None = None  # (read at, production access)


def _production_access() -> bool | None:
    global _account
    if _account is not None and time.monotonic() - _account[0] < ACCOUNT_CACHE_SECONDS:
        return _account[1]
    try:
        enabled = runtime.sesv2().get_account().get("ProductionAccessEnabled")
        found = bool(enabled) if enabled is not None else None
    except (ClientError, BotoCoreError) as exc:
        logger.info("SES account status unknown; assuming it can send", error=str(exc)[:200])
        found = None
    _account = (time.monotonic(), found)
    return found


def _verified(identity: str) -> bool:
    """A verified identity: VerifiedForSendingStatus, or VerificationStatus SUCCESS (the
    same fact; the emulator keeps only the latter)."""
    try:
        found = runtime.sesv2().get_email_identity(EmailIdentity=identity)
        return bool(found.get("VerifiedForSendingStatus")) or found.get("VerificationStatus") == "SUCCESS"
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFoundException":
            return False
        raise


def can_reach(address: str) -> bool:
    """False only when SES is known to be in the sandbox and neither the address nor its
    domain is a verified identity."""
    if _production_access() is not False:
        return True
    try:
        return _verified(address) or _verified(address.rsplit("@", 1)[-1])
    except (ClientError, BotoCoreError) as exc:
        logger.info("SES identity status unknown; assuming it can send", error=str(exc)[:200])
        return True


@runtime.on_reset
def reset() -> None:
    global _account
    _account = None
