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


def run(args: argparse.Namespace) -> int:
    from dockyard.build.dockerfile import DockerfileError, parse, stages_needed

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
        dockerfile = parse(text, name)
        needed = stages_needed(dockerfile, args.target, build_args) if args.target else None
    except DockerfileError as err:
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
        print(f"warning: {dockerfile.filename}:{warning.line}: {warning.message}",
              file=sys.stderr)
    if needed is not None:
        print(f"stages needed for {args.target}: {', '.join(map(str, needed))}")
    return 0
