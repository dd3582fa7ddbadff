"""A conversation as plain-text lines (livechat.outbound.transcripts): what the failure
e-mail, the visitor's transcript e-mail and the inbox's download show. No AWS: `render`
takes the dialog's question texts as an argument."""

from __future__ import annotations

from typing import Any

import pytest
from livechat.domain.snapshots import Conversation, Event
from livechat.domain.states import Status
from livechat.outbound.transcripts import render

pytestmark = pytest.mark.unit

AT = "2026-12-06T09:15:02.123Z"
QUESTIONS = {"ask": "Talk to sales?"}


def conversation(**fields: Any) -> Conversation:
    values: dict[str, Any] = {"conversation_id": "c1", "visitor_id": "v1", "dialog_id": "sales",
                              "status": Status.ENDED, "started_at": AT, "last_activity_at": AT}
    return Conversation(**(values | fields))


def event(kind: str, sender: str, **fields: Any) -> Event:
    return Event(seq=1, kind=kind, type=fields.pop("type", kind), sender=sender, at=AT, **fields)


@pytest.mark.parametrize(("conv", "item", "line"), [
    (conversation(visitor={"firstName": "Vera", "lastName": "Lind"}),
     event("answer", "visitor", card_id="ask", value="Yes"),
     "[2026-12-06 09:15:02 UTC] Vera Lind answered “Talk to sales?”: Yes"),
    (conversation(), event("answer", "visitor", card_id="gone", value="Yes"),  # a card since removed
     "[2026-12-06 09:15:02 UTC] Visitor answered “gone”: Yes"),
    (conversation(visitor={"firstName": "Vera"}),
     event("capture", "visitor", card_id="who", fields={"firstName": "Vera", "email": "vera@acme.io", "size": "10"}),
     "[2026-12-06 09:15:02 UTC] Vera shared First name: Vera, E-mail: vera@acme.io, size: 10"),
    (conversation(agent="alice@example.com", agent_name="Alice Martin"),
     event("message", "agent", text="Hello"),
     "[2026-12-06 09:15:02 UTC] Alice Martin: Hello"),
    (conversation(agent="alice@example.com"), event("message", "agent", text="Hello"),  # no name kept
     "[2026-12-06 09:15:02 UTC] alice@example.com: Hello"),
    (conversation(visitor={"firstName": "Vera"}), event("message", "visitor", text="Hi"),
     "[2026-12-06 09:15:02 UTC] Vera: Hi"),
    (conversation(), event("system", "system", type="fallback", text="We'll e-mail you."),
     "[2026-12-06 09:15:02 UTC] — We'll e-mail you."),
])
def test_each_event_reads_as_one_line_with_its_utc_time(conv: Conversation, item: Event, line: str) -> None:
    assert render(conv, [item], QUESTIONS) == [line]
