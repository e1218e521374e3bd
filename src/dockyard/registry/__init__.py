"""OCI distribution v1.1 registry with a Harbor-style API, on Dockyard's shared auth and store.

Public surface: `Registry` (routes + lifecycle), `MIGRATIONS`, `collect_garbage`.
"""

from dockyard.registry.gc import GCReport, collect_garbage
from dockyard.registry.migrations import MIGRATIONS
from dockyard.registry.service import Registry

__all__ = ["GCReport", "MIGRATIONS", "Registry", "collect_garbage"]
