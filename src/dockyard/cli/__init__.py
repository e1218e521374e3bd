"""The `dockyard` command. Subcommand modules load lazily so that `dockyard executor` starts fast.

Commands act on a running server through its APIs (--url or DOCKYARD_URL, default
http://127.0.0.1:8080; --user/--password or --token, or DOCKYARD_USER/DOCKYARD_PASSWORD/
DOCKYARD_TOKEN). Offline maintenance commands (`registry gc`, `user ... --data-dir`) work on the
data directory of a server instead and never create one. `up` serves; `executor`, `build`,
`image` and `dockerfile` work alone, like Kaniko's executor."""

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
    "repos": ("dockyard.cli.repos_cmd", "git repositories on the server: list, create, delete"),
    "orgs": ("dockyard.cli.orgs_cmd", "organisations on the server: list, create"),
    "webhooks": ("dockyard.cli.webhooks_cmd", "a repository's webhooks: list, add, delete"),
    "images": ("dockyard.cli.images_cmd", "the registry's repositories, tags and artifacts; delete a tag"),
    "jobs": ("dockyard.cli.jobs_cmd", "CI jobs: list, build, show a build, print its console"),
    "user": ("dockyard.cli.user_cmd", "users and API tokens (through the server; --data-dir: offline)"),
    "registry": ("dockyard.cli.registry_cmd", "offline maintenance of a data directory: garbage collection"),
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
    """Run one command. A closed stdout (`dockyard ... | head -1`) ends it quietly with 141 (the
    shell's SIGPIPE status); Ctrl-C with 130; a CommandError with one line on stderr."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = args_list[0] if args_list and args_list[0] in COMMANDS else ""
    from dockyard.cli.errors import CommandError

    try:
        code = _run(args_list, command)
        sys.stdout.flush()  # here, not at exit: a closed pipe is reported while we can handle it
    except CommandError as exc:
        print(f"dockyard{' ' + command if command else ''}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"\ndockyard{' ' + command if command else ''}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # whoever read our output has gone: the remaining output goes nowhere, without the
        # interpreter's "Exception ignored ... BrokenPipeError" at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:  # a file named on the command line that cannot be read or written
        print(f"dockyard{' ' + command if command else ''}: {exc}", file=sys.stderr)
        return 1
    if argv is None and command in FAST_EXIT:
        # a whole process per build (a pod): skip the interpreter's teardown of ~300 modules
        sys.stderr.flush()
        os._exit(code)
    return code


def _run(args_list: list[str], wanted: str) -> int:
    parser = argparse.ArgumentParser(prog="dockyard", description=__doc__)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        if wanted and name != wanted:
            continue  # only the command being run needs a parser (start-up time)
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=module.__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
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
    return int(args._module.run(args) or 0)
