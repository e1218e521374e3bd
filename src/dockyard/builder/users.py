"""USER and --chown names resolved the way the container would: from the stage's own
/etc/passwd and /etc/group (never the build host's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dockyard.builder.options import BuildError
from dockyard.sandbox import inside


@dataclass(frozen=True)
class Identity:
    """A numeric uid/gid (and supplementary groups) resolved from a user spec."""

    uid: int
    gid: int
    groups: list[int] = field(default_factory=list)
    home: str = "/"


def _table(rootfs: Path, path: str) -> list[list[str]]:
    try:
        text = Path(inside(str(rootfs), path)).read_text(errors="replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _lookup_group(rootfs: Path, name: str, what: str) -> int:
    if name.isdigit():
        return int(name)
    for row in _table(rootfs, "/etc/group"):
        if len(row) >= 3 and row[0] == name:
            return int(row[2])
    raise BuildError(f"{what}: no group {name!r} in the image's /etc/group")


def resolve_user(rootfs: Path, spec: str, what: str = "USER") -> Identity:
    """`user[:group]` (names or numbers) -> uid, gid and supplementary groups.

    A numeric uid missing from /etc/passwd is allowed (gid = uid's group 0 then, as Docker);
    a name must exist.
    """
    user, _, group = spec.partition(":")
    user = user or "0"
    uid: int | None = None
    gid = 0
    home = "/"
    name = None
    for row in _table(rootfs, "/etc/passwd"):
        if len(row) < 4:
            continue
        if row[0] == user or (user.isdigit() and row[2] == user):
            uid, gid, name = int(row[2]), int(row[3]), row[0]
            home = row[5] if len(row) > 5 and row[5] else "/"
            break
    if uid is None:
        if not user.isdigit():
            raise BuildError(f"{what}: no user {user!r} in the image's /etc/passwd "
                             "(create it with a RUN adduser first, or use a numeric uid)")
        uid = int(user)
    groups: list[int] = []
    if group:
        gid = _lookup_group(rootfs, group, what)
    elif name is not None:
        for row in _table(rootfs, "/etc/group"):
            if len(row) >= 4 and name in row[3].split(",") and row[2].isdigit():
                groups.append(int(row[2]))
    return Identity(uid, gid, sorted({gid, *groups}), home)


def resolve_chown(rootfs: Path, spec: str) -> tuple[int, int]:
    """--chown=user[:group]: a numeric uid alone means uid:uid (as BuildKit), a name alone
    takes the user's primary group."""
    user, _, group = spec.partition(":")
    if user.isdigit() and not group:
        return int(user), int(user)
    ident = resolve_user(rootfs, spec, "--chown")
    return ident.uid, ident.gid
