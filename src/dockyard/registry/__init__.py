"""OCI distribution v1.1 registry with a Harbor-style API, on Dockyard's shared auth and store.

Public surface: `Registry(services)` (a `dockyard.services.Component`), `MIGRATIONS`,
`RegistryMetadata` (repositories, tags, manifests in the database), `collect_garbage`,
`open_blob_storage` (the storage backend a `--storage` URL names). For the web UI: `Registry.harbor`'s
`visible_project`, `role`, `top_level` and `delete_tag` (the Harbor API's own checks; refusals
are `HarborError` with `.status` and `.message`).
"""

from dockyard.registry.gc import GCReport, collect_garbage
from dockyard.registry.harbor import HarborError
from dockyard.registry.metadata import RegistryMetadata
from dockyard.registry.migrations import MIGRATIONS
from dockyard.registry.service import Registry
from dockyard.registry.storage import StorageError
from dockyard.registry.storage_select import open_blob_storage

__all__ = ["GCReport", "HarborError", "MIGRATIONS", "Registry", "RegistryMetadata", "StorageError",
           "collect_garbage", "open_blob_storage"]
