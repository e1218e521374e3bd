"""`/kaniko/executor` inside a build step: hand the call to the pre-warmed executor (zygote.py)
with this process's stdin/stdout/stderr, wait for its exit status and exit with it.

Run as `python -S -E zygote_client.py SOCKET PACKAGE_ROOT ARGS...`: built-in modules only
(`_socket`, not `socket`; no `json`), so it starts in ~10 ms. Without a zygote it execs
`python -m dockyard executor ARGS...` instead: the same builder, just without the warm start.
"""

import _socket
import os
import sys


def main() -> None:
    sock_path, package_root, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        conn.connect(sock_path)
    except OSError:
        _fallback(package_root, argv)
    fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
    conn.sendmsg([encode_request(argv, dict(os.environ), os.getcwd())],
                 [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
    status = b""
    while len(status) < 4:
        chunk = conn.recv(4 - len(status))
        if not chunk:
            print("dockyard executor: the pre-warmed executor went away", file=sys.stderr)
            sys.exit(1)
        status += chunk
    sys.exit(int.from_bytes(status, "big", signed=True))


def encode_request(argv: list[str], env: dict[str, str], cwd: str) -> bytes:
    """One request: a 4-byte length, then cwd, the argument count, the arguments and the
    environment's `NAME=value` entries, NUL-separated (none of them can hold a NUL).
    (zygote.py decodes it; this file imports nothing of Dockyard.)"""
    fields = [cwd, str(len(argv)), *argv, *(f"{k}={v}" for k, v in env.items())]
    payload = b"\0".join(os.fsencode(f) for f in fields)
    return len(payload).to_bytes(4, "big") + payload


def _fallback(package_root: str, argv: list[str]) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = package_root + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    os.execve(sys.executable, [sys.executable, "-m", "dockyard", "executor", *argv], env)


if __name__ == "__main__":
    main()
