"""Integration tests reuse the builder's fixtures (namespaces check, busybox bases)."""

from tests.builder.conftest import needs_namespaces

__all__ = ["needs_namespaces"]
