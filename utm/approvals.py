"""Signed approvals: one approval id per flight, valid in every city it crosses.

The signature (Ed25519) covers the approval id, the flight id, the cities and a digest of the
volumes; the key pair lives in the shared database so that every node signs and verifies with
the same key, and the public key is published so that anyone can verify offline.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from airspace.timing import format_instant
from routes import Volume4D


def new_private_key_text() -> str:
    """A fresh Ed25519 private key, base64 of its raw bytes (to store once, shared)."""
    raw = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw,
                                                      NoEncryption())
    return base64.b64encode(raw).decode()


def volumes_digest(volumes: Sequence[Volume4D]) -> str:
    """SHA-256 of the volumes' canonical wire form."""
    payload = orjson.dumps([v.to_json() for v in volumes], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


def approval_payload(approval_id: str, flight_id: str, jurisdictions: Sequence[str],
                     volumes: Sequence[Volume4D], issued_time: datetime) -> bytes:
    """The exact bytes that are signed."""
    return orjson.dumps(
        {
            "approval_id": approval_id,
            "flight_id": flight_id,
            "jurisdictions": list(jurisdictions),
            "volumes_sha256": volumes_digest(volumes),
            "issued_time": format_instant(issued_time),
        },
        option=orjson.OPT_SORT_KEYS,
    )


class ApprovalSigner:
    """Signs and verifies approvals with the system's key."""

    def __init__(self, private_key_text: str) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key_text))
        self.public_key = self._private.public_key()

    @property
    def public_key_text(self) -> str:
        """The public key, base64 of its raw 32 bytes."""
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def sign(self, payload: bytes) -> str:
        """Base64 signature of ``payload``."""
        return base64.b64encode(self._private.sign(payload)).decode()

    def verify(self, payload: bytes, signature: str) -> bool:
        """True if ``signature`` is this system's signature of ``payload``."""
        return verify_with(self.public_key, payload, signature)


def verify_with(public_key: Ed25519PublicKey, payload: bytes, signature: str) -> bool:
    """Verify a base64 signature with a public key; False for anything malformed."""
    try:
        public_key.verify(base64.b64decode(signature, validate=True), payload)
    except (InvalidSignature, ValueError):
        return False
    return True
