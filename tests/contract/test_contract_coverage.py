"""Every action, server event, `reason` value and error code that ../shared/spec/protocol.md
names has a contract test (or, for an error code, a stated exemption): a name added to the
contract without a test turns this red. The names are read from the contract at run time."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

from tests.contract import spec
from tests.contract.spec import COVERED, EXEMPT_CODES, read_contract

pytestmark = pytest.mark.contract


def _import_every_test_module() -> None:
    """The registry fills as test modules are imported: import them all (a run of this file
    alone must see the same coverage as a run of the whole suite)."""
    package = Path(spec.__file__).parent
    for module in pkgutil.iter_modules([str(package)]):
        if module.name.startswith("test_"):
            importlib.import_module(f"tests.contract.{module.name}")


def test_every_action_of_the_contract_has_a_test_of_its_answer() -> None:
    _import_every_test_module()
    contract = read_contract()
    assert not contract.actions - COVERED.actions, f"actions without a test: {sorted(contract.actions - COVERED.actions)}"
    assert not COVERED.actions - contract.actions, f"tests of actions the contract does not name: " \
                                                   f"{sorted(COVERED.actions - contract.actions)}"


def test_every_server_event_of_the_contract_has_a_test_of_its_fields() -> None:
    _import_every_test_module()
    contract = read_contract()
    assert not contract.events - COVERED.events, f"events without a test: {sorted(contract.events - COVERED.events)}"
    assert not COVERED.events - contract.events, f"tests of events the contract does not name: " \
                                                 f"{sorted(COVERED.events - contract.events)}"


def test_every_reason_an_event_may_carry_is_provoked_by_a_test() -> None:
    _import_every_test_module()
    contract = read_contract()
    assert not contract.reasons - COVERED.reasons, f"reasons no test provokes: {sorted(contract.reasons - COVERED.reasons)}"
    assert not COVERED.reasons - contract.reasons, f"tests of reasons the contract does not name: " \
                                                   f"{sorted(COVERED.reasons - contract.reasons)}"


def test_every_error_code_of_the_contract_is_provoked_by_a_test_or_exempt_with_a_reason() -> None:
    _import_every_test_module()
    contract = read_contract()
    untested = contract.codes - COVERED.codes - set(EXEMPT_CODES)
    assert not untested, f"error codes neither tested nor in EXEMPT_CODES: {sorted(untested)}"
    assert not set(EXEMPT_CODES) & COVERED.codes, f"exempt yet tested: {sorted(set(EXEMPT_CODES) & COVERED.codes)}"
    assert not set(EXEMPT_CODES) - contract.codes, f"exempt codes the contract no longer names: " \
                                                   f"{sorted(set(EXEMPT_CODES) - contract.codes)}"
    assert not COVERED.codes - contract.codes, f"tests of codes the contract does not name: " \
                                               f"{sorted(COVERED.codes - contract.codes)}"
    assert all(reason.strip() for reason in EXEMPT_CODES.values())
