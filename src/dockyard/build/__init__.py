"""The image builder: Dockerfile -> layers -> image, without a daemon.

Public API (imported lazily, so `dockyard executor --help` stays fast):

    BuildOptions(context, dockerfile, destinations=[], build_args={}, target=None, ...)
        Kaniko's flags with Kaniko's meaning (see dockyard.build.options).
    build(options) -> BuildResult          build only (result.image is a dockyard.oci Image
                                           whose layers are files in the blob cache)
    deliver(image, options, log)           --tar-path / --oci-layout-path / push / digest files
    run_build(options, live=False) -> int  both, with progress on stderr and an exit code
    BuildError, RunFailed, SandboxUnavailable   what a failed build raises
    cache_key(CacheInputs) -> str          the one layer-cache key function
    CacheEvent                             result.cache_events: HIT/MISS per layer step
                                           (instruction, keyword, outcome, key, where)

The Dockerfile parser is `dockyard.build.dockerfile`, .dockerignore is
`dockyard.build.dockerignore`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BuildOptions": "dockyard.build.options",
    "BuildError": "dockyard.build.options",
    "build": "dockyard.build.engine",
    "BuildResult": "dockyard.build.engine",
    "deliver": "dockyard.build.outputs",
    "run_build": "dockyard.build.report",
    "RunFailed": "dockyard.build.sandbox",
    "SandboxUnavailable": "dockyard.build.sandbox",
    "cache_key": "dockyard.build.cache",
    "CacheInputs": "dockyard.build.cache",
    "CacheEvent": "dockyard.build.step_cache",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dockyard.build' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
