"""Inspect Dockerfiles with Dockyard's parser (the one the builder uses)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    parse = sub.add_parser("parse", help="parse a Dockerfile and print its stages")
    parse.add_argument("file", help="path to the Dockerfile ('-' reads standard input)")
    parse.add_argument("--json", action="store_true", help="print JSON")
    parse.add_argument("--target", help="also list the stages this target needs")
    parse.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE",
                       help="global ARG value used to resolve FROM lines for --target")
    context = sub.add_parser(
        "context", help="list the files of a build context that .dockerignore lets through"
    )
    context.add_argument("directory", help="the build context directory")
    context.add_argument("-f", "--file", help="the Dockerfile (its <name>.dockerignore wins)")
    context.add_argument("--excluded", action="store_true",
                         help="list the excluded paths instead")


def to_json(value: Any) -> Any:
    """Dataclasses -> plain JSON values; each instruction gets its class as `type`."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        if type(value).__name__.endswith("Instruction"):
            out["type"] = type(value).__name__
        for f in dataclasses.fields(value):
            out[f.name.rstrip("_")] = to_json(getattr(value, f.name))
        return out
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def _summary(instruction: Any) -> str:
    lines = f"{instruction.line}" if instruction.line == instruction.end_line else \
        f"{instruction.line}-{instruction.end_line}"
    text = instruction.original
    if len(text) > 100:
        text = text[:97] + "..."
    extra = "".join(f"\n      <<{h.name} ({len(h.content)} bytes)" for h in instruction.heredocs)
    return f"  {lines:>7}  {text}{extra}"


def walk_context(directory: str, dockerfile: str | None) -> tuple[list[str], list[str]]:
    """(included, excluded) relative paths, walking only where the ignore rules require."""
    import os

    from dockyard.builder import dockerignore

    matcher = dockerignore.load_ignore(directory, dockerfile)
    included: list[str] = []
    excluded: list[str] = []
    for root, dirs, files in os.walk(directory):
        rel_root = os.path.relpath(root, directory)
        prefix = "" if rel_root == "." else rel_root + "/"
        for name in sorted(dirs):
            rel = prefix + name
            if matcher.matches(rel):
                excluded.append(rel + "/")
                if not matcher.must_walk(rel):
                    dirs.remove(name)
        for name in sorted(files):
            rel = prefix + name
            (excluded if matcher.matches(rel) else included).append(rel)
        dirs.sort()
    return sorted(included), sorted(excluded)


def run(args: argparse.Namespace) -> int:
    if args.action == "context":
        return run_context(args)
    return run_parse(args)


def run_context(args: argparse.Namespace) -> int:
    import os

    from dockyard.builder import dockerignore

    if not os.path.isdir(args.directory):
        print(f"dockyard: {args.directory} is not a directory", file=sys.stderr)
        return 1
    try:
        included, excluded = walk_context(args.directory, args.file)
    except dockerignore.DockerignoreError as err:
        print(str(err), file=sys.stderr)
        return 1
    for path in excluded if args.excluded else included:
        print(path)
    return 0


def run_parse(args: argparse.Namespace) -> int:
    from dockyard.builder import dockerfile as front_end

    try:
        if args.file == "-":
            text, name = sys.stdin.read(), "Dockerfile"
        else:
            with open(args.file, encoding="utf-8") as handle:
                text, name = handle.read(), args.file
    except OSError as err:
        print(f"dockyard: cannot read {args.file}: {err.strerror}", file=sys.stderr)
        return 1
    build_args = dict(a.split("=", 1) if "=" in a else (a, "") for a in args.build_arg)
    try:
        dockerfile = front_end.parse(text, name)
        needed = front_end.stages_needed(dockerfile, args.target, build_args) if args.target else None
    except front_end.DockerfileError as err:
        print(str(err), file=sys.stderr)
        return 1
    if args.json:
        document = to_json(dockerfile)
        if needed is not None:
            document["stages_needed"] = needed
        json.dump(document, sys.stdout, indent=2)
        print()
        return 0
    for directive in dockerfile.directives:
        print(f"# {directive.name}={directive.value}")
    for arg in dockerfile.global_args:
        print(_summary(arg))
    for stage in dockerfile.stages:
        label = f"stage {stage.index}" + (f" ({stage.name})" if stage.name else "")
        print(f"{label}: FROM {stage.base}" + (f" --platform={stage.platform}"
                                                 if stage.platform else ""))
        for instruction in stage.instructions:
            print(_summary(instruction))
    for warning in dockerfile.warnings:
        rule = f" [{warning.rule}]" if warning.rule else ""
        print(f"warning: {dockerfile.filename}:{warning.line}: {warning.message}{rule}",
              file=sys.stderr)
    if needed is not None:
        print(f"stages needed for {args.target}: {', '.join(map(str, needed))}")
    return 0
