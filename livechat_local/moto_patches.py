"""Corrections to moto (its DynamoDB, Cognito, SES v2 and Step Functions) that the tests and the
local stack both need.

1. Linearizability: moto reads, checks and writes without a lock, so concurrent
   conditional writes can both pass (../shared/NOTES-aws-offline.md). Real DynamoDB is
   linearizable per item; one process-wide lock around moto's request handler gives the
   same guarantee here, so the tests measure our races, not moto's.
2. Transaction cost: to roll a failed TransactWriteItems back, moto deep-copies every
   table the transaction touches — O(table size) per transaction, so a long-running
   local stack (or a test with thousands of events) slows down with every message. We
   snapshot only the items the transaction names; untouched items cannot change inside
   it, so the rollback is the same.
3. Idempotent transactions: botocore fills TransactWriteItems' ClientRequestToken (an
   idempotencyToken member) once per call and sends the same token on every retry. Real
   DynamoDB treats a repeat of a token within 10 minutes of the first request as success
   without applying it again, and a token reused with other parameters as
   IdempotentParameterMismatchException (Amazon DynamoDB API Reference, TransactWriteItems,
   request parameter ClientRequestToken:
   https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
   moto ignores the token, so a transaction whose response was lost (a 5xx after the
   commit) would be applied twice, or fail its own guard, on botocore's retry; we
   remember each committed token for 10 minutes, as DynamoDB does.
4. Case-insensitive user names: a user pool created with UsernameConfiguration
   CaseSensitive false (template.yaml's UserPool) matches user names, and the e-mail or
   phone number of UsernameAttributes, in any letter case: signing in as
   ALICE@EXAMPLE.COM signs in the user alice@example.com, whose tokens carry
   cognito:username alice@example.com, and a second user whose name differs only in case
   is UsernameExistsException (Amazon Cognito API Reference, UsernameConfigurationType:
   https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_UsernameConfigurationType.html).
   moto 5.2 ignores the setting and answers UserNotFoundException. Every lookup by name
   (admin_*, initiate_auth, respond_to_auth_challenge, the duplicate check of
   admin_create_user and sign_up) goes through CognitoIdpUserPool._get_user, so that is
   where we match in any case; moto then signs the name as typed into the tokens and keeps
   it for sign-out, so the methods that record a signed-in name take the stored one.
5. SES v2 GetAccount, which moto 5.2 does not implement ("has not been implemented"):
   answered from a flag on the backend, `production_access_enabled`, True unless a test
   puts the account back in the sandbox (then ProductionAccessEnabled is false, as for a new
   AWS account; livechat.outbound.mail_reach asks before promising a visitor a mail).
6. StopExecution right after StartExecution: moto's execution worker builds its environment
   and enters the first state on its own thread, and a stop that arrives first fails inside
   moto (AttributeError on None, a 500 from the server) or aborts an execution that entered
   no state. Step Functions stops a just-started execution, and has entered its first state
   within milliseconds of the start, well before any agent or visitor can answer the offer.
   An accept within milliseconds of its offer (the tests' agents) stops the request's timer
   (livechat.outbound.timers.stop), so the stop waits for the worker to be set up and to
   have entered its first state (or ended), as it would have on AWS by then.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import OrderedDict, defaultdict
from typing import Any

from moto.cognitoidp.models import CognitoIdpUserPool
from moto.cognitoidp.utils import flatten_attrs
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

_serial = threading.RLock()
_touched = threading.local()
_applied = False

TOKEN_WINDOW_SECONDS = 600  # DynamoDB keeps a ClientRequestToken for 10 minutes


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

    handle_transaction = DynamoHandler.transact_write_items

    def transact_write_items_once(self: Any) -> Any:
        # Runs inside call_action, under the lock: check, apply and remember are one step.
        return _once_per_token(self, handle_transaction)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    DynamoHandler.transact_write_items = transact_write_items_once  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Table.__deepcopy__ = _table_deepcopy  # type: ignore[attr-defined]
    _patch_cognito_user_names()
    _patch_ses_account()
    _patch_sfn_stop()
    _applied = True


def _patch_ses_account() -> None:
    from moto.sesv2.models import SESV2Backend
    from moto.sesv2.responses import SESV2Response

    SESV2Backend.production_access_enabled = True  # type: ignore[attr-defined]

    def get_account(self: Any) -> str:
        enabled = bool(getattr(self.sesv2_backend, "production_access_enabled", True))
        return json.dumps({"ProductionAccessEnabled": enabled, "SendingEnabled": True,
                           "EnforcementStatus": "HEALTHY", "DedicatedIpAutoWarmupEnabled": False})

    SESV2Response.get_account = get_account  # type: ignore[attr-defined]


def _patch_sfn_stop() -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    stop = ExecutionWorker.stop

    def started(worker: Any) -> bool:
        env = getattr(worker, "env", None)
        if env is None:
            return False
        # The event types are a str Enum: their value is the name Step Functions gives them.
        kinds = {str(getattr(kind, "value", kind)) for kind in
                 (event.get("type", "") for event in env.event_manager.get_event_history())}
        return any(kind.endswith("StateEntered") or (kind.startswith("Execution") and kind != "ExecutionStarted")
                   for kind in kinds)

    def stop_once_set_up(self: Any, stop_date: Any, error: Any, cause: Any) -> None:
        deadline = time.monotonic() + 10
        while not started(self) and time.monotonic() < deadline:
            time.sleep(0.005)
        stop(self, stop_date=stop_date, error=error, cause=cause)

    ExecutionWorker.stop = stop_once_set_up  # type: ignore[method-assign]


class IdempotentParameterMismatch(DynamodbException):
    def __init__(self) -> None:
        super().__init__(ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
                         "The ClientRequestToken was reused with different parameters")


def _once_per_token(handler: Any, apply_transaction: Any) -> Any:
    """Apply a TransactWriteItems once per ClientRequestToken (see 3. above)."""
    params = dict(handler.body)
    token = params.pop("ClientRequestToken", None)
    if not token:
        return apply_transaction(handler)
    # Kept on the backend, so a fresh moto (a new test, a new local stack) starts empty.
    backend = handler.dynamodb_backend
    seen: OrderedDict[str, tuple[float, str, Any]] | None = getattr(
        backend, "_livechat_client_tokens", None)
    if seen is None:
        seen = OrderedDict()
        backend._livechat_client_tokens = seen
    moment = time.monotonic()
    while seen and next(iter(seen.values()))[0] < moment - TOKEN_WINDOW_SECONDS:
        seen.popitem(last=False)
    fingerprint = json.dumps(params, sort_keys=True, default=str)
    if token in seen:
        _, first_params, result = seen[token]
        if first_params != fingerprint:
            raise IdempotentParameterMismatch()
        return result  # already applied: success, and nothing written again
    # Only a committed transaction is remembered: a cancelled one changed nothing, so
    # running its retry is still "the same effect as one call".
    result = apply_transaction(handler)
    seen[token] = (moment, fingerprint, result)
    return result


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


def _case_insensitive(pool: Any) -> bool:
    # Without UsernameConfiguration the API's default is case-sensitive (4. above).
    config = pool.extended_config.get("UsernameConfiguration") or {}
    return str(config.get("CaseSensitive", True)).lower() == "false"


def _patch_cognito_user_names() -> None:
    """Match user names in any case where the pool says so (see 4. above)."""
    if getattr(CognitoIdpUserPool._get_user, "_livechat_case_insensitive", False):
        return  # already patched
    get_user = CognitoIdpUserPool._get_user

    def _get_user(self: Any, username: str) -> Any:
        user = get_user(self, username)
        if user is not None or not isinstance(username, str) or not _case_insensitive(self):
            return user
        wanted = username.lower()
        attributes = self.extended_config.get("UsernameAttributes") or []
        for candidate in self.users.values():
            names = [candidate.username, *(flatten_attrs(candidate.attributes).get(a) for a in attributes)]
            if any(isinstance(name, str) and name.lower() == wanted for name in names):
                return candidate
        return None

    _get_user._livechat_case_insensitive = True  # type: ignore[attr-defined]

    def stored(pool: Any, username: str) -> str:
        """The user name as the user was created, for a name typed in another case."""
        if isinstance(username, str) and _case_insensitive(pool):
            user = pool._get_user(username)
            if user is not None and user.username.lower() == username.lower():
                return str(user.username)
        return username  # not this pool's rule, unknown, or an e-mail alias: as moto has it

    create_refresh_token = CognitoIdpUserPool.create_refresh_token
    create_access_token = CognitoIdpUserPool.create_access_token
    create_id_token = CognitoIdpUserPool.create_id_token
    sign_out = CognitoIdpUserPool.sign_out

    def create_refresh_token_stored(self: Any, client_id: str, username: str) -> Any:
        return create_refresh_token(self, client_id, stored(self, username))

    def create_access_token_stored(self: Any, client_id: str, username: str, origin_jti: str) -> Any:
        return create_access_token(self, client_id, stored(self, username), origin_jti)

    def create_id_token_stored(self: Any, client_id: str, username: str, origin_jti: str) -> Any:
        return create_id_token(self, client_id, stored(self, username), origin_jti)

    def sign_out_stored(self: Any, username: str) -> None:
        sign_out(self, stored(self, username))

    CognitoIdpUserPool._get_user = _get_user  # type: ignore[method-assign]
    CognitoIdpUserPool.create_refresh_token = create_refresh_token_stored  # type: ignore[method-assign]
    CognitoIdpUserPool.create_access_token = create_access_token_stored  # type: ignore[method-assign]
    CognitoIdpUserPool.create_id_token = create_id_token_stored  # type: ignore[method-assign]
    CognitoIdpUserPool.sign_out = sign_out_stored  # type: ignore[method-assign]
