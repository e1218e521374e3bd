"""`dockyard build -t IMAGE [-f Dockerfile] CONTEXT`: the executor's engine with docker-build
style arguments and a live progress display; `--push` sends the image to every `-t`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dockyard.cli.executor_cmd import add_bool, add_build_arguments, add_registry_arguments

    parser.allow_abbrev = False
    parser.add_argument("context", nargs="?", default=".", help="build context directory")
    parser.add_argument("-t", "--tag", action="append", default=[], metavar="IMAGE",
                        help="name of the image (repeatable); pushed with --push")
    parser.add_argument("-f", "--file", default=None,
                        help="Dockerfile (default: CONTEXT/Dockerfile)")
    add_build_arguments(parser, pflag=False)
    add_registry_arguments(parser, pflag=False)
    add_bool(parser, "--push", help="push the image to every -t name", pflag=False)
    parser.add_argument("-o", "--tar-path", type=Path, help="save a docker-archive tarball here")
    parser.add_argument("--oci-layout-path", type=Path, help="save an OCI layout here")
    parser.add_argument("--digest-file", type=Path, help="write the image digest here")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the digest")


def run(args: argparse.Namespace) -> int:
    from dockyard.build.options import BuildOptions, default_cache_dir
    from dockyard.build.report import run_build
    from dockyard.cli.executor_cmd import (
        parse_key_values,
        parse_secrets,
        registry_extras,
        resolve_context,
        resolve_dockerfile,
    )

    context = resolve_context(args.context)
    dockerfile = resolve_dockerfile(args.file, context) if args.file else \
        resolve_dockerfile("Dockerfile", context)
    if args.push and not args.tag:
        print("error: --push needs at least one -t IMAGE", file=sys.stderr)
        return 2
    labels = parse_key_values(args.label, "--label", need_value=True)
    options = BuildOptions(
        context=context,
        dockerfile=dockerfile,
        destinations=list(args.tag),
        build_args=parse_key_values(args.build_arg, "--build-arg", need_value=False),
        target=args.target,
        labels={k: v or "" for k, v in labels.items()},
        platform=args.custom_platform,
        insecure=args.insecure,
        insecure_pull=args.insecure_pull,
        insecure_registries=list(args.insecure_registry),
        skip_tls_verify=args.skip_tls_verify,
        skip_tls_verify_pull=args.skip_tls_verify_pull,
        skip_tls_verify_registries=list(args.skip_tls_verify_registry),
        registry_mirrors=list(args.registry_mirror),
        **registry_extras(args),
        push_retry=args.push_retry,
        no_push=not args.push,
        tar_path=args.tar_path,
        oci_layout_path=args.oci_layout_path,
        digest_file=args.digest_file,
        reproducible=args.reproducible,
        cache=args.cache,
        cache_repo=args.cache_repo,
        cache_dir=args.cache_dir or default_cache_dir(),
        cache_ttl_seconds=args.cache_ttl,
        no_cache=args.no_cache,
        secrets=parse_secrets(args.secret),
        timeout=args.timeout,
        verbosity="warn" if args.quiet else "info",
    )
    return run_build(options, live=True)
