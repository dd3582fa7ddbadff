"""The pure rules of sending a push (livechat.domain.push): what a push service's answer
means, the Topic of a conversation, and how a frame is cut to 3,000 bytes."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from livechat.domain.push import (
    MAX_PAYLOAD_BYTES,
    PushVerdict,
    fit_payload,
    payload_bytes,
    topic_of,
    verdict,
)

OFFER = {"type": "chatOffered", "conversationId": "c1", "offerId": "o1",
         "expiresAt": "2026-12-05T10:00:00.000Z", "acceptTimeoutSeconds": 100}


@pytest.mark.parametrize(("status", "expected"), [
    (200, PushVerdict.DELIVERED), (201, PushVerdict.DELIVERED), (202, PushVerdict.DELIVERED),
    (404, PushVerdict.GONE), (410, PushVerdict.GONE),
    (400, PushVerdict.REFUSED), (401, PushVerdict.REFUSED), (403, PushVerdict.REFUSED),
    (413, PushVerdict.REFUSED),
    (408, PushVerdict.UNKNOWN), (429, PushVerdict.UNKNOWN), (500, PushVerdict.UNKNOWN),
    (502, PushVerdict.UNKNOWN), (503, PushVerdict.UNKNOWN), (None, PushVerdict.UNKNOWN),
])
def test_what_an_answer_means(status: int | None, expected: PushVerdict) -> None:
    assert verdict(status) is expected


def test_the_topic_is_the_first_32_characters_of_base64url_sha256() -> None:
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"conv-42").digest()).decode()[:32]
    assert topic_of("conv-42") == expected
    assert len(topic_of("x" * 500)) == 32 and "=" not in topic_of("y")


def test_a_small_frame_is_sent_as_it_is() -> None:
    frame = {**OFFER, "visitor": {"firstName": "Vera"}, "page": {"url": "https://e.com/"}}
    assert fit_payload(frame) == payload_bytes(frame)
    withdrawn = {"type": "offerWithdrawn", "conversationId": "c1", "offerId": "o1", "reason": "expired"}
    assert json.loads(fit_payload(withdrawn)) == withdrawn


def test_the_page_is_shortened_first_the_referrer_before_what_the_notification_shows() -> None:
    page = {"url": "https://e.com/" + "u" * 2000, "title": "T" * 2000, "referrer": "https://r.com/" + "r" * 2000}
    fitted = json.loads(fit_payload({**OFFER, "visitor": {"firstName": "Vera"}, "page": page}))
    assert fitted["page"]["referrer"] == ""
    assert fitted["page"]["title"] == page["title"]  # what the notification shows first stays
    assert fitted["page"]["url"].startswith("https://e.com/uuu") and fitted["page"]["url"].endswith("…")


def test_the_url_is_shortened_before_the_title() -> None:
    visitor = {"firstName": "Vera", "email": "vera@acme.io", "company": "Acme"}
    frame = {**OFFER, "visitor": visitor, "page": {"url": "https://e.com/" + "a" * 2000,
                                                     "title": "T" * 1500, "referrer": "r"}}
    data = fit_payload(frame)
    fitted = json.loads(data)
    assert len(data) <= MAX_PAYLOAD_BYTES
    assert fitted["visitor"] == visitor  # nothing of the visitor needed to go
    assert fitted["page"]["referrer"] == ""  # the first to go, however short
    assert fitted["page"]["title"] == "T" * 1500
    assert fitted["page"]["url"].startswith("https://e.com/aaa") and fitted["page"]["url"].endswith("…")
    assert len(data) > MAX_PAYLOAD_BYTES - 10  # cut no more than needed


def test_multibyte_and_escaped_text_is_cut_by_bytes() -> None:
    frame = {**OFFER, "visitor": {}, "page": {"title": "Ø\"" * 2000}}
    data = fit_payload(frame)
    assert len(data) <= MAX_PAYLOAD_BYTES
    assert json.loads(data)["page"]["title"].startswith("Ø\"Ø\"")


def test_then_optional_visitor_fields_go_largest_first_and_the_name_stays() -> None:
    visitor = {"firstName": "Vera", "lastName": "Ng", "email": "vera@acme.io",
               "company": "C" * 1800, "notes": "N" * 1500}
    frame = {**OFFER, "visitor": visitor, "page": {"url": "https://e.com/" + "p" * 400}}
    fitted = json.loads(fit_payload(frame))
    assert fitted["page"]["url"] == ""  # the page went first, all of it
    assert "company" not in fitted["visitor"]  # the largest field went next
    assert fitted["visitor"]["notes"] == visitor["notes"]  # and that was enough
    assert (fitted["visitor"]["firstName"], fitted["visitor"]["lastName"]) == ("Vera", "Ng")


def test_a_name_alone_too_long_is_shortened_last() -> None:
    frame = {**OFFER, "visitor": {"firstName": "V" * 5000, "email": "e@x.io"}, "page": {}}
    fitted = json.loads(fit_payload(frame))
    assert "email" not in fitted["visitor"]
    assert fitted["visitor"]["firstName"].startswith("VVV") and fitted["visitor"]["firstName"].endswith("…")
