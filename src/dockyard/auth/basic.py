"""Parse an HTTP Authorization header into what it claims, without judging it."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


@dataclass(frozen=True)
class AuthHeader:
    """`scheme` is basic, bearer or token; basic carries username+secret, others only secret."""

    scheme: str
    secret: str
    username: str = ""


def parse_authorization(header: str | None) -> AuthHeader | None:
    """Basic (RFC 7617), Bearer (RFC 6750) and Gitea's `token <t>`; None when absent or garbled."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if not value:
        return None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, secret = decoded.partition(":")
        if not sep:
            return None
        return AuthHeader("basic", secret, username)
    if scheme in ("bearer", "token"):
        return AuthHeader(scheme, value)
    return None
