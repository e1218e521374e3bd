"""The image builder: Dockerfile -> layers -> image, without a daemon.

Public API (imported lazily, so `dockyard executor --help` stays fast):

    BuildOptions(context, dockerfile, destinations=[], build_args={}, target=None, ...)
        Kaniko's flags with Kaniko's meaning (see dockyard.builder.options).
    build(options) -> BuildResult          build only (result.image is a dockyard.oci Image;
                                           layers are in the blob cache or, for cache hits
                                           and untouched base layers, known by descriptor
                                           and fetched or mounted by `deliver`)
    deliver(image, options, log)           --tar-path / --oci-layout-path / push / digest files
    build_platforms(options) -> [BuildResult]   one build per platform of a comma-separated
                                           options.platform (one result for one platform)
    deliver_platforms(results, options, log) -> digest   several: ONE OCI index (pushed,
                                           --oci-layout-path, digest files); one: `deliver`
    run_build(options, live=False) -> int  both, with progress on stderr and an exit code
    BuildError, RunFailed, SandboxUnavailable   what a failed build raises
    cache_key(CacheInputs) -> str          the one layer-cache key function
    CacheEvent                             result.cache_events: HIT/MISS per layer step
                                           (instruction, keyword, outcome, key, where)
    kaniko_main(argv) -> int               `/kaniko/executor ARGV` (Kaniko's flags): build, push
    unpack_image(image, dir, insecure, log) -> UnpackedImage   an image as a rootfs (for
                                           CI's container steps; same pull and unpack as FROM)

Modules other packages use as namespaces (loaded on first use, like the names above):
`dockerfile` (the parser: `parse`, `stages_needed`, `DockerfileError`), `dockerignore`
(`load_ignore`, `DockerignoreError`), `kaniko` (the executor's flags: `add_arguments`, `run`, ...).
"""

from __future__ import annotations

from dockyard.lazyimport import lazy_exports

_EXPORTS = {
    "BuildOptions": "dockyard.builder.options",
    "BuildError": "dockyard.builder.options",
    "build": "dockyard.builder.engine",
    "BuildResult": "dockyard.builder.engine",
    "deliver": "dockyard.builder.outputs",
    "build_platforms": "dockyard.builder.multiplatform",
    "deliver_platforms": "dockyard.builder.multiplatform",
    "run_build": "dockyard.builder.report",
    "RunFailed": "dockyard.sandbox",
    "SandboxUnavailable": "dockyard.sandbox",
    "cache_key": "dockyard.builder.cache",
    "CacheInputs": "dockyard.builder.cache",
    "CacheEvent": "dockyard.builder.step_cache",
    "unpack_image": "dockyard.builder.unpack",
    "kaniko_main": "dockyard.builder.kaniko",
    "UnpackedImage": "dockyard.builder.unpack",
}
_MODULES = ("dockerfile", "dockerignore", "kaniko")

__all__ = sorted([*_EXPORTS, *_MODULES])


__getattr__ = lazy_exports(__name__, {**_EXPORTS, **{m: f"dockyard.builder.{m}" for m in _MODULES}})
