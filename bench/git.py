"""Clone and push a repository with >= 50 MB of history through Dockyard and through
`git daemon`, in the same run, alternating rounds; print medians and the ratios. Each round
also clones the same repository from Dockyard over SSH (its built-in server, `--ssh-port`, with
a key added through `/api/v1/user/keys`, OpenSSH as the client).

Also measures how soon a push event reaches the in-process bus (Dockyard's app under uvicorn
in this process, subscribed to `git.push`) and how soon a signed webhook reaches a receiver.

    .venv/bin/python bench/git.py [--rounds 3] [--min-mb 50]

The history is built from real files on this machine (Python's standard library, /usr/share/doc
and shared libraries), committed in batches, so packs mix text and binary deltas like a real
project does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.peers import free_port  # noqa: E402  (run as a script: the repo root is not on sys.path)

SOURCES = [Path("/usr/lib/python3.11"), Path("/usr/share/doc"), Path("/usr/lib/x86_64-linux-gnu")]
ADMIN = ("admin", "bootcamp")




# the webhook receiver listens on 127.0.0.1, which the default allow-list refuses
LOOPBACK_HOOKS = {"DOCKYARD_WEBHOOK_ALLOWED_HOSTS": "loopback"}

def git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
                "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"})
    return env


def git(env: dict[str, str], *args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def timed(env: dict[str, str], *args: str, cwd: Path | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def build_history(dest: Path, env: dict[str, str], min_mb: int) -> tuple[int, float]:
    """A repository whose packed history is at least `min_mb`: real files, many commits."""
    git(env, "init", "-q", "-b", "main", str(dest))
    files = [p for src in SOURCES if src.is_dir() for p in sorted(src.rglob("*"))
             if p.is_file() and not p.is_symlink() and p.stat().st_size < 8 << 20]
    batch, commits, copied = 400, 0, 0
    for start in range(0, len(files), batch):
        for path in files[start:start + batch]:
            target = dest / "tree" / path.relative_to("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(path, target)
            except OSError:
                continue
            copied += path.stat().st_size
        # touch a file edited in every commit, like a changelog, to add small deltas
        (dest / "CHANGES").write_text(f"batch {start}\n" + (dest / "CHANGES").read_text()
                                      if (dest / "CHANGES").exists() else "start\n")
        git(env, "add", "-A", cwd=dest)
        git(env, "commit", "-q", "-m", f"import batch {start // batch}", cwd=dest)
        commits += 1
        if copied >= min_mb * 3 << 20:  # packs compress; import ~3x what we need
            git(env, "gc", "-q", cwd=dest)
            if pack_mb(dest) >= min_mb:
                break
    git(env, "gc", "-q", cwd=dest)
    return commits, pack_mb(dest)


def pack_mb(repo: Path) -> float:
    packs = (repo / ".git" / "objects" / "pack").glob("*.pack")
    return sum(p.stat().st_size for p in packs) / (1 << 20)


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
         f"--base-path={base}", "--listen=127.0.0.1", f"--port={port}", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=git_env(base))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def dockyard(data: Path, ssh_port: int) -> Iterator[str]:
    port = free_port()
    log = open(data.parent / "dockyard.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "up", "--data-dir", str(data), "--port", str(port),
         "--admin-user", ADMIN[0], "--admin-password", ADMIN[1], "--log-level", "warning",
         "--ssh-port", str(ssh_port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **LOOPBACK_HOOKS})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def ssh_client(work: Path, dy_url: str, env: dict[str, str]) -> dict[str, str]:
    """A new ed25519 key, added to the administrator through the Gitea API; the environment
    that makes git use OpenSSH with it (and only it)."""
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    response = httpx.post(dy_url + "/api/v1/user/keys", auth=ADMIN,
                          json={"title": "bench", "key": Path(f"{key}.pub").read_text()})
    response.raise_for_status()
    command = (f"ssh -F /dev/null -i {key} -o IdentitiesOnly=yes -o BatchMode=yes "
               f"-o UserKnownHostsFile={work / 'known_hosts'} -o StrictHostKeyChecking=accept-new")
    return {**env, "GIT_SSH_COMMAND": command, "GIT_SSH_VARIANT": "ssh"}


class Receiver:
    """Records when each webhook delivery arrives."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.arrivals.append(time.perf_counter())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_a: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def event_latency(work: Path, env: dict[str, str], pushes: int,
                  receiver: Receiver) -> tuple[list[float], list[float]]:
    """ms from `git push` returning to the `git.push` event on the bus (negative: before) and
    to the webhook's arrival at a local receiver, for small pushes."""
    import uvicorn

    from dockyard.config import Settings
    from dockyard.events import PushEvent
    from dockyard.server.app import build_app, open_services

    port = free_port()
    services = open_services(Settings(data_dir=work / "inproc", port=port,
                                      webhook_allowed_hosts="loopback"))
    services.auth.ensure_admin(*ADMIN)
    seen: list[float] = []

    def on_push(_event: PushEvent) -> None:
        seen.append(time.perf_counter())

    services.events.subscribe("git.push", on_push)
    server = uvicorn.Server(uvicorn.Config(build_app(services), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    httpx.post(base + "/api/v1/user/repos", auth=ADMIN,
               json={"name": "latency", "auto_init": True})
    httpx.post(base + "/api/v1/repos/admin/latency/hooks", auth=ADMIN, json={
        "type": "gitea", "active": True, "config": {"url": receiver.url, "content_type": "json",
                                                   "secret": "s"}})
    hooks: list[float] = []
    checkout = work / "latency"
    url = f"http://{ADMIN[0]}:{ADMIN[1]}@127.0.0.1:{port}/admin/latency.git"
    git(env, "clone", "-q", url, str(checkout))
    result = []
    for i in range(pushes):
        (checkout / "n").write_text(str(i))
        git(env, "add", "n", cwd=checkout)
        git(env, "commit", "-qm", f"n {i}", cwd=checkout)
        before, arrived = len(seen), len(receiver.arrivals)
        subprocess.run(["git", "push", "-q", url, "main"], cwd=checkout, env=env, check=True)
        ended = time.perf_counter()
        deadline = ended + 5
        while (len(seen) == before or len(receiver.arrivals) == arrived) and \
                time.perf_counter() < deadline:
            time.sleep(0.0005)
        result.append((seen[-1] - ended) * 1000)
        hooks.append((receiver.arrivals[-1] - ended) * 1000)
    server.should_exit = True
    thread.join(timeout=10)
    return result, hooks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-mb", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-git-"))
    try:
        env = git_env(work)
        source = work / "source"
        started = time.perf_counter()
        commits, size = build_history(source, env, args.min_mb)
        print(f"history: {commits} commits, pack {size:.1f} MB "
              f"(built in {time.perf_counter() - started:.0f} s)")
        daemon_base = work / "daemon"
        daemon_base.mkdir()
        times: dict[str, dict[str, list[float]]] = {
            "dockyard": {"push": [], "clone": []}, "git daemon": {"push": [], "clone": []},
            "dockyard ssh": {"clone": []}, "dockyard ssh aes-gcm": {"clone": []}}
        webhook_ms: list[float] = []
        receiver = Receiver()
        ssh_port = free_port()
        with dockyard(work / "data", ssh_port) as dy_url, git_daemon(daemon_base) as daemon_url:
            ssh_env = ssh_client(work, dy_url, env)
            # OpenSSH picks chacha20-poly1305 by default; asyncssh is fastest with AES-GCM
            gcm_env = {**ssh_env,
                       "GIT_SSH_COMMAND": ssh_env["GIT_SSH_COMMAND"] + " -c aes128-gcm@openssh.com"}
            for rnd in range(args.rounds):
                repo = f"r{rnd}"
                # Dockyard: an empty repository with a webhook, pushed over HTTP
                httpx.post(dy_url + "/api/v1/user/repos", auth=ADMIN, json={"name": repo})
                httpx.post(f"{dy_url}/api/v1/repos/admin/{repo}/hooks", auth=ADMIN, json={
                    "type": "gitea", "active": True, "events": ["push"],
                    "config": {"url": receiver.url, "content_type": "json", "secret": "s"}})
                dy_repo = f"http://{ADMIN[0]}:{ADMIN[1]}@{dy_url.split('://')[1]}/admin/{repo}"
                git(env, "init", "-q", "--bare", "-b", "main", str(daemon_base / f"{repo}.git"))
                gd_repo = f"{daemon_url}/{repo}.git"
                order = [("dockyard", dy_repo), ("git daemon", gd_repo)]
                if rnd % 2:
                    order.reverse()
                for name, url in order:
                    arrivals = len(receiver.arrivals)
                    push = timed(env, "push", "-q", url, "main", cwd=source)
                    pushed = time.perf_counter()
                    times[name]["push"].append(push)
                    if name == "dockyard":
                        deadline = pushed + 10
                        while len(receiver.arrivals) == arrivals and \
                                time.perf_counter() < deadline:
                            time.sleep(0.001)
                        if len(receiver.arrivals) > arrivals:
                            webhook_ms.append((receiver.arrivals[-1] - pushed) * 1000)
                    dest = work / f"clone-{name.replace(' ', '-')}-{rnd}"
                    # --bare: time the transfer (server, network, index-pack), not the checkout
                    times[name]["clone"].append(timed(env, "clone", "-q", "--bare", url,
                                                      str(dest)))
                    shutil.rmtree(dest)
                    if name == "dockyard":  # the same repository over SSH, right after HTTP
                        ssh_url = f"ssh://git@127.0.0.1:{ssh_port}/admin/{repo}.git"
                        for label, variant in (("dockyard ssh", ssh_env),
                                               ("dockyard ssh aes-gcm", gcm_env)):
                            dest = work / f"clone-ssh-{rnd}"
                            times[label]["clone"].append(
                                timed(variant, "clone", "-q", "--bare", ssh_url, str(dest)))
                            shutil.rmtree(dest)
        print(f"\n{'operation':<8} {'dockyard (s)':>13} {'git daemon (s)':>15} {'ratio':>7}")
        for op in ("push", "clone"):
            dy = statistics.median(times["dockyard"][op])
            gd = statistics.median(times["git daemon"][op])
            print(f"{op:<8} {dy:>13.2f} {gd:>15.2f} {dy / gd:>6.2f}x")
        print(f"({args.rounds} rounds, medians; ratio = dockyard / git daemon, goal <= 1.15x; "
              f"{size:.0f} MB pack = {size / statistics.median(times['dockyard']['push']):.0f}"
              " MB/s push through Dockyard)")
        http = statistics.median(times["dockyard"]["clone"])
        daemon = statistics.median(times["git daemon"]["clone"])
        print(f"\nclone of the same repository (OpenSSH client, Dockyard's asyncssh server): "
              f"HTTP {http:.2f} s, git daemon {daemon:.2f} s")
        for label, cipher in (("dockyard ssh", "OpenSSH's default cipher, chacha20-poly1305"),
                              ("dockyard ssh aes-gcm", "-c aes128-gcm@openssh.com")):
            ssh = statistics.median(times[label]["clone"])
            print(f"  SSH ({cipher}): {ssh:.2f} s, {size / ssh:.0f} MB/s; SSH / git daemon "
                  f"{ssh / daemon:.2f}x, SSH / HTTP {ssh / http:.2f}x")
        bus_ms, small_hook_ms = event_latency(work, env, pushes=20, receiver=receiver)
        print(f"\npush -> git.push event on the bus: median {statistics.median(bus_ms):+.1f} ms, "
              f"max {max(bus_ms):+.1f} ms after `git push` returned (20 small pushes; goal "
              "<= 50 ms; negative = before the client finished)")
        print(f"push -> signed webhook at a local receiver: median "
              f"{statistics.median(small_hook_ms):.1f} ms, max {max(small_hook_ms):.1f} ms "
              "(same 20 small pushes)")
        if webhook_ms:
            print(f"push -> signed webhook at a local receiver: median "
                  f"{statistics.median(webhook_ms):.1f} ms, max {max(webhook_ms):.1f} ms "
                  f"(the {size:.0f} MB import pushes: payloads list every added file)")
        receiver.server.shutdown()
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
