"""A small software authenticator for tests: P-256 key, `fmt: none`, UP and UV flags.

It answers py_webauthn's options JSON the way a browser plus a platform authenticator would,
with switches to misbehave (no UV, wrong origin, stale sign count) for the failure tests.
"""
import base64
import hashlib
import json
import os
import struct

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    def __init__(self, origin: str = "http://localhost", rp_id: str = "localhost"):
        self.origin = origin
        self.rp_id = rp_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.user_verified = True

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def _flags(self, extra: int = 0) -> int:
        return UP | (UV if self.user_verified else 0) | extra

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def register(self, options: dict | str, origin: str | None = None) -> str:
        """The JSON a browser would send back from navigator.credentials.create."""
        options = json.loads(options) if isinstance(options, str) else options
        rp_id = options.get("rp", {}).get("id", self.rp_id)
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([self._flags(AT)])
                     + struct.pack(">I", self.sign_count) + b"\0" * 16
                     + struct.pack(">H", len(self.credential_id)) + self.credential_id
                     + self._cose_key())
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {"clientDataJSON": b64url(client_data),
                         "attestationObject": b64url(attestation), "transports": ["internal"]},
            "clientExtensionResults": {},
        })

    def assert_(self, options: dict | str, origin: str | None = None,
                sign_count: int | None = None, credential_id: bytes | None = None) -> str:
        """The JSON a browser would send back from navigator.credentials.get."""
        options = json.loads(options) if isinstance(options, str) else options
        rp_id = options.get("rpId", self.rp_id)
        self.sign_count += 1
        count = self.sign_count if sign_count is None else sign_count
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([self._flags()])
                     + struct.pack(">I", count))
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        cred = credential_id or self.credential_id
        return json.dumps({
            "id": b64url(cred), "rawId": b64url(cred), "type": "public-key",
            "response": {"clientDataJSON": b64url(client_data),
                         "authenticatorData": b64url(auth_data),
                         "signature": b64url(signature), "userHandle": None},
            "clientExtensionResults": {},
        })
