"""The `dockyard` command. Subcommand modules load lazily so that `dockyard executor` starts fast."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "main"]

# subcommand -> (module, one-line help). Each module has add_arguments(parser) and run(args).
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("dockyard.cli.up", "serve every component on one port"),
    "registry": ("dockyard.cli.registry_cmd", "registry maintenance (garbage collection)"),
    "user": ("dockyard.cli.user_cmd", "manage users and API tokens"),
    "image": ("dockyard.cli.image_cmd", "import a root filesystem as a base image"),
    "executor": ("dockyard.cli.executor_cmd", "build and push an image (Kaniko's flags)"),
    "build": ("dockyard.cli.build_cmd", "build an image from a Dockerfile, no daemon"),
    "dockerfile": ("dockyard.cli.dockerfile_cmd", "inspect Dockerfiles"),
    "credentials": ("dockyard.cli.credentials_cmd", "manage CI credentials on a running server"),
    "gitops": ("dockyard.cli.gitops_cmd", "set image tags in a deploy repo and push"),
    "ci": ("dockyard.cli.ci_cmd", "CI jobs and builds on a running server"),
    "trace": ("dockyard.cli.trace_cmd", "print a build's trace as a table (dockyard trace JOB N)"),
    "k8s": ("dockyard.cli.k8s_cmd", "Dockyard's Kubernetes install (dockyard k8s manifests)"),
    "demo": ("dockyard.cli.demo_cmd", "run the tutorial's push -> image -> deploy loop end to end"),
    "doctor": ("dockyard.cli.doctor_cmd", "check the server and build cluster for the tutorial's pitfalls"),
}


# commands that, run from the command line, end the process as soon as their output is
# flushed: everything they opened is closed and every thread they started has finished
FAST_EXIT = {"executor"}


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="dockyard", description=__doc__)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = args_list[0] if args_list and args_list[0] in COMMANDS else None
    for name, (module_name, help_text) in COMMANDS.items():
        if wanted is not None and name != wanted:
            continue  # only the command being run needs a parser (start-up time)
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_module=module)
    args = parser.parse_args(args_list)
    if args.version:
        from dockyard import __version__

        print(f"dockyard {__version__}")
        return 0
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    code = int(args._module.run(args) or 0)
    if argv is None and args.command in FAST_EXIT:
        # a whole process per build (a pod): skip the interpreter's teardown of ~300 modules
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
