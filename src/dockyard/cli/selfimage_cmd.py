"""`dockyard image self --push REF`: Dockyard's own image (server, build-pod agent, Kaniko
stand-in) built by Dockyard's builder from this source tree on a Debian base made locally."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_self_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("self", help="build Dockyard's own image (no daemon) and push it",
                            description=__doc__)
    parser.add_argument("--push", action="append", default=[], metavar="REF",
                        help="push the image here (repeatable)")
    parser.add_argument("--base", metavar="REF",
                        help="base image (oci-layout://DIR[:TAG] or a registry reference) with "
                             "python3.11, git, ca-certificates and busybox-static; default: a "
                             "Debian made with mmdebstrap, cached")
    parser.add_argument("--refresh-base", action="store_true",
                        help="make the cached Debian base again (to pick up Debian's updates)")
    parser.add_argument("--source", type=Path, help="Dockyard source tree (default: this one's)")
    parser.add_argument("--cache-dir", type=Path,
                        help="where the base is cached (default: ~/.cache/dockyard/self-image)")
    parser.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                        help="a registry to reach over plain HTTP (repeatable)")
    parser.add_argument("--oci-layout-path", type=Path, help="also save an OCI layout here")
    parser.add_argument("--tar-path", type=Path, help="also save a docker-archive tarball here")
    parser.add_argument("--digest-file", type=Path, help="write the image digest here")


def run_self(args: argparse.Namespace) -> int:
    from dockyard import deploy
    from dockyard.cli import main

    if not (args.push or args.oci_layout_path or args.tar_path):
        print("dockyard image self: nothing to do: give --push REF, --oci-layout-path or "
              "--tar-path", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(f"dockyard image self: {message}", file=sys.stderr, flush=True)

    try:
        base = args.base or deploy.base_layout(args.cache_dir or deploy.default_cache_dir(), log,
                                                   refresh=args.refresh_base)
        with deploy.context_dir(args.source or deploy.source_tree(), log) as context:
            extra: list[str] = []
            for flag, value in (("--oci-layout-path", args.oci_layout_path),
                                ("--tar-path", args.tar_path), ("--digest-file", args.digest_file)):
                if value is not None:
                    extra += [flag, str(value)]
            log(f"building on {base}")
            from dockyard import __version__

            names = list(args.push) or [f"dockyard:{__version__}"]  # the layout's / tar's tag
            return main(["build", *deploy.build_argv(context, base, names, push=bool(args.push),
                                              insecure_registries=args.insecure_registry,
                                              extra=extra)])
    except deploy.SelfImageError as exc:
        print(f"dockyard image self: {exc}", file=sys.stderr)
        return 1
