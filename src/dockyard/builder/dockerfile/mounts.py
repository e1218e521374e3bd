"""`RUN --mount=type=...,k=v` options -> `Mount` (BuildKit's commands_runmount.go).

At parse time values holding `$` are kept raw (they depend on ARG/ENV); the engine
re-parses with an expander via `expand_instruction`. Everything else is validated now,
so a typo fails with its line number before any work starts.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

from dockyard.builder.dockerfile.model import Mount
from dockyard.builder.dockerfile.syntax import SyntaxProblem, suggest

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING = ("shared", "private", "locked")
_KEYS = (
    "type", "from", "source", "src", "target", "dst", "destination", "readonly", "ro",
    "readwrite", "rw", "id", "sharing", "required", "mode", "uid", "gid", "size", "env",
)
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$", re.IGNORECASE)


def _parse_bool(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise SyntaxProblem(f"invalid value for {key}: {value} (use true or false)")


def parse_size(value: str) -> int:
    """Docker's RAMInBytes: `64m`, `1g`, `512k`, `1024` (bytes)."""
    match = _SIZE.match(value.strip())
    if not match:
        raise SyntaxProblem(f"invalid size: '{value}' (use bytes or a unit: 64m, 1g)")
    number = float(match.group(1))
    power = "bkmgtp".index(match.group(2).lower() or "b")
    return int(number * (1024**power))


def parse_mount(
    spec: str, expand: Callable[[str], str] | None = None, *, ssh_index: int = 0
) -> Mount:
    import csv

    try:
        fields = next(csv.reader([spec]), [])
    except csv.Error as err:
        raise SyntaxProblem(f"failed to parse csv mounts: {err}") from None
    kind = "bind"
    values: dict[str, str] = {}
    ro_auto = True
    readonly = False
    required = False
    for item in fields:
        key, has_value, value = item.partition("=")
        key = key.lower()
        if not has_value:
            if key in ("readonly", "ro"):
                readonly, ro_auto = True, False
                continue
            if key in ("readwrite", "rw"):
                readonly, ro_auto = False, False
                continue
            if key == "required":
                if kind not in ("secret", "ssh"):
                    raise SyntaxProblem(f"unexpected key '{key}' for mount type '{kind}'")
                required = True
                continue
            raise SyntaxProblem(
                f"invalid field '{item}' must be a key=value pair (in --mount={spec})"
            )
        if key not in _KEYS:
            close = suggest(key, _KEYS)
            hint = f" (did you mean {close}?)" if close else ""
            raise SyntaxProblem(f"unexpected key '{key}' in '{item}'{hint}")
        if expand is not None:
            value = expand(value)
        elif key == "from" and re.search(r"\$.", value):
            raise SyntaxProblem(
                f"'{key}' doesn't support variable expansion, define alias stage instead"
            )
        elif "$" in value:
            values[key] = value  # defer until ARG/ENV values are known
            continue
        if key == "type":
            if value.lower() not in MOUNT_TYPES:
                close = suggest(value.lower(), MOUNT_TYPES)
                hint = f" (did you mean {close}?)" if close else \
                    f" (use one of {', '.join(MOUNT_TYPES)})"
                raise SyntaxProblem(f"unsupported mount type {value!r}{hint}")
            kind = value.lower()
            continue
        if key in ("readonly", "ro"):
            readonly, ro_auto = _parse_bool(key, value), False
            continue
        if key in ("readwrite", "rw"):
            readonly, ro_auto = not _parse_bool(key, value), False
            continue
        if key == "required":
            if kind not in ("secret", "ssh"):
                raise SyntaxProblem(f"unexpected key '{key}' for mount type '{kind}'")
            required = _parse_bool(key, value)
            continue
        if key == "sharing" and value.lower() not in SHARING:
            raise SyntaxProblem(
                f"unsupported sharing value {value!r} (use shared, private or locked)"
            )
        canonical = {"src": "source", "dst": "target", "destination": "target"}.get(key, key)
        values[canonical] = value

    def number(key: str, base: int) -> int | None:
        raw = values.get(key)
        if raw is None or "$" in raw:
            return None
        try:
            parsed = int(raw, base)
        except ValueError:
            raise SyntaxProblem(f"invalid value {raw} for {key}") from None
        if parsed < 0 or parsed > 0xFFFFFFFF:
            raise SyntaxProblem(f"invalid value {raw} for {key}")
        return parsed

    mode, uid, gid = number("mode", 8), number("uid", 10), number("gid", 10)
    file_info_ok = kind in ("secret", "ssh", "cache")
    for key, parsed in (("mode", mode), ("uid", uid), ("gid", gid)):
        if key in values and not file_info_ok:
            raise SyntaxProblem(f"{key} not allowed for {kind!r} type mounts")
        del parsed
    if ro_auto:
        readonly = kind not in ("cache", "tmpfs")
    if "sharing" in values and kind != "cache":
        raise SyntaxProblem(f"invalid cache sharing set for {kind} mount")
    size = None
    if "size" in values:
        if kind != "tmpfs":
            raise SyntaxProblem(f"size not allowed for {kind!r} type mounts (tmpfs only)")
        if "$" not in values["size"]:
            size = parse_size(values["size"])
    if "env" in values and kind != "secret":
        raise SyntaxProblem(f"env not allowed for {kind!r} type mounts (secret only)")
    source, target, mount_id = values.get("source"), values.get("target"), values.get("id")
    if kind == "secret":
        if "from" in values:
            raise SyntaxProblem("secret mount should not have a from")
        if not source and not target and not mount_id and "env" not in values:
            raise SyntaxProblem(
                "invalid secret mount: one of id, source, target or env is required "
                "(e.g. --mount=type=secret,id=mytoken)"
            )
        if source and mount_id:
            raise SyntaxProblem("both source and id can't be set on a secret mount")
        if not mount_id:
            mount_id = source or (posixpath.basename(target) if target else None)
        if not target and "env" not in values and mount_id:
            target = "/run/secrets/" + mount_id
    elif kind == "ssh":
        if not mount_id:
            mount_id = "default"
        if not target:
            target = f"/run/buildkit/ssh_agent.{ssh_index}"
    elif not target:
        raise SyntaxProblem(
            f"{kind} mount needs a target: add target=/path (in --mount={spec})"
        )
    if kind == "cache" and not mount_id and target and "$" not in target:
        mount_id = target
    return Mount(
        type=kind,
        target=target,
        source=source,
        from_=values.get("from"),
        readonly=readonly,
        id=mount_id,
        sharing=values.get("sharing", "shared").lower() if kind == "cache" else "shared",
        mode=mode,
        uid=uid,
        gid=gid,
        required=required,
        size=size,
        env=values.get("env"),
        raw=spec,
    )
