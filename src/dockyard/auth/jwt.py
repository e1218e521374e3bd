"""Compact HS256 JSON Web Tokens for the registry's token flow (RFC 7519), no dependency needed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


class JWTError(Exception):
    """The token is malformed, forged or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


class TokenSigner:
    """Signs and verifies short-lived tokens with one server-side key."""

    def __init__(self, key: bytes, issuer: str = "dockyard") -> None:
        if len(key) < 32:
            raise ValueError("signing key must be at least 32 bytes")
        self._key = key
        self.issuer = issuer

    def sign(self, claims: dict[str, Any], ttl_seconds: int) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "iat": now, "nbf": now - 5, "exp": now + ttl_seconds, **claims}
        header = {"alg": "HS256", "typ": "JWT"}
        signing_input = (
            _b64(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64(json.dumps(body, separators=(",", ":")).encode())
        )
        sig = hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64(sig)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; raises JWTError for anything else."""
        parts = token.split(".")
        if len(parts) != 3:
            raise JWTError("token is not a JWT")
        signing_input = parts[0] + "." + parts[1]
        expected = hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest()
        try:
            given = _unb64(parts[2])
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, json.JSONDecodeError) as exc:
            raise JWTError("token is not a JWT") from exc
        if not hmac.compare_digest(expected, given) or header.get("alg") != "HS256":
            raise JWTError("token signature is invalid")
        now = time.time()
        if not isinstance(claims, dict) or claims.get("iss") != self.issuer:
            raise JWTError("token was not issued here")
        if claims.get("exp", 0) < now or claims.get("nbf", 0) > now:
            raise JWTError("token has expired")
        return claims
