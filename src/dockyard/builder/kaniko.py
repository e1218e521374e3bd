"""Kaniko-compatible executor: `dockyard executor --dockerfile=Dockerfile --context=$(pwd)
--destination=host/repo:tag ...` builds without a daemon and pushes, with Kaniko's flags.

The command line lives with the builder (`kaniko_main(argv)`) so that what runs it, the
`dockyard executor` command or CI's pre-warmed executor, needs nothing else."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

# Kaniko flags that are accepted because Dockyard already behaves that way (no effect needed).
ACCEPTED_NO_OP = {
    "--cleanup": "the rootfs is a scratch dir, always removed",
    "--force": "Dockyard never builds into its own root",
    "--skip-unused-stages": "stages the target does not need are always skipped",
    "--use-new-run": "RUN is always snapshotted from its overlay upper dir",
    "--ignore-var-run": "the host's /var/run never reaches the image",
    "--skip-push-permission-check": "",
    "--force-build-metadata": "",
    "--push-ignore-immutable-tag-errors": "",
    "--compressed-caching": "",
    "--no-push-cache": "",
    "--log-timestamp": "",
}
VALUE_NO_OP = {
    "--log-format": "",
    "--image-download-retry": "",
    "--image-fs-extract-retry": "",
    "--compression-level": "",
    "--kaniko-dir": "",
    "--ignore-path": "",
}
UNSUPPORTED = {
    "--git": "clone the repository and pass --context=<dir> instead",
    "--context-sub-path": "pass --context=<dir>/<sub-path> instead",
    "--registry-client-cert": "mutual TLS is not supported yet",
    "--single-snapshot": "every instruction gets its own layer",
}
CONTEXT_SCHEMES = ("gs://", "s3://", "az://", "git://", "https://", "http://", "tar://")
VERBOSITY = ("panic", "fatal", "error", "warn", "info", "debug", "trace")


def parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "t", "true", "yes"):
        return True
    if lowered in ("0", "f", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {value!r} (use true or false)")


def parse_duration(value: str) -> float:
    """Go durations as Kaniko takes them (`168h`, `90m`, `1h30m`, `45s`) -> seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise argparse.ArgumentTypeError(f"invalid duration {value!r} (examples: 168h, 30m, 90s)")
    unit = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * unit[u] for n, u in parts)


def parse_jobs(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"invalid --jobs {value!r} (a number of stages, 1 or more)")
    return int(value)


class Unsupported(argparse.Action):
    """A Kaniko flag Dockyard does not implement: fail with the reason and the alternative."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        hint = UNSUPPORTED.get(option_string or "", "")
        parser.error(f"{option_string} is a Kaniko flag that Dockyard does not support"
                     + (f": {hint}" if hint else ""))


def add_bool(parser: argparse.ArgumentParser, *names: str, help: str, pflag: bool = True
             ) -> None:
    """A pflag-style boolean (`--flag`, `--flag=true`, `--flag=false`), or with
    `pflag=False` a plain switch (for commands with a positional argument)."""
    if not pflag:
        parser.add_argument(*names, action="store_true", help=help)
        return
    parser.add_argument(*names, nargs="?", const=True, default=False, type=parse_bool,
                        metavar="BOOL", help=help)


def add_registry_arguments(parser: argparse.ArgumentParser, pflag: bool = True) -> None:
    add_bool(parser, "--insecure", help="push to plain-HTTP registries", pflag=pflag)
    add_bool(parser, "--insecure-pull", help="pull from plain-HTTP registries", pflag=pflag)
    parser.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                        help="a registry to reach over plain HTTP (repeatable)")
    add_bool(parser, "--skip-tls-verify", help="do not verify TLS certificates when pushing",
             pflag=pflag)
    add_bool(parser, "--skip-tls-verify-pull", help="do not verify TLS certificates when pulling",
             pflag=pflag)
    parser.add_argument("--skip-tls-verify-registry", action="append", default=[],
                        metavar="HOST", help="a registry whose certificate is not verified")
    parser.add_argument("--registry-mirror", action="append", default=[], metavar="HOST",
                        help="pull docker.io images through this mirror (repeatable)")
    parser.add_argument("--registry-map", action="append", default=[],
                        metavar="REGISTRY=MIRROR[;...]",
                        help="pull REGISTRY's images through MIRROR (repeatable)")
    add_bool(parser, "--skip-default-registry-fallback", pflag=pflag,
             help="with mirrors configured, never fall back to the original registry")
    parser.add_argument("--registry-certificate", action="append", default=[],
                        metavar="HOST=CA.pem", help="trust this CA for HOST (repeatable)")
    parser.add_argument("--push-retry", type=int, default=0, help="retries of a failed push")


def add_build_arguments(parser: argparse.ArgumentParser, pflag: bool = True) -> None:
    parser.add_argument("--build-arg", action="append", default=[], metavar="KEY[=VALUE]",
                        help="a build argument (repeatable); KEY alone takes it from the env")
    parser.add_argument("--target", help="the stage to build (default: the last one)")
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                        help="a label added to the image (repeatable)")
    parser.add_argument("--custom-platform", metavar="OS/ARCH[/VARIANT][,...]",
                        help="the platform to build (default: this machine's); several, "
                             "comma-separated, build each and make one image index")
    add_bool(parser, "--reproducible", help="zero timestamps so equal input gives equal digests",
             pflag=pflag)
    parser.add_argument("--secret", action="append", default=[], metavar="id=ID,src=PATH",
                        help="a secret for RUN --mount=type=secret (never stored in a layer)")
    parser.add_argument("--timeout", type=parse_duration, default=None, metavar="DURATION",
                        help="fail the build after this long (e.g. 30m)")
    parser.add_argument("--jobs", type=parse_jobs, default=None, metavar="N",
                        help="independent stages built at once (default: $DOCKYARD_BUILD_JOBS, "
                             "else the number of CPUs; 1 builds them one after the other)")
    add_bool(parser, "--cache", help="reuse layers from the layer cache", pflag=pflag)
    parser.add_argument("--cache-repo", help="remote repository of cached layers")
    parser.add_argument("--cache-dir", type=Path, help="local directory of cached layers")
    parser.add_argument("--cache-ttl", type=parse_duration, default=parse_duration("336h"),
                        metavar="DURATION", help="how long a cached layer stays valid")
    if pflag:
        parser.add_argument("--cache-copy-layers", nargs="?", const=True, default=True,
                            type=parse_bool, metavar="BOOL",
                            help="look COPY/ADD layers up in the cache (default true: keys "
                                 "cover the copied files' content)")
        parser.add_argument("--cache-run-layers", nargs="?", const=True, default=True,
                            type=parse_bool, metavar="BOOL",
                            help="look RUN layers up in the cache (default true)")
    add_bool(parser, "--no-cache", help="look nothing up in the cache (still store results)",
             pflag=pflag)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.allow_abbrev = False
    parser.add_argument("-f", "--dockerfile", default="Dockerfile",
                        help="path of the Dockerfile (relative paths also tried in the context)")
    parser.add_argument("-c", "--context", default="/workspace/",
                        help="build context: a directory or dir://<directory>")
    parser.add_argument("-d", "--destination", action="append", default=[], metavar="IMAGE",
                        help="where to push the image (repeatable)")
    add_build_arguments(parser)
    add_registry_arguments(parser)
    add_bool(parser, "--no-push", help="build only, push nothing")
    parser.add_argument("--tar-path", type=Path, help="also save the image as a tarball here")
    parser.add_argument("--oci-layout-path", type=Path, help="also save an OCI layout here")
    parser.add_argument("--digest-file", type=Path, help="write the image digest here")
    parser.add_argument("--image-name-with-digest-file", type=Path,
                        help="write <destination>@<digest> lines here")
    parser.add_argument("--image-name-tag-with-digest-file", type=Path,
                        help="write <destination>@<digest> lines here (tags kept)")
    parser.add_argument("--snapshot-mode", choices=("full", "redo", "time"), default="full",
                        help="accepted for Kaniko compatibility: RUN changes come from overlay")
    parser.add_argument("-v", "--verbosity", choices=VERBOSITY, default="info")
    parser.add_argument("--compression", choices=("gzip", "zstd"), default="gzip",
                        help="layer compression: gzip (default) or zstd")
    for flag, reason in ACCEPTED_NO_OP.items():
        add_bool(parser, flag, help=f"accepted for Kaniko compatibility; {reason}".rstrip("; "))
    for flag in VALUE_NO_OP:
        parser.add_argument(flag, metavar="VALUE", help="accepted for Kaniko compatibility")
    for flag in UNSUPPORTED:
        parser.add_argument(flag, nargs="?", action=Unsupported, help=argparse.SUPPRESS)


def parse_key_values(items: list[str], what: str, need_value: bool) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise SystemExit(f"error: invalid {what} {item!r} (expected KEY=VALUE)")
        if not sep:
            if need_value:
                raise SystemExit(f"error: invalid {what} {item!r} (expected KEY=VALUE)")
            out[key] = os.environ.get(key)
        else:
            out[key] = value
    return out


def parse_secrets(items: list[str]) -> dict[str, Path]:
    """`id=ID,src=PATH` (also `source=`, or `id=ID,env=VAR`) like `docker build --secret`."""
    secrets: dict[str, Path] = {}
    for item in items:
        fields = dict(part.partition("=")[::2] for part in item.split(","))
        secret_id = fields.get("id")
        src = fields.get("src") or fields.get("source")
        if not secret_id or not (src or fields.get("env")):
            raise SystemExit(f"error: invalid --secret {item!r} (expected id=ID,src=PATH)")
        if src:
            path = Path(src).expanduser()
            if not path.is_file():
                raise SystemExit(f"error: --secret {secret_id}: {path} is not a readable file")
            secrets[secret_id] = path
        else:
            secrets[secret_id] = Path("env:" + fields["env"])
    return secrets


def parse_registry_map(items: list[str]) -> dict[str, list[str]]:
    """Kaniko's `--registry-map=index.docker.io=mirror.example;other=...` (repeatable)."""
    out: dict[str, list[str]] = {}
    for item in items:
        for part in filter(None, item.split(";")):
            registry, sep, mirror = part.partition("=")
            if not sep or not registry or not mirror:
                raise SystemExit(f"error: invalid --registry-map {part!r} (REGISTRY=MIRROR)")
            out.setdefault(registry, []).append(mirror)
    return out


def parse_certificates(items: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in items:
        host, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            raise SystemExit(f"error: invalid --registry-certificate {item!r} "
                             "(HOST=path of a PEM file that exists)")
        out[host] = Path(path)
    return out


def registry_extras(args: argparse.Namespace) -> dict[str, Any]:
    """The registry options both `executor` and `build` take, for BuildOptions."""
    return {
        "registry_map": parse_registry_map(args.registry_map),
        "skip_default_registry_fallback": args.skip_default_registry_fallback,
        "registry_certificates": parse_certificates(args.registry_certificate),
    }


def resolve_context(value: str) -> Path:
    if value.startswith("dir://"):
        value = value[len("dir://"):]
    elif value.startswith(CONTEXT_SCHEMES):
        raise SystemExit(f"error: --context={value}: Dockyard takes a local directory (or "
                         "dir://<directory>); fetch remote contexts before the build")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise SystemExit(f"error: --context={value}: no such directory")
    return path.resolve()


def resolve_dockerfile(value: str, context: Path) -> Path:
    """As Kaniko: the path as given if it exists, else relative to the context."""
    given = Path(value).expanduser()
    if given.is_file():
        return given.resolve()
    inside = context / value
    if not given.is_absolute() and inside.is_file():
        return inside.resolve()
    raise SystemExit(f"error: Dockerfile {value} not found (looked at {given} and {inside})")


def options_from(args: argparse.Namespace) -> Any:
    from dockyard.builder.options import BuildOptions, default_cache_dir

    context = resolve_context(args.context)
    labels = parse_key_values(args.label, "--label", need_value=True)
    return BuildOptions(
        context=context,
        dockerfile=resolve_dockerfile(args.dockerfile, context),
        destinations=list(args.destination),
        compression=getattr(args, "compression", "gzip"),
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
        no_push=args.no_push,
        tar_path=args.tar_path,
        oci_layout_path=getattr(args, "oci_layout_path", None),
        digest_file=args.digest_file,
        image_name_with_digest_file=args.image_name_with_digest_file,
        image_name_tag_with_digest_file=getattr(args, "image_name_tag_with_digest_file", None),
        reproducible=args.reproducible,
        cache=args.cache,
        cache_repo=args.cache_repo,
        cache_dir=args.cache_dir or default_cache_dir(),
        cache_ttl_seconds=args.cache_ttl,
        cache_copy_layers=getattr(args, "cache_copy_layers", True),
        cache_run_layers=getattr(args, "cache_run_layers", True),
        no_cache=args.no_cache,
        secrets=parse_secrets(args.secret),
        timeout=args.timeout,
        jobs=getattr(args, "jobs", None),
        snapshot_mode=os.environ.get("DOCKYARD_SNAPSHOT") or args.snapshot_mode,
        verbosity=getattr(args, "verbosity", "info"),
    )


def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    if not options.destinations and not options.no_push:
        print("error: no --destination given; pass one or more, or --no-push", file=sys.stderr)
        return 2
    from dockyard.builder.report import run_build

    return run_build(options, live=False)


def kaniko_main(argv: list[str]) -> int:
    """`/kaniko/executor ARGV`: parse Kaniko's flags, build, push; the exit code."""
    parser = argparse.ArgumentParser(prog="dockyard executor", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
