"""Fixtures of the oci tests (real docker-registry peers live in peers.py)."""

from tests.oci.peers import htpasswd_registry, registry, tls_registry, token_registry

__all__ = ["htpasswd_registry", "registry", "tls_registry", "token_registry"]
