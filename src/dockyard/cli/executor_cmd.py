"""Kaniko-compatible executor: `dockyard executor --dockerfile=Dockerfile --context=$(pwd)
--destination=host/repo:tag ...` builds without a daemon and pushes, with Kaniko's flags.
(The flags and their meaning live in `dockyard.builder.kaniko`.)"""

from dockyard.builder.kaniko import (
    add_arguments,
    add_bool,
    add_build_arguments,
    add_registry_arguments,
    options_from,
    parse_duration,
    parse_secrets,
    run,
)

__all__ = [
    "add_arguments",
    "add_bool",
    "add_build_arguments",
    "add_registry_arguments",
    "options_from",
    "parse_duration",
    "parse_secrets",
    "run",
]
