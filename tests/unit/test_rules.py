from __future__ import annotations

import pytest
from livechat.domain.rules import first_match, matches, visitor_attributes
from livechat.domain.workspace import Rule, RulesRouting

pytestmark = pytest.mark.unit


def rules(*specs: dict[str, object]) -> list[Rule]:
    return RulesRouting.model_validate({"mode": "custom_rules", "rules": list(specs)}).rules


def cond(**spec: object) -> object:
    return Rule.model_validate({"when": spec, "route": {"team": "x"}}).when


ATTRS = visitor_attributes(
    {"email": "Ann@BigCorp.com", "country": "FR", "company": "Big Corp"},
    {"url": "https://shop.example/pricing?x=1", "utm": {"source": "google", "campaign": "q4"}},
)


def test_attributes_derive_the_email_domain_and_flatten_page_and_utm() -> None:
    assert ATTRS["emailDomain"] == "bigcorp.com"
    assert ATTRS["page.url"].endswith("/pricing?x=1")
    assert ATTRS["utm.source"] == "google"
    assert "utm.medium" not in ATTRS


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"field": "country", "op": "equals", "value": "fr"}, True),
        ({"field": "country", "op": "not_equals", "value": "FR"}, False),
        ({"field": "country", "op": "in", "value": ["DE", "FR"]}, True),
        ({"field": "country", "op": "not_in", "value": ["DE", "FR"]}, False),
        ({"field": "company", "op": "contains", "value": "corp"}, True),
        ({"field": "page.url", "op": "starts_with", "value": "https://shop."}, True),
        ({"field": "email", "op": "ends_with", "value": "@bigcorp.com"}, True),
        ({"field": "phone", "op": "exists"}, False),
        ({"field": "phone", "op": "exists", "value": False}, True),
        ({"field": "phone", "op": "equals", "value": "1"}, False),
        ({"field": "phone", "op": "not_equals", "value": "1"}, True),
        ({"all": [{"field": "country", "op": "equals", "value": "FR"},
                  {"field": "utm.campaign", "op": "equals", "value": "q4"}]}, True),
        ({"any": [{"field": "country", "op": "equals", "value": "DE"},
                  {"field": "emailDomain", "op": "equals", "value": "nope.com"}]}, False),
    ],
)
def test_each_operator_evaluates_as_documented(spec: dict[str, object], expected: bool) -> None:
    assert matches(cond(**spec), ATTRS) is expected  # type: ignore[arg-type]


def test_rules_are_tried_in_order_and_the_first_match_wins() -> None:
    table = rules(
        {"when": {"field": "country", "op": "equals", "value": "DE"}, "route": {"team": "dach"}},
        {"when": {"field": "emailDomain", "op": "equals", "value": "bigcorp.com"},
         "route": {"agent": "alice@example.com"}},
        {"when": {"field": "country", "op": "equals", "value": "FR"}, "route": {"team": "emea"}},
    )
    hit = first_match(table, ATTRS)
    assert hit is not None and hit[0] == 1 and hit[1].route.agent == "alice@example.com"


def test_no_rule_matching_gives_none() -> None:
    table = rules({"when": {"field": "country", "op": "equals", "value": "US"},
                   "route": {"team": "amer"}})
    assert first_match(table, ATTRS) is None


def test_an_operator_with_the_wrong_value_shape_is_rejected() -> None:
    with pytest.raises(ValueError, match="needs a list"):
        cond(field="country", op="in", value="FR")
