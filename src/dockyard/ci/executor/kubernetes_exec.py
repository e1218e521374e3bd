"""The step wrapper: how a `sh` step runs in a container of the build pod without trusting the
exec connection (GitLab's "Job succeeded" after a dropped exec, Jenkins' hangs:
research/k8s-executor.md).

Three short POSIX-sh programs, each run through the API's exec subresource:

- START reads a payload from stdin (its length is an argument, so stdin never has to be closed)
  into the step's directory and runs it: the payload writes the script and a launcher, then
  starts the launcher detached (HUP ignored, no terminal, stdio on files) under a waiting shell
  that writes the exit code to `exit` when it ends. The exec returns at once.
- FOLLOW prints the step's `log` from a byte offset as it grows, and ends with one status line on
  stderr: `exit N` (the step ended: N comes from the file), `more OFFSET` (a round limit reached:
  call again), `lost` (the waiting shell is gone without an exit file: the container died).
  A dropped connection is only a reason to call FOLLOW again from the bytes received.
- KILL signals the step's processes: the pid file's, then every process whose environment
  carries the step's random cookie (Jenkins' way: grep /proc/*/environ).

Everything lives under `CONTROL_DIR/steps/<id>` on the workspace emptyDir, which every container
mounts, so any container can run any step; it needs `sh`, `cat`, `head`, `tail`, `wc`, `tr`,
`kill`, `sleep` (busybox, coreutils) and `base64` for credential files.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.ci.executor.kubernetes_pod import CONTROL_DIR

STEPS_DIR = f"{CONTROL_DIR}/steps"
STEP_COOKIE = "DOCKYARD_STEP"
FOLLOW_ROUNDS = 150  # FOLLOW's polls (0.2 s each) before it returns `more` and is called again

START = r"""umask 077
d="$1"
mkdir -p "$d" && head -c "$2" > "$d/start.sh" && exec sh "$d/start.sh"
"""

FOLLOW = r"""d="$1"; off="$2"; n="$3"
while :; do
  fin=; [ -f "$d/exit" ] && fin=1
  size=$(wc -c < "$d/log" 2>/dev/null) || size=0
  size=$((size + 0))
  if [ "$size" -gt "$off" ]; then
    tail -c +$((off + 1)) "$d/log" | head -c $((size - off))
    off=$size
  fi
  if [ -n "$fin" ]; then printf 'exit %s\n' "$(cat "$d/exit")" >&2; exit 0; fi
  if [ -f "$d/wpid" ] && ! kill -0 "$(cat "$d/wpid")" 2>/dev/null && [ ! -f "$d/exit" ]; then
    printf 'lost\n' >&2; exit 0
  fi
  n=$((n - 1))
  if [ "$n" -le 0 ]; then printf 'more %s\n' "$off" >&2; exit 0; fi
  sleep 0.2 2>/dev/null || sleep 1
done
"""

KILL = r"""d="$1"; s="$2"; c="$3"
[ -f "$d/pid" ] && kill -"$s" "$(cat "$d/pid")" 2>/dev/null
for p in /proc/[0-9]*; do
  case "$(tr '\000' '\n' < "$p/environ" 2>/dev/null)" in
    *"DOCKYARD_STEP=$c"*) kill -"$s" "${p#/proc/}" 2>/dev/null ;;
  esac
done
exit 0
"""

# Runs the launcher detached: its pid in `pid`, the waiting shell's in `wpid`, the exit code in
# `exit` (pid and exit written atomically, so nothing reads half of them).
WAITER = (
    'trap "" HUP; sh "$1/run" > "$1/log" 2>&1 < /dev/null & echo $! > "$1/pid.tmp"; mv "$1/pid.tmp" "$1/pid";'
    ' wait $!; echo $? > "$1/exit.tmp"; mv "$1/exit.tmp" "$1/exit"'
)
LAUNCH = f"""sh -c '{WAITER}' sh "$d" > /dev/null 2>&1 < /dev/null &
echo $! > "$d/wpid"
"""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class StepFiles:
    """What START needs: the step's directory and the payload it reads from stdin."""

    directory: str
    cookie: str
    payload: bytes

    def start_argv(self) -> list[str]:
        return ["sh", "-c", START, "sh", self.directory, str(len(self.payload))]

    def follow_argv(self, offset: int, rounds: int = FOLLOW_ROUNDS) -> list[str]:
        return ["sh", "-c", FOLLOW, "sh", self.directory, str(offset), str(rounds)]

    def kill_argv(self, signal: str) -> list[str]:
        return ["sh", "-c", KILL, "sh", self.directory, signal, self.cookie]


def quote(text: str) -> str:
    """`text` as one single-quoted shell word."""
    return "'" + text.replace("'", "'\\''") + "'"


def _heredoc(target: str, content: str) -> str:
    """A command writing `content` verbatim to `target` (a quoted delimiter: no expansion)."""
    while True:
        delim = f"DOCKYARD_EOF_{secrets.token_hex(8)}"
        if delim not in content:
            break
    body = content if content.endswith("\n") or not content else content + "\n"
    return f"cat > {quote(target)} <<'{delim}'\n{body}{delim}\n"


def step_files(step_id: str, script: str, env: Mapping[str, str], cwd: str, container: str,
               shell: str | None = None, files: Mapping[str, bytes] | None = None,
               steps_dir: str = STEPS_DIR) -> StepFiles:
    """The payload for one step: `files` (credential files, path -> bytes) written 0600, the
    script, and the launcher that exports the environment (as Jenkins' ContainerExecDecorator:
    one `export K='V'` each, `POD_CONTAINER`, then `cd`) and runs `shell -xe script`. Variables
    whose names the shell cannot export are left out, as Jenkins does."""
    directory = f"{steps_dir}/{step_id}"
    cookie = secrets.token_hex(12)
    out = [f"d={quote(directory)}\n"]
    for path, data in (files or {}).items():
        encoded = base64.b64encode(data).decode()
        lines = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
        parent = path.rsplit("/", 1)[0] or "/"
        out.append(f"mkdir -p {quote(parent)}\n")
        out.append(_heredoc(path + ".b64", lines))
        out.append(f"base64 -d < {quote(path + '.b64')} > {quote(path)} && rm -f {quote(path + '.b64')}\n")
    out.append(_heredoc(f"{directory}/script", script))
    run = [f"rm -f {quote(directory + '/run')}\n"]
    for name, value in env.items():
        if _NAME.match(name):
            run.append(f"export {name}={quote(value)}\n")
    run.append(f"export POD_CONTAINER={quote(container)} {STEP_COOKIE}={cookie}\n")
    run.append(f"mkdir -p {quote(cwd)} 2>/dev/null; cd {quote(cwd)} || exit 1\n")
    run.append(f"exec {shell or 'sh'} -xe {quote(directory + '/script')}\n")
    out.append(_heredoc(f"{directory}/run", "".join(run)))
    out.append(LAUNCH)
    return StepFiles(directory, cookie, "".join(out).encode())


def parse_status(stderr: str) -> tuple[str, int | None]:
    """FOLLOW's last status line: ("exit", code), ("more", offset), ("lost", None), or ("", None)
    when there is none (the connection dropped: call FOLLOW again)."""
    for line in reversed(stderr.splitlines()):
        word, _, rest = line.strip().partition(" ")
        if word in ("exit", "more"):
            try:
                return word, int(rest.strip())
            except ValueError:
                return "", None
        if word == "lost":
            return "lost", None
    return "", None
