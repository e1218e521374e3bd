"""Deploying Dockyard itself: its own image (built by its own builder, no daemon) and its
Kubernetes manifests.

Public API (imported lazily):

    base_layout(cache_dir, log) -> str     `oci-layout://DIR:TAG` of the Debian base (mmdebstrap,
                                           cached under a lock)
    context_dir(source, log)               a build context: the image's Dockerfile + wheels/
    build_argv(context, base, names, ...)  the `dockyard build` arguments for it
    source_tree() -> Path                  the checkout this Dockyard runs from
    default_cache_dir() -> Path            where the base is cached by default
    SelfImageError                         a step failed (names it and the fix)
    render(Values(namespace=..., image=...)) -> [objects]   the kustomize base with values
    base_objects(), to_yaml(objects)       the base as kustomize builds it; multi-document YAML
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.lazyimport import lazy_exports

_EXPORTS = {
    "base_layout": "dockyard.deploy.selfimage",
    "context_dir": "dockyard.deploy.selfimage",
    "build_argv": "dockyard.deploy.selfimage",
    "source_tree": "dockyard.deploy.selfimage",
    "default_cache_dir": "dockyard.deploy.selfimage",
    "SelfImageError": "dockyard.deploy.selfimage",
    "Values": "dockyard.deploy.manifests",
    "render": "dockyard.deploy.manifests",
    "base_objects": "dockyard.deploy.manifests",
    "to_yaml": "dockyard.deploy.manifests",
}

__all__ = ["SelfImageError", "Values", "base_layout", "base_objects", "build_argv", "context_dir",
           "default_cache_dir", "render", "source_tree", "to_yaml"]

if TYPE_CHECKING:
    from dockyard.deploy.manifests import Values, base_objects, render, to_yaml
    from dockyard.deploy.selfimage import (
        SelfImageError,
        base_layout,
        build_argv,
        context_dir,
        default_cache_dir,
        source_tree,
    )

__getattr__ = lazy_exports(__name__, _EXPORTS)
