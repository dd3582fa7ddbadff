"""The deployment's VAPID key pair on moto (protocol.md second round, Web Push; issue 13):
made by the first /config.json with no manual step, the same for later requests and other
containers, one pair when two creators race (the loser reads the winner's, never its own),
and the private half readable by the senders' function and matching the public key served."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from livechat import runtime
from livechat.domain import vapid as vapid_rules
from livechat.store import vapid
from livechat.store.keys import VAPID_PRIVATE_PK, VAPID_PRIVATE_SK, VAPID_PUBLIC_PK, VAPID_PUBLIC_SK

from functions.web import app as web_app
from livechat_local import events
from tests.support.aws import REGION, TABLE, Gateway
from tests.support.world import LambdaContext

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:No application metrics to publish")]

HOST = "abc123.execute-api.us-east-1.amazonaws.com"


def config_json() -> dict[str, Any]:
    event = events.http_v2("GET", "/config.json", "", domain=HOST,
                           headers={"Host": HOST, "X-Forwarded-Proto": "https"})
    response: dict[str, Any] = web_app.handler(event, LambdaContext())
    assert response["statusCode"] == 200
    body: dict[str, Any] = json.loads(response["body"])
    return body


def vapid_items() -> dict[tuple[str, str], dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=REGION)
    items = client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return {(i["pk"]["S"], i["sk"]["S"]): {k: v.get("S") for k, v in i.items()}
            for i in items if i["pk"]["S"].startswith("VAPID")}


def decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_first_config_json_makes_the_pair_and_later_ones_and_containers_keep_it(aws: Gateway) -> None:
    # Given a fresh deployment: no key pair
    assert vapid_items() == {}

    # When the pages read /config.json, again, and from new containers
    first = config_json()["vapidPublicKey"]
    again = config_json()["vapidPublicKey"]
    runtime.reset()  # another container: nothing cached
    other = config_json()["vapidPublicKey"]
    runtime.reset()
    sender = vapid.key_pair()

    # Then one pair was made, with a public item and a private item, and everyone sees it
    raw = decode(first)
    assert len(raw) == 65 and raw[0] == 0x04 and "=" not in first
    assert first == again == other == sender.public_key
    items = vapid_items()
    assert set(items) == {(VAPID_PUBLIC_PK, VAPID_PUBLIC_SK), (VAPID_PRIVATE_PK, VAPID_PRIVATE_SK)}
    assert items[(VAPID_PUBLIC_PK, VAPID_PUBLIC_SK)]["public_key"] == first
    assert "private_key" not in items[(VAPID_PUBLIC_PK, VAPID_PUBLIC_SK)]
    assert items[(VAPID_PRIVATE_PK, VAPID_PRIVATE_SK)]["private_key"] == sender.private_key


def test_the_private_key_the_senders_read_signs_for_the_public_key_served(aws: Gateway) -> None:
    served = config_json()["vapidPublicKey"]
    runtime.reset()  # a sender's container

    pair = vapid.key_pair()
    signature = pair.private().sign(b"vapid jwt", ec.ECDSA(hashes.SHA256()))

    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), decode(served))
    public.verify(signature, b"vapid jwt", ec.ECDSA(hashes.SHA256()))
    assert pair.public_key == served
    assert vapid_rules.pair_of(vapid_rules.private_key_from(pair.private_key)) == pair
    assert pair.private_pem().startswith("-----BEGIN PRIVATE KEY-----")


def test_a_sender_first_makes_the_pair_and_the_pages_then_serve_it(aws: Gateway) -> None:
    pair = vapid.key_pair()
    runtime.reset()

    assert config_json()["vapidPublicKey"] == pair.public_key
    assert len(vapid_items()) == 2


def test_a_second_creation_fails_its_condition_and_changes_nothing(aws: Gateway) -> None:
    winner = vapid_rules.generate()
    loser = vapid_rules.generate()

    assert vapid.create(winner) is True
    before = vapid_items()
    assert vapid.create(loser) is False

    assert vapid_items() == before
    assert vapid.public_key() == winner.public_key
    assert vapid.key_pair() == winner


def test_a_half_pair_is_never_completed_with_another_half(aws: Gateway) -> None:
    # Given only a public item (say someone deleted the private one)
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=TABLE, Item={
        "pk": {"S": VAPID_PUBLIC_PK}, "sk": {"S": VAPID_PUBLIC_SK},
        "public_key": {"S": vapid_rules.generate().public_key}, "created_at": {"S": "x"}})

    # Then nothing makes a new private key for an old public one
    assert vapid.create(vapid_rules.generate()) is False
    with pytest.raises(vapid.VapidKeysMissing):
        vapid.key_pair()
    assert (VAPID_PRIVATE_PK, VAPID_PRIVATE_SK) not in vapid_items()


@pytest.mark.parametrize("reader", ["public", "private"])
def test_racing_creators_end_with_one_pair_and_all_read_the_winners(
    aws: Gateway, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    # Given several containers that all found no pair and each made its own
    racers = 6
    made: list[vapid_rules.VapidKeyPair] = []
    barrier = threading.Barrier(racers)
    generate = vapid_rules.generate

    def generate_then_wait() -> vapid_rules.VapidKeyPair:
        pair = generate()
        made.append(pair)
        if len(made) <= racers:  # a retry after a lost race does not wait for the others
            barrier.wait(timeout=10)  # everyone has read "no pair" and made one: now all write
        return pair

    monkeypatch.setattr(vapid_rules, "generate", generate_then_wait)
    seen: list[str] = []
    errors: list[BaseException] = []

    def container() -> None:
        try:
            if reader == "public":
                seen.append(vapid.public_key())
            else:
                seen.append(vapid.key_pair().private_key)
        except BaseException as exc:
            errors.append(exc)

    # When they all write at once (no container cache: each thread is a new container)
    threads = [threading.Thread(target=container) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then exactly one pair is stored, and every container returns that one
    assert errors == []
    items = vapid_items()
    stored_public = items[(VAPID_PUBLIC_PK, VAPID_PUBLIC_SK)]["public_key"]
    stored_private = items[(VAPID_PRIVATE_PK, VAPID_PRIVATE_SK)]["private_key"]
    (winner,) = [p for p in made if p.public_key == stored_public]
    assert winner.private_key == stored_private
    assert len(made) >= racers
    expected = stored_public if reader == "public" else stored_private
    assert seen == [expected] * racers
    runtime.reset()
    assert config_json()["vapidPublicKey"] == stored_public
