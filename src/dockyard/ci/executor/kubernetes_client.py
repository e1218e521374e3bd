"""The Kubernetes API as the executor uses it: PyPI `kubernetes` (the synchronous client),
imported on first use so that a server which never runs a pod does not pay for it, every call in
a thread pool of its own so that the event loop never blocks and long exec streams never starve
`asyncio.to_thread` users (the database).

Exec goes through the API's exec subresource over a websocket (`v5.channel.k8s.io`, falling
back to v4). `kubernetes.stream.stream` swaps the ApiClient's transport for the duration of the
call, so every exec gets an ApiClient of its own and ordinary calls never share one with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dockyard.ci.executor.interface import ExecutorError

T = TypeVar("T")
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
REQUEST_TIMEOUT = (10, 60)  # (connect, read) seconds of one ordinary API call
SOCKET_TIMEOUT = 30.0  # a websocket that neither connects nor delivers a started frame in this long


@dataclass
class ExecResult:
    """What an exec gave back: its stdout (unless streamed), stderr, exit code (None when the
    connection ended without the API's status), and `error` when it could not run at all."""

    stdout: bytes = b""
    stderr: str = ""
    code: int | None = None
    error: str = ""


def api_message(e: BaseException) -> str:
    """The API server's own message for a failed call (an admission denial's text), else str(e)."""
    body = getattr(e, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return str(data["message"])
        except ValueError:
            pass
    status, reason = getattr(e, "status", None), getattr(e, "reason", None)
    if status is not None:
        return f"{status} {reason}".strip()
    return str(e) or type(e).__name__


def api_status(e: BaseException) -> int | None:
    return getattr(e, "status", None)


class KubeClient:
    """One cloud: its configuration, namespace, and the thread pool its calls run in."""

    def __init__(self, kubeconfig: str = "", namespace: str = "", workers: int = 64) -> None:
        self.kubeconfig = kubeconfig
        self._namespace = namespace
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dockyard-k8s")
        self._lock = threading.Lock()
        self._configuration: Any = None
        self._core: Any = None

    # -- set-up -----------------------------------------------------------------
    @property
    def namespace(self) -> str:
        self._load()
        return self._namespace

    def _load(self) -> None:
        with self._lock:
            if self._configuration is not None:
                return
            import websocket
            from kubernetes import client, config

            websocket.setdefaulttimeout(SOCKET_TIMEOUT)
            cfg = client.Configuration()
            context_ns = ""
            try:
                if self.kubeconfig or not (SERVICE_ACCOUNT / "token").exists():
                    path = self.kubeconfig or None
                    config.load_kube_config(config_file=path, client_configuration=cfg)
                    _, active = config.list_kube_config_contexts(config_file=path)
                    context_ns = str(((active or {}).get("context") or {}).get("namespace") or "")
                else:
                    config.load_incluster_config(client_configuration=cfg)
                    context_ns = (SERVICE_ACCOUNT / "namespace").read_text().strip()
            except (config.ConfigException, OSError) as e:
                where = self.kubeconfig or "KUBECONFIG / ~/.kube/config / the in-cluster service account"
                raise ExecutorError(
                    f"the Kubernetes executor cannot load its configuration ({where}): {e};"
                    " set DOCKYARD_K8S_KUBECONFIG"
                ) from None
            self._namespace = self._namespace or context_ns or "default"
            self._configuration = cfg
            self._core = client.CoreV1Api(client.ApiClient(cfg))

    @property
    def core(self) -> Any:
        """CoreV1Api for ordinary calls (blocking: use `call`)."""
        self._load()
        return self._core

    async def ready(self) -> str:
        """Loads the configuration (and the client library) off the event loop; the namespace."""
        return await self.run(lambda: self.namespace)

    # -- calls ------------------------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in the client's pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`CoreV1Api.<method>(*args, **kwargs)` off the event loop, with a request timeout."""
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        return await self.run(lambda: getattr(self.core, method)(*args, **kwargs))

    def plain(self, obj: Any) -> Any:
        """An API object as JSON-style mappings (camelCase keys), for the pure rules."""
        return self.core.api_client.sanitize_for_serialization(obj)

    # -- exec -------------------------------------------------------------------
    def exec_blocking(self, pod: str, container: str, argv: list[str],
                      stdin: bytes | Iterable[bytes] | None = None,
                      on_stdout: Callable[[bytes], None] | None = None,
                      stop: threading.Event | None = None, idle: float = 120.0) -> ExecResult:
        """Runs `argv` in the container; `stdin` is written whole then closed; stdout is handed to
        `on_stdout` as it arrives (else collected); gives up on a connection silent for `idle`
        seconds or when `stop` is set. Never raises for a connection problem: `error` says it."""
        from kubernetes import client
        from kubernetes.stream import stream

        self._load()
        result = ExecResult()
        out: list[bytes] = []
        err: list[bytes] = []
        try:
            api = client.CoreV1Api(client.ApiClient(self._configuration))
            ws = stream(api.connect_get_namespaced_pod_exec, pod, self._namespace, container=container,
                        command=argv, stdin=stdin is not None, stdout=True, stderr=True, tty=False,
                        _preload_content=False, binary=True)
        except Exception as e:  # ApiException (404 pod, 400 container not running), socket errors
            result.error = api_message(e)
            return result
        try:
            if stdin is not None:
                for chunk in [stdin] if isinstance(stdin, bytes) else stdin:
                    if chunk:
                        ws.write_stdin(chunk)
                ws.close_channel(0)
            last = time.monotonic()
            while ws.is_open():
                if stop is not None and stop.is_set():
                    result.error = "stopped"
                    break
                ws.update(timeout=1.0)
                got = _drain(ws, out if on_stdout is None else None, err, on_stdout)
                now = time.monotonic()
                if got:
                    last = now
                elif now - last > idle:
                    result.error = f"no answer from the exec connection for {idle:g} s"
                    break
            _drain(ws, out if on_stdout is None else None, err, on_stdout)
            if not result.error:
                result.code = _returncode(ws)
        except Exception as e:  # the websocket dropped mid-stream
            result.error = f"the connection dropped: {e or type(e).__name__}"
        finally:
            with contextlib.suppress(Exception):  # closing a dead socket
                ws.close()
        result.stdout = b"".join(out)
        result.stderr = b"".join(err).decode(errors="replace")
        return result

    async def exec(self, pod: str, container: str, argv: list[str], stdin: bytes | None = None,
                   idle: float = 120.0) -> ExecResult:
        return await self.run(self.exec_blocking, pod, container, argv, stdin, None, None, idle)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _drain(ws: Any, out: list[bytes] | None, err: list[bytes],
           on_stdout: Callable[[bytes], None] | None) -> bool:
    """Moves what arrived on stdout and stderr out of the client (and empties its capture buffer,
    which would otherwise keep a long step's whole output in memory)."""
    stdout, stderr = ws.read_channel(1, timeout=0), ws.read_channel(2, timeout=0)
    ws._all = ws._all.__class__() if hasattr(ws._all, "getvalue") else ws._all
    if stdout:
        if on_stdout is not None:
            on_stdout(bytes(stdout))
        elif out is not None:
            out.append(bytes(stdout))
    if stderr:
        err.append(bytes(stderr))
    return bool(stdout or stderr)


def _returncode(ws: Any) -> int | None:
    """The exit code from the API's status channel; None when there is no status (the runtime
    could not start the command: ValueError/TypeError inside the client)."""
    try:
        return int(ws.returncode)
    except (ValueError, TypeError, KeyError, IndexError):
        return None
