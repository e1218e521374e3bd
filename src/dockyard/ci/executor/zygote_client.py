"""`/kaniko/executor` inside a build step: hand the call to the pre-warmed executor (zygote.py)
with this process's stdin/stdout/stderr, wait for its exit status and exit with it.

Run as `python -S -E zygote_client.py SOCKET PACKAGE_ROOT ARGS...` (stdlib only, so it starts in
milliseconds). Without a zygote it execs `python -m dockyard executor ARGS...` instead: the same
builder, just without the warm start.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys


def main() -> None:
    sock_path, package_root, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(sock_path)
    except OSError:
        _fallback(package_root, argv)
    header = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode() + b"\n"
    conn.sendmsg([header], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("3i", 0, 1, 2))])
    status = b""
    while len(status) < 4:
        chunk = conn.recv(4 - len(status))
        if not chunk:
            print("dockyard executor: the pre-warmed executor went away", file=sys.stderr)
            sys.exit(1)
        status += chunk
    sys.exit(struct.unpack("!i", status)[0])


def _fallback(package_root: str, argv: list[str]) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = package_root + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    os.execve(sys.executable, [sys.executable, "-m", "dockyard", "executor", *argv], env)


if __name__ == "__main__":
    main()
