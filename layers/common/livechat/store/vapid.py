"""The deployment's VAPID key pair (spec/protocol.md "Second round": Web Push): made on first
use, with no manual step, by whichever function needs it first, and never again.

Two items, written together in one TransactWriteItems, each under `attribute_not_exists`:
- `VAPID` / `PUBLIC`: the public key, which the public web function reads for /config.json;
- `VAPIDKEY` / `PRIVATE`: the private key, which only the functions that send pushes read.
The write succeeds once per table: two containers that find no pair and race both make one,
exactly one transaction commits, and the loser reads the winner's items (never its own, which
it drops). Nothing of the pair is in the template or the repository. The halves sit in
partitions of their own so that IAM's dynamodb:LeadingKeys tells them apart: the web function
may create both items (PutItem on VAPID and VAPIDKEY) but read only VAPID (template.yaml).

Each half is cached for the container's life (the pair never changes by itself); the caches
are cleared by runtime.reset().
"""

from __future__ import annotations

import time

from pynamodb.transactions import TransactWrite

from livechat import runtime
from livechat.domain import vapid
from livechat.domain.clock import now_iso
from livechat.domain.vapid import VapidKeyPair
from livechat.store import tables
from livechat.store.keys import VAPID_PRIVATE_PK, VAPID_PRIVATE_SK, VAPID_PUBLIC_PK, VAPID_PUBLIC_SK
from livechat.store.tables import VapidPrivateKeyModel, VapidPublicKeyModel
from livechat.store.transaction import commit_unless_moved, connection

MAX_ATTEMPTS = 8
# After a lost race, before reading again: a concurrent creator's transaction may still be
# under way (TransactionConflict) when ours is cancelled.
RETRY_PAUSE = 0.02

_public_key: str | None = None
_key_pair: VapidKeyPair | None = None


class VapidKeysMissing(RuntimeError):
    """One half of the pair is stored and the other is not (someone deleted an item): the
    pair cannot be made again without a person deciding to (subscriptions hold the old key)."""


@runtime.on_reset
def forget() -> None:
    global _public_key, _key_pair
    _public_key = None
    _key_pair = None


def _stored_public_key() -> str | None:
    tables.bind()
    try:
        item = VapidPublicKeyModel.get(VAPID_PUBLIC_PK, VAPID_PUBLIC_SK, consistent_read=True)
    except VapidPublicKeyModel.DoesNotExist:
        return None
    return item.public_key


def _stored_private_key() -> str | None:
    tables.bind()
    try:
        item = VapidPrivateKeyModel.get(VAPID_PRIVATE_PK, VAPID_PRIVATE_SK, consistent_read=True)
    except VapidPrivateKeyModel.DoesNotExist:
        return None
    return item.private_key


def create(pair: VapidKeyPair) -> bool:
    """Store `pair` as the deployment's, if it has none yet: True when this write made it,
    False when a pair (or half of one) was already there or another creator's transaction
    was under way. Both items or neither; no value of an existing item is returned."""
    at = now_iso()
    tx = TransactWrite(connection=connection())
    tx.save(VapidPublicKeyModel(VAPID_PUBLIC_PK, VAPID_PUBLIC_SK, public_key=pair.public_key, created_at=at),
            condition=VapidPublicKeyModel.pk.does_not_exist())
    tx.save(VapidPrivateKeyModel(VAPID_PRIVATE_PK, VAPID_PRIVATE_SK, private_key=pair.private_key, created_at=at),
            condition=VapidPrivateKeyModel.pk.does_not_exist())
    return commit_unless_moved(tx)


def public_key() -> str:
    """The deployment's VAPID public key (base64url of the uncompressed P-256 point), making
    the pair on first use. Reads only the public item."""
    global _public_key
    if _public_key is not None:
        return _public_key
    for _ in range(MAX_ATTEMPTS):
        stored = _stored_public_key()
        if stored is not None:
            _public_key = stored
            return stored
        pair = vapid.generate()
        if create(pair):
            _public_key = pair.public_key
            return pair.public_key
        time.sleep(RETRY_PAUSE)  # lost: read the winner's
    raise VapidKeysMissing("the VAPID public key is missing and cannot be created")


def key_pair() -> VapidKeyPair:
    """The deployment's VAPID key pair, for the functions that send pushes (they alone may
    read the private item), making it on first use. The public half is derived from the
    stored private key (both were written by one transaction, from one pair):
    `key_pair().private_key` is what py-vapid / pywebpush take as `vapid_private_key`,
    `key_pair().private_pem()` the PKCS#8 PEM."""
    global _key_pair
    if _key_pair is not None:
        return _key_pair
    for _ in range(MAX_ATTEMPTS):
        stored = _stored_private_key()
        if stored is not None:
            _key_pair = vapid.pair_of(vapid.private_key_from(stored))
            return _key_pair
        pair = vapid.generate()
        if create(pair):
            _key_pair = pair
            return pair
        time.sleep(RETRY_PAUSE)  # lost: read the winner's
    raise VapidKeysMissing("the VAPID private key is missing and cannot be created")
