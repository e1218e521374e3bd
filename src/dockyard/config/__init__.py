"""Settings shared by every component of a running Dockyard: `Settings.from_environ()` is the one
place the server side reads its environment."""

from dockyard.config.settings import (
    CI_EXECUTORS,
    DEFAULT_KANIKO_IMAGES,
    ENVIRONMENT,
    Settings,
    default_data_dir,
)

__all__ = ["CI_EXECUTORS", "DEFAULT_KANIKO_IMAGES", "ENVIRONMENT", "Settings", "default_data_dir"]
