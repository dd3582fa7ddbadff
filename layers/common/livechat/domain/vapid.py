"""The deployment's VAPID key pair (RFC 8292; spec/protocol.md "Second round": Web Push), as
pure functions: making a pair and writing it the way browsers and senders read it.

- The public key is what `PushManager.subscribe({applicationServerKey})` takes and what
  `/config.json` serves as `vapidPublicKey`: base64url, without padding, of the
  uncompressed P-256 point (65 bytes, 0x04 first).
- The private key is kept as base64url (no padding) of its 32-byte private number, which
  py-vapid reads as it is (`Vapid.from_string` / `Vapid.from_raw`, what pywebpush calls with
  a string `vapid_private_key`); `private_pem` gives the PKCS#8 PEM for anything else.

Where the pair is kept, and that it is made once per deployment: livechat.store.vapid.

`cryptography` is imported by the functions that use it: the handlers import this module on
their way to the push sender, and only making a pair or sending a push needs the library.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

PUBLIC_KEY_BYTES = 65  # 0x04 || X (32) || Y (32)
PRIVATE_KEY_BYTES = 32


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2), as Web Push writes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of base64url text with or without padding; ValueError when it is not."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


@dataclass(frozen=True)
class VapidKeyPair:
    """A P-256 key pair: `public_key` (the uncompressed point) and `private_key` (the private
    number), both base64url without padding."""

    public_key: str
    private_key: str

    def private(self) -> ec.EllipticCurvePrivateKey:
        return private_key_from(self.private_key)

    def private_pem(self) -> str:
        """The private key as PKCS#8 PEM (unencrypted)."""
        from cryptography.hazmat.primitives import serialization  # on demand: see the docstring

        return self.private().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode("ascii")


def public_key_of(key: ec.EllipticCurvePrivateKey) -> str:
    """The public half of `key`: base64url of its uncompressed point."""
    from cryptography.hazmat.primitives import serialization  # on demand: see the docstring

    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    return b64url(point)


def private_key_from(private_key: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 key whose private number `private_key` (base64url, 32 bytes) holds."""
    from cryptography.hazmat.primitives.asymmetric import ec  # on demand: see the docstring

    raw = b64url_decode(private_key)
    if len(raw) != PRIVATE_KEY_BYTES:
        raise ValueError(f"a P-256 private key is {PRIVATE_KEY_BYTES} bytes, not {len(raw)}")
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def pair_of(key: ec.EllipticCurvePrivateKey) -> VapidKeyPair:
    from cryptography.hazmat.primitives.asymmetric import ec  # on demand: see the docstring

    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"VAPID keys are P-256, not {key.curve.name}")
    raw = key.private_numbers().private_value.to_bytes(PRIVATE_KEY_BYTES, "big")
    return VapidKeyPair(public_key=public_key_of(key), private_key=b64url(raw))


def generate() -> VapidKeyPair:
    """A new random P-256 key pair."""
    from cryptography.hazmat.primitives.asymmetric import ec  # on demand: see the docstring

    return pair_of(ec.generate_private_key(ec.SECP256R1()))
