from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from livechat.domain.workspace import Dialog
from livechat.domain.workspace_document import workspace_problems
from pydantic import ValidationError

pytestmark = pytest.mark.unit

DEMO = Path(__file__).resolve().parents[2] / "workspaces" / "demo.yaml"


def dialog(cards: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "sales", "cards": cards}


LIVE = {"id": "live", "kind": "live_chat", "routing": {"mode": "round_robin"}}


def test_a_live_chat_card_that_is_not_last_in_its_branch_is_rejected_naming_the_branch() -> None:
    data = dialog([{"id": "ask", "kind": "question", "text": "?", "answers": [
        {"label": "Yes", "next": [LIVE, {"id": "bye", "kind": "message", "text": "x"}]}]}])
    with pytest.raises(ValidationError) as err:
        Dialog.model_validate(data)
    assert "cards[0].answers[0].next[0]: live chat card 'live' must be the last card" in str(err.value)
    assert "(cards[0].answers[0].next)" in str(err.value)


def test_a_live_chat_card_last_in_its_branch_is_accepted() -> None:
    parsed = Dialog.model_validate(dialog([{"id": "ask", "kind": "question", "text": "?",
                                            "answers": [{"label": "Yes", "next": [LIVE]}]}]))
    assert parsed.live_chat_card("live") is not None
    assert parsed.live_chat_card("ask") is None


def test_card_ids_must_be_unique_within_a_dialog() -> None:
    with pytest.raises(ValidationError, match="used twice"):
        Dialog.model_validate(dialog([{"id": "x", "kind": "message", "text": "a"},
                                      {"id": "x", "kind": "message", "text": "b"}]))


def test_a_route_must_name_exactly_one_target() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        Dialog.model_validate(dialog([{"id": "live", "kind": "live_chat", "routing": {
            "mode": "custom_rules", "rules": [{"when": {"field": "email", "op": "exists"},
                                               "route": {}}]}}]))


# --- the whole workspace file: one line per problem, with its path and card ------------

def demo_with(change: Callable[[dict[str, Any]], object]) -> list[str]:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    change(data)
    return workspace_problems(data)


def live_card(data: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = data["dialogs"][0]["cards"][0]["answers"][0]["next"][1]
    return card


def rule(data: dict[str, Any], index: int) -> dict[str, Any]:
    found: dict[str, Any] = live_card(data)["routing"]["rules"][index]
    return found


RULES = "dialogs[0].cards[0].answers[0].next[1].routing.rules"


def test_the_demo_workspace_is_valid() -> None:
    assert demo_with(lambda data: None) == []


def test_an_unknown_operator_is_one_problem_naming_the_path_and_card() -> None:
    problems = demo_with(lambda d: rule(d, 0)["when"].update(op="matches"))
    assert len(problems) == 1
    assert problems[0].startswith(f"{RULES}[0].when.op: Input should be 'equals'")
    assert problems[0].endswith("(card 'live')")


def test_an_unknown_operator_inside_all_names_the_nested_path() -> None:
    problems = demo_with(lambda d: rule(d, 0).update(when={"all": [
        {"field": "email", "op": "exists"}, {"field": "email", "op": "like", "value": "x"}]}))
    assert len(problems) == 1
    assert problems[0].startswith(f"{RULES}[0].when.all[1].op: ")


def test_an_unknown_rule_field_is_refused() -> None:
    problems = demo_with(lambda d: rule(d, 0)["when"].update(field="favouriteColour"))
    assert problems == [
        f"{RULES}[0].when.field: unknown field 'favouriteColour' (card 'live'): use a field a capture"
        " card asks for, or one of firstName, lastName, email, company, jobTitle, phone, country,"
        " emailDomain, page.url, page.title, page.referrer, utm.source, utm.medium, utm.campaign"]


def test_a_rule_may_test_a_custom_field_that_a_capture_card_asks_for() -> None:
    def custom(data: dict[str, Any]) -> None:
        data["dialogs"][0]["cards"][0]["answers"][0]["next"][0]["fields"].append("budget")
        rule(data, 0)["when"] = {"any": [{"field": "budget", "op": "exists"},
                                         {"field": "utm.campaign", "op": "starts_with", "value": "q4"}]}

    assert demo_with(custom) == []


def test_a_value_of_the_wrong_shape_for_its_operator_is_refused() -> None:
    assert demo_with(lambda d: rule(d, 1)["when"].update(value="FR")) == [
        f"{RULES}[1].when: operator 'in' needs a list value (card 'live')"]


def test_an_empty_all_or_any_is_refused() -> None:
    problems = demo_with(lambda d: rule(d, 0).update(when={"any": []}))
    assert problems == [f"{RULES}[0].when.any: List should have at least 1 item after validation,"
                        " not 0 (card 'live')"]


def test_a_required_field_must_be_one_of_the_capture_cards_fields() -> None:
    problems = demo_with(lambda d: d["dialogs"][0]["cards"][0]["answers"][0]["next"][0].update(
        required=["jobTitle"]))
    assert problems == ["dialogs[0].cards[0].answers[0].next[0].required: required field 'jobTitle'"
                        " is not one of the card's fields (card 'who')"]


def test_each_problem_of_a_dialog_is_its_own_line() -> None:
    def two(data: dict[str, Any]) -> None:
        data["dialogs"][0]["cards"][0]["answers"][0]["next"].append({"id": "who", "kind": "message", "text": "x"})

    problems = demo_with(two)
    assert problems == [
        "dialogs[0].cards[0].answers[0].next[1]: live chat card 'live' must be the last card of its branch"
        " (dialogs[0].cards[0].answers[0].next)",
        "dialogs[0].cards[0].answers[0].next[2]: card id 'who' is used twice (also at"
        " cards[0].answers[0].next[0])",
    ]


def test_routing_targets_must_exist() -> None:
    def unknown(data: dict[str, Any]) -> None:
        rule(data, 0)["route"] = {"agent": "nobody@example.com"}
        rule(data, 1)["route"] = {"team": "apac"}

    assert demo_with(unknown) == [
        f"{RULES}[0].route: unknown agent 'nobody@example.com' (card 'live')",
        f"{RULES}[1].route: unknown team 'apac' (card 'live')",
    ]


def test_an_unknown_routing_mode_is_refused() -> None:
    problems = demo_with(lambda d: live_card(d)["routing"].update(mode="random"))
    assert problems[0].startswith("dialogs[0].cards[0].answers[0].next[1].routing: Input tag 'random'")
