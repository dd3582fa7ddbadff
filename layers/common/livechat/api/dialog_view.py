"""`GET /dialogs/{dialogId}`: the dialog as the widget renders it, in its language.

Public (no token): the cards a visitor will see anyway, without the server-side routing
configuration of live chat cards (agents' e-mails, team names and rules stay private).
"""

from __future__ import annotations

from typing import Any

from livechat.store import catalog

_BRANCH_KEYS = ("available", "unavailable")


def _public_card(card: dict[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in card.items() if not (key == "routing" and card.get("kind") == "live_chat")}
    if card.get("kind") == "question":
        out["answers"] = [{**answer, "next": _public_cards(answer.get("next") or [])}
                          for answer in card.get("answers") or []]
    for key in _BRANCH_KEYS:
        if card.get("kind") == "availability" and key in card:
            out[key] = _public_cards(card[key] or [])
    return out


def _public_cards(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_public_card(card) for card in cards]


def public_dialog(dialog_id: str) -> dict[str, Any]:
    """The dialog tree without routing configs; `NotFound` for an unknown dialog."""
    dialog = catalog.get_dialog(dialog_id)
    data = dialog.model_dump(by_alias=True, mode="json")
    # language and texts: the widget's words (livechat.domain.widget_texts), docs/protocol.md
    return {"id": dialog.id, "language": dialog.language, "texts": dict(dialog.texts),
            "cards": _public_cards(data["cards"])}
