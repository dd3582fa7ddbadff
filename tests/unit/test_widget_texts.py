"""The widget's words: one table (web/widget/texts.json) complete in every language, and the
checks a workspace's rewording passes."""

from __future__ import annotations

from typing import Any

import pytest
from livechat.domain import widget_texts
from livechat.domain.workspace_document import workspace_problems

pytestmark = pytest.mark.unit


def test_every_language_says_every_text_with_the_same_placeholders() -> None:
    table = widget_texts.table()
    english = table["en"]

    assert set(table) == set(widget_texts.LANGUAGES)
    for language, texts in table.items():
        assert set(texts) == set(english), language
        for key, text in texts.items():
            assert text.strip(), (language, key)
            assert widget_texts.placeholders(text) == widget_texts.placeholders(english[key]), (language, key)


def dialog(**extra: Any) -> dict[str, Any]:
    return {"dialogs": [{"id": "d", "cards": [{"id": "m", "kind": "message", "text": "Hi"}], **extra}]}


def test_a_dialog_may_pick_a_language_and_reword_any_text() -> None:
    assert workspace_problems(dialog(language="zh", texts={"agent.joined": "{name} 来了", "restart": "再聊"})) == []


@pytest.mark.parametrize(("extra", "expected"), [
    ({"language": "de"}, "dialogs[0].language: Input should be 'en', 'fr' or 'zh'"),
    ({"texts": {"launcher.opn": "Chat"}},
     "dialogs[0]: texts.launcher.opn: not a text of the widget (its keys: web/widget/texts.json, e.g. launcher.open)"),
    ({"texts": {"restart": " "}}, "dialogs[0]: texts.restart: give 1 to 300 characters"),
    ({"texts": {"restart": "x" * 301}}, "dialogs[0]: texts.restart: give 1 to 300 characters"),
    ({"texts": {"agent.joined": "{agent} is here"}},
     "dialogs[0]: texts.agent.joined: {agent} is not filled in here (placeholders: {name})"),
    ({"texts": {"restart": "Again {name}"}},
     "dialogs[0]: texts.restart: {name} is not filled in here (placeholders: none)"),
])
def test_a_rewording_the_widget_could_not_show_is_refused_with_its_path(extra: dict[str, Any], expected: str) -> None:
    assert workspace_problems(dialog(**extra)) == [expected]
