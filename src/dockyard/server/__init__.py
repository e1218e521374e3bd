"""Composes every component into one ASGI app on one port."""

from dockyard.server.app import build_app

__all__ = ["build_app"]
