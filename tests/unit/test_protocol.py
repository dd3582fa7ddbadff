from __future__ import annotations

import json

import pytest
from livechat.api.protocol import SendMessage, Typing, parse_frame, request_id_of
from livechat.domain.errors import BadRequest

pytestmark = pytest.mark.unit
LIMIT = 32 * 1024


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "malformed JSON"),
        ("[1, 2]", "JSON object"),
        ("{}", "action: missing"),
        ('{"action": "fly"}', "unknown action 'fly'"),
        ('{"action": "sendMessage", "conversationId": "c1", "text": "hi"}', "clientMessageId"),
        ('{"action": "typing", "conversationId": "c1", "isTyping": "yes"}', "isTyping"),
        ('{"action": "resume", "conversationId": "c1", "afterSeq": -1}', "afterSeq"),
        ('{"action": "resume", "conversationId": "c1", "afterSeq": "3"}', "afterSeq"),
        ('{"action": "accept", "conversationId": "../x", "offerId": "o"}', "conversationId"),
    ],
)
def test_a_bad_frame_is_refused_with_a_message_naming_the_problem(body: str, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_frame(body, LIMIT)
    assert message in err.value.message


def test_a_frame_over_the_size_limit_is_refused_before_parsing() -> None:
    body = json.dumps({"action": "sendMessage", "conversationId": "c", "clientMessageId": "m",
                       "text": "x" * 200_000})
    with pytest.raises(BadRequest, match="frame too large"):
        parse_frame(body, LIMIT)


def test_valid_frames_parse_into_their_models() -> None:
    frame = parse_frame('{"action": "typing", "conversationId": "c1", "isTyping": true}', LIMIT)
    assert isinstance(frame, Typing) and frame.isTyping is True
    msg = parse_frame(json.dumps({"action": "sendMessage", "conversationId": "c1", "text": "héllo",
                                  "clientMessageId": "m-1", "extra": 1}), LIMIT)
    assert isinstance(msg, SendMessage) and msg.text == "héllo"


def test_the_request_id_is_read_even_from_an_invalid_frame() -> None:
    assert request_id_of('{"action": "fly", "requestId": "r9"}') == "r9"
    assert request_id_of("nope") is None
