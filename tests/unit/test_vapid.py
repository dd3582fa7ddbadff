"""livechat.domain.vapid: the deployment's VAPID key pair as browsers and senders read it
(protocol.md second round, Web Push: base64url of the uncompressed P-256 point)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from livechat.domain import vapid

pytestmark = pytest.mark.unit


def decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_public_key_is_base64url_of_a_65_byte_uncompressed_point() -> None:
    pair = vapid.generate()

    raw = decode(pair.public_key)

    assert len(raw) == 65 and raw[0] == 0x04
    assert "=" not in pair.public_key and "+" not in pair.public_key and "/" not in pair.public_key
    # A point on P-256, as PushManager.subscribe's applicationServerKey must be.
    point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    assert point.public_bytes(serialization.Encoding.X962,
                              serialization.PublicFormat.UncompressedPoint) == raw


def test_the_private_key_is_32_bytes_and_matches_the_public_key() -> None:
    pair = vapid.generate()

    private = pair.private()
    signature = private.sign(b"jwt", ec.ECDSA(hashes.SHA256()))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), decode(pair.public_key))

    assert len(decode(pair.private_key)) == 32 and "=" not in pair.private_key
    assert vapid.public_key_of(private) == pair.public_key
    public.verify(signature, b"jwt", ec.ECDSA(hashes.SHA256()))  # raises if they do not match


def test_the_pem_and_the_raw_private_key_are_the_same_key() -> None:
    pair = vapid.generate()

    loaded = serialization.load_pem_private_key(pair.private_pem().encode("ascii"), password=None)

    assert pair.private_pem().startswith("-----BEGIN PRIVATE KEY-----")
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert vapid.pair_of(loaded) == pair


def test_each_generated_pair_is_new() -> None:
    assert vapid.generate() != vapid.generate()


def test_a_pair_reads_back_from_its_private_key() -> None:
    pair = vapid.generate()

    assert vapid.pair_of(vapid.private_key_from(pair.private_key)) == pair


def test_a_private_number_of_leading_zero_bytes_keeps_32_bytes() -> None:
    pair = vapid.pair_of(ec.derive_private_key(1, ec.SECP256R1()))

    assert decode(pair.private_key) == (1).to_bytes(32, "big")
    assert vapid.private_key_from(pair.private_key).private_numbers().private_value == 1


@pytest.mark.parametrize("bad", ["", "AAAA", "not base64url!", vapid.b64url(b"\x01" * 33)])
def test_a_private_key_that_is_not_32_bytes_of_base64url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        vapid.private_key_from(bad)


def test_a_key_on_another_curve_is_refused() -> None:
    with pytest.raises(ValueError, match="P-256"):
        vapid.pair_of(ec.generate_private_key(ec.SECP384R1()))
