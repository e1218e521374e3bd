"""How Dockyard learns which refs a push changed: git's own post-receive hook writes them down.

receive-pack runs the hook only after the refs were updated, with one `<old> <new> <ref>` line
per accepted update on stdin. Our hook appends those lines to a file named by an environment
variable that the server sets for this one request, and the server reads the file when
receive-pack has exited. No hook calls back into the server, and concurrent pushes to one
repository never see each other's updates.
"""

from __future__ import annotations

from pathlib import Path

from dockyard.events import RefChange
from dockyard.store import atomic_write_text

PUSH_LOG_ENV = "DOCKYARD_PUSH_LOG"

_POST_RECEIVE = f"""#!/bin/sh
# Installed by Dockyard: record the accepted ref updates of this push for the server.
if [ -n "${PUSH_LOG_ENV}" ]; then
  cat >> "${PUSH_LOG_ENV}"
fi
exit 0
"""


RefUpdate = RefChange  # one line of the push log: ref, before, after (+ branch, tag, ...)


def install_hooks(hooks_dir: Path) -> Path:
    """Write the shared hooks directory that receive-pack uses via `core.hooksPath`."""
    hooks_dir.mkdir(parents=True, exist_ok=True)
    hook = hooks_dir / "post-receive"
    if not hook.exists() or hook.read_text() != _POST_RECEIVE:
        atomic_write_text(hook, _POST_RECEIVE, mode=0o700)
    return hooks_dir


def read_push_log(path: Path) -> list[RefUpdate]:
    """The updates recorded by the hook, in the order git reported them."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            updates.append(RefUpdate(ref=parts[2], before=parts[0], after=parts[1]))
    return updates
