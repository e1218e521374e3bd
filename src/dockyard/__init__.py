"""Dockyard: git server, CI, daemonless image builder and OCI registry in one process."""

__version__ = "0.1.0"
