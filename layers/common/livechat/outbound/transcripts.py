"""A conversation's transcript as plain text, one line per event: the dialog's answers (with
the question they answer), the fields the visitor shared, the chat with each side's name,
and what happened (routing, joined, fallback, ended), each with its UTC time.

One rendering for every reader, so that they never disagree: the failure e-mail ("Transcript
so far"), the visitor's transcript e-mail and the `text` of `getTranscript` that the inbox
downloads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from livechat.domain.errors import NotFound
from livechat.domain.snapshots import Conversation, Event
from livechat.domain.workspace import QuestionCard
from livechat.store import catalog

FIELD_LABELS = {"firstName": "First name", "lastName": "Last name", "email": "E-mail", "company": "Company",
                "jobTitle": "Job title", "phone": "Phone", "country": "Country"}


def visitor_name(visitor: Mapping[str, Any]) -> str:
    name = " ".join(str(visitor[k]) for k in ("firstName", "lastName") if visitor.get(k))
    return name or "Visitor"


def agent_name(conv: Conversation) -> str:
    return conv.agent_name or conv.agent or "Agent"


def _when(at: str) -> str:
    """`2026-12-06T09:15:02.123Z` as `2026-12-06 09:15:02 UTC` (a reader's time zone is not known)."""
    return f"{at[:10]} {at[11:19]} UTC" if len(at) >= 19 else at


def _fields(fields: Mapping[str, Any]) -> str:
    return ", ".join(f"{FIELD_LABELS.get(k, k)}: {v}" for k, v in fields.items())


def line(event: Event, *, visitor: str, agent: str, questions: Mapping[str, str]) -> str:
    if event.kind == "answer":
        asked = questions.get(event.card_id or "", event.card_id or "a question")
        said = f"{visitor} answered “{asked}”: {event.value}"
    elif event.kind == "capture":
        said = f"{visitor} shared {_fields(event.fields or {})}"
    elif event.kind == "message":
        who = visitor if event.sender == "visitor" else agent if event.sender == "agent" else "System"
        said = f"{who}: {event.text}"
    else:
        said = f"— {event.text or event.type}"
    return f"[{_when(event.at)}] {said}"


def render(conv: Conversation, events: Sequence[Event], questions: Mapping[str, str]) -> list[str]:
    """Every event of `conv` as a line; `questions`: the dialog's question texts by card id."""
    visitor, agent = visitor_name(conv.visitor), agent_name(conv)
    return [line(e, visitor=visitor, agent=agent, questions=questions) for e in events]


def questions_of(dialog_id: str) -> dict[str, str]:
    """The question texts of a dialog as it is now (a card since removed shows its id)."""
    try:
        dialog = catalog.get_dialog(dialog_id)
    except NotFound:
        return {}
    return {card.id: card.text for _, card in dialog.walk() if isinstance(card, QuestionCard)}


def lines(conv: Conversation, events: Sequence[Event]) -> list[str]:
    return render(conv, events, questions_of(conv.dialog_id))
