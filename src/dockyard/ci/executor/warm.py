"""Starts and stops what the local agent keeps warm: the pre-warmed executor (zygote.py) for
the Kaniko stand-in, and the sandbox server that forks every step's supervisor.

The executor is started by the first Kaniko step of a server's life and kept until shutdown.
Off when the builder is not installed or `DOCKYARD_CI_PREWARM=0`; the stand-in then runs the
executor cold (same builder, ~0.5-1 s more per build). The sandbox server is started by the
first build's setup whatever that setting (~15 MB; a step started without it pays ~0.1 s).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from dockyard.ci.executor.interface import AGENT_UMASK
from dockyard.sandbox import SandboxServer

log = logging.getLogger(__name__)


def package_root() -> Path:
    import dockyard

    return Path(dockyard.__file__).resolve().parent.parent


class WarmExecutor:
    """Started on first use (the first Kaniko step), so servers that never build pay nothing."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled  # Settings.ci_prewarm; off: every Kaniko step starts the executor cold
        # every step's supervisor is forked from it (started by the first build, kept till shutdown)
        self.sandboxes = SandboxServer(str(package_root()))
        self.dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._failed = False

    def ensure(self) -> Path | None:
        """The socket of a running pre-warmed executor, starting it if needed (blocking; call from
        a thread); None when it cannot run (the caller then runs the executor cold)."""
        with self._lock:
            if self.socket is None and not self._failed:
                self.stop()
                self._failed = not self.start()
            return self.socket

    @property
    def socket(self) -> Path | None:
        if self.dir is None or self.process is None or self.process.poll() is not None:
            return None
        return self.dir / "executor.sock"

    def start(self, timeout: float = 60) -> bool:
        if not self.enabled:
            return False
        if importlib.util.find_spec("dockyard.builder") is None:
            return False
        self.dir = Path(tempfile.mkdtemp(prefix="dockyard-exec-"))  # 0700: only this user connects
        # not the server's environment: the zygote's memory is what every build starts from
        env = {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
        env["PYTHONPATH"] = str(package_root())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dockyard.ci.executor.zygote", str(self.dir / "executor.sock")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,
            umask=AGENT_UMASK,  # the executor is a build step: image files get Docker's modes
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != b"ready":
            log.warning("pre-warmed executor did not start; Kaniko steps run the executor cold")
            self.stop()
            return False
        log.info("pre-warmed executor ready (pid %d)", self.process.pid)
        return True

    def close(self) -> None:
        self.sandboxes.close()
        with self._lock:
            self._failed = True  # no restarts while shutting down
            self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
