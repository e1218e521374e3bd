"""Settings shared by every component of a running Dockyard."""

from dockyard.config.settings import Settings, default_data_dir

__all__ = ["Settings", "default_data_dir"]
