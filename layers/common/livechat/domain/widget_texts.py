"""The widget's words: one table for every language (web/widget/texts.json, which widget.js
carries too), and the checks a workspace's own wording passes. A dialog may say which
language its widget speaks and reword any entry (workspace additions, docs/deploy.md:
`dialogs[].language`, `dialogs[].texts`); the dialog's own cards are written in it anyway."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Literal

Language = Literal["en", "fr", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "fr", "zh")
MAX_LENGTH = 300
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@lru_cache(maxsize=1)
def table() -> dict[str, dict[str, str]]:
    """Language → key → text, as the widget has it. Read on first use: only a dialog that
    rewords something needs it on the functions' side."""
    from importlib import resources

    text = resources.files("livechat").joinpath("web", "widget", "texts.json").read_text(encoding="utf-8")
    data: dict[str, dict[str, str]] = json.loads(text)
    return data


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def problems(texts: Mapping[str, str]) -> Iterator[str]:
    """One line per entry a dialog's `texts` may not hold: an unknown key, an empty or overlong
    text, a placeholder the widget would not fill."""
    english = table()["en"]
    for key, text in texts.items():
        if key not in english:
            yield f"texts.{key}: not a text of the widget (its keys: web/widget/texts.json, e.g. launcher.open)"
        elif not text.strip() or len(text) > MAX_LENGTH:
            yield f"texts.{key}: give 1 to {MAX_LENGTH} characters"
        elif extra := placeholders(text) - placeholders(english[key]):
            allowed = ", ".join(f"{{{p}}}" for p in sorted(placeholders(english[key]))) or "none"
            unknown = ", ".join(f"{{{p}}}" for p in sorted(extra))
            yield f"texts.{key}: {unknown} is not filled in here (placeholders: {allowed})"
