"""Dockyard's own image (tests.image.fixtures), pushed to the session server."""

from tests.image.fixtures import dockyard_image

__all__ = ["dockyard_image"]
