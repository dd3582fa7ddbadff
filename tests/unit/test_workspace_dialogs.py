from __future__ import annotations

from typing import Any

import pytest
from livechat.workspace import Dialog
from pydantic import ValidationError

pytestmark = pytest.mark.unit


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
