"""Every action, server event, `reason` value and error code that ../shared/spec/protocol.md
names has a contract test (or, for an error code, a stated exemption): a name added to the
contract without a test turns this red. The names are read from the contract at run time."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Set
from pathlib import Path
from typing import Any

import pytest

from tests.contract import spec
from tests.contract.spec import COVERED, EXEMPT_CODES, Contract, read_contract

pytestmark = pytest.mark.contract


def _import_every_test_module() -> None:
    """The registry fills as test modules are imported: import them all (a run of this file
    alone must see the same coverage as a run of the whole suite)."""
    package = Path(spec.__file__).parent
    for module in pkgutil.iter_modules([str(package)]):
        if module.name.startswith("test_"):
            importlib.import_module(f"tests.contract.{module.name}")


def _covered_contract() -> Contract:
    """The contract, once every test module has filled the registry."""
    _import_every_test_module()
    return read_contract()


def _no_name_left_out(kind: str, named: Set[Any], covered: Set[Any], untested: str) -> None:
    """Every name of this kind the contract names is covered, and every covered one is named."""
    assert not named - covered, f"{untested}: {sorted(named - covered)}"
    assert not covered - named, f"tests of {kind} the contract does not name: {sorted(covered - named)}"


def test_every_action_of_the_contract_has_a_test_of_its_answer() -> None:
    contract = _covered_contract()
    _no_name_left_out("actions", contract.actions, COVERED.actions, "actions without a test")


def test_every_server_event_of_the_contract_has_a_test_of_its_fields() -> None:
    contract = _covered_contract()
    _no_name_left_out("events", contract.events, COVERED.events, "events without a test")


def test_every_reason_an_event_may_carry_is_provoked_by_a_test() -> None:
    contract = _covered_contract()
    _no_name_left_out("reasons", contract.reasons, COVERED.reasons, "reasons no test provokes")


def test_every_error_code_of_the_contract_is_provoked_by_a_test_or_exempt_with_a_reason() -> None:
    contract = _covered_contract()
    untested = contract.codes - COVERED.codes - set(EXEMPT_CODES)
    assert not untested, f"error codes neither tested nor in EXEMPT_CODES: {sorted(untested)}"
    assert not set(EXEMPT_CODES) & COVERED.codes, f"exempt yet tested: {sorted(set(EXEMPT_CODES) & COVERED.codes)}"
    assert not set(EXEMPT_CODES) - contract.codes, f"exempt codes the contract no longer names: " \
                                                   f"{sorted(set(EXEMPT_CODES) - contract.codes)}"
    assert not COVERED.codes - contract.codes, f"tests of codes the contract does not name: " \
                                               f"{sorted(COVERED.codes - contract.codes)}"
    assert all(reason.strip() for reason in EXEMPT_CODES.values())
