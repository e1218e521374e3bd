"""Integration tests reuse the builder's fixtures (namespaces check, busybox bases)."""

from tests.build.conftest import needs_namespaces

__all__ = ["needs_namespaces"]
