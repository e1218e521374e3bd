"""Kaniko-compatible executor: `dockyard executor --dockerfile=Dockerfile --context=$(pwd)
--destination=host/repo:tag ...` builds without a daemon and pushes, with Kaniko's flags.
(The flags and their meaning live in `dockyard.builder.kaniko`.)"""

from dockyard.builder import kaniko

add_arguments = kaniko.add_arguments
add_bool = kaniko.add_bool
add_build_arguments = kaniko.add_build_arguments
add_registry_arguments = kaniko.add_registry_arguments
options_from = kaniko.options_from
parse_duration = kaniko.parse_duration
parse_secrets = kaniko.parse_secrets
run = kaniko.run

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
