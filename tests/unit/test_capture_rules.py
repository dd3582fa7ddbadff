"""Capture cards (workspace.md, second round): listed fields are optional unless `required`
names them; a field the card does not list is refused; each known field has one rule."""

from __future__ import annotations

import re

import pytest
from livechat.domain.capture import FIELD_RULES, clean_fields, public_rules
from livechat.domain.errors import BadRequest

pytestmark = pytest.mark.unit

LISTED = ["firstName", "email", "company", "country"]


def test_a_listed_field_that_is_not_required_may_be_absent() -> None:
    assert clean_fields({"firstName": "Vera", "email": "vera@acme.io"}, LISTED,
                        ["firstName", "email"], "who") == {"firstName": "Vera", "email": "vera@acme.io"}


def test_a_missing_required_field_is_refused_naming_the_field() -> None:
    with pytest.raises(BadRequest, match=r"^fields\.email: required$"):
        clean_fields({"firstName": "Vera", "country": "FR"}, LISTED, ["firstName", "email"], "who")


def test_a_blank_required_field_counts_as_missing() -> None:
    with pytest.raises(BadRequest, match=r"^fields\.firstName: required$"):
        clean_fields({"firstName": "  ", "email": "vera@acme.io"}, LISTED, ["firstName"], "who")


def test_a_field_the_card_does_not_list_is_refused_naming_the_field() -> None:
    with pytest.raises(BadRequest, match=r"^fields\.salary: not a field of capture card 'who'$"):
        clean_fields({"firstName": "Vera", "salary": "1M"}, LISTED, [], "who")


def test_without_a_required_list_nothing_is_required() -> None:
    assert clean_fields({}, LISTED, [], "who") == {}


def test_a_blank_optional_field_is_not_stored() -> None:
    assert clean_fields({"company": " ", "firstName": "Vera"}, LISTED, [], "who") == {"firstName": "Vera"}


@pytest.mark.parametrize(("field", "value", "stored"), [
    ("email", " Vera@ACME.io ", "vera@acme.io"),
    ("country", "fr", "FR"),
    ("phone", "+33 1 23 45 67 89", "+33 1 23 45 67 89"),
])
def test_valid_values_are_stored_normalised(field: str, value: str, stored: str) -> None:
    assert clean_fields({field: value}, [field], [], "who") == {field: stored}


@pytest.mark.parametrize(("field", "value"), [
    ("email", "a@b.c"), ("email", "no-at-sign"), ("email", "two@@example.com"),
    ("email", "x" * 65 + "@example.com"), ("phone", "1234"), ("phone", "call me"),
    ("phone", "1" * 26), ("country", "FRA"), ("country", "F1"),
])
def test_invalid_values_are_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(BadRequest, match=rf"^fields\.{field}: "):
        clean_fields({field: value}, [field], [], "who")


def test_the_public_rules_are_the_server_rules() -> None:
    served = public_rules()
    assert served["maxLength"] == 500
    assert {name: rule["pattern"] for name, rule in served["fields"].items()} == {
        name: rule.pattern for name, rule in FIELD_RULES.items()}


def test_the_patterns_use_only_syntax_javascript_reads_the_same() -> None:
    # No lookbehind, named groups, inline flags, \A/\Z, possessive or atomic constructs:
    # what RegExp would read differently or refuse (the browser test runs them in chromium).
    for rule in FIELD_RULES.values():
        assert not re.search(r"\(\?|\\[AZzb]|[*+?}]\+", rule.pattern), rule.pattern
        assert rule.pattern.startswith("^") and rule.pattern.endswith("$"), rule.pattern
