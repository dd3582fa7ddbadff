"""Stored conversation events as wire frames (for delivery and `resume`) and as
transcript items."""

from __future__ import annotations

from typing import Any

from livechat.store.tables import EventModel, plain

# The server event each stored answer/capture replays as (protocol additions, see
# docs/protocol.md): they let `resume` fill every gap, not only messages.
ANSWER_RECORDED = "answerRecorded"
CAPTURE_RECORDED = "captureRecorded"


def frame_of(conversation_id: str, event: EventModel) -> dict[str, Any]:
    data = dict(plain(event.data) or {})
    frame: dict[str, Any] = {"type": event.type, "conversationId": conversation_id,
                             "seq": int(event.seq)}
    if event.type == "message":
        frame.update({"from": event.sender, "text": event.text, "at": event.at,
                      "clientMessageId": event.client_message_id})
    elif event.type == ANSWER_RECORDED:
        frame.update({"cardId": event.card_id, "value": event.value, "at": event.at})
    elif event.type == CAPTURE_RECORDED:
        frame.update({"cardId": event.card_id, "fields": plain(event.fields) or {},
                      "at": event.at})
    else:
        frame.update(data)
        frame["at"] = event.at
    return frame


def transcript_item(event: EventModel) -> dict[str, Any]:
    item: dict[str, Any] = {"seq": int(event.seq), "kind": event.kind, "from": event.sender,
                            "at": event.at}
    if event.text is not None:
        item["text"] = event.text
    if event.card_id is not None:
        item["cardId"] = event.card_id
    if event.value is not None:
        item["value"] = event.value
    if event.fields is not None:
        item["fields"] = plain(event.fields)
    if event.client_message_id is not None:
        item["clientMessageId"] = event.client_message_id
    if event.kind == "system":
        item["event"] = event.type
    return item
