"""The Kubernetes executor: one pod per build, Jenkins' Kubernetes-plugin model
(DESIGN.md, research/k8s-executor.md), behind the same interface as the local executor.

- setup: the pod from the pipeline's template (`kubernetes_pod`), a slot of the cloud's cap
  first (`kubernetes_cap`), then create; the pod's events go to the build log as they happen and
  decide whether it started (`kubernetes_events`); the checked-out workspace (Dockyard checks
  out on its side: no git credentials enter the pod, `.git` comes along) is streamed in as a tar
  through exec (`tar x` in the agent container).
- steps: `kubernetes_exec`'s wrapper in the step's container (`container('x')`, else the agent
  container `jnlp`); output read by offset, the exit code from a file, so a dropped connection
  means reading again, never a false result.
- kill: the step's processes signalled (TERM, then KILL); destroy deletes the pod (grace 0) and
  gives the slot back once the pod is gone.

Host paths in the steps' environment are translated: the build's workspace is
`/home/jenkins/agent/workspace/<job>` in every container, and the build directory's files the
steps may see (credential files, the builder's trace events) are under `CONTROL_DIR/build`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import logging
import os
import secrets
import shutil
import tarfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.ci.executor.interface import AGENT_UMASK, AgentSpec, ExecutorError, StepHandle, StepSpec
from dockyard.ci.executor.kubernetes_cap import PodCap
from dockyard.ci.executor.kubernetes_cleanup import SWEEP_INTERVAL, instance_id, sweep
from dockyard.ci.executor.kubernetes_client import ExecResult, KubeClient, api_message, api_status
from dockyard.ci.executor.kubernetes_events import assess_start, event_key, explain_stop, format_event
from dockyard.ci.executor.kubernetes_exec import StepFiles, parse_status, quote, step_files
from dockyard.ci.executor.kubernetes_pod import (
    AGENT_CONTAINER,
    CONTROL_DIR,
    BuildPod,
    PodOptions,
    build_pod,
)
from dockyard.ci.executor.kubernetes_secrets import (
    SecretLookup,
    own_by_pod,
    pull_secret_manifest,
    read_secrets,
)

BUILD_DIR = f"{CONTROL_DIR}/build"  # the build directory's files the steps see (host: DATA/ci/<job>/<n>)
POLL_STARTING = 0.5  # seconds between looks at a starting pod
POLL_RUNNING = 2.0  # seconds between looks at a running pod's events
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL of a step
# The pod's containers get this long after SIGTERM (the keep-alive exits at once; the steps were
# killed already); a graceful delete keeps the pod in the API until its containers are stopped,
# so the cap counts what really runs on the nodes.
DELETE_GRACE = 2
GONE_TIMEOUT = 60.0  # seconds to wait for a deleted pod to disappear before giving its slot back
RECONNECT_LIMIT = 300.0  # seconds of failing exec connections before a step is given up
TAR_CHUNK = 1 << 20
MAX_WORKSPACE = 8 << 30  # bytes of a pod's workspace Dockyard copies back for its file steps

log = logging.getLogger(__name__)


@dataclass
class KubernetesCloud:
    """The cloud's settings (`Settings.k8s_*`), shared by its builds."""

    kubeconfig: str = ""
    namespace: str = ""
    agent_image: str = ""
    executor_image: str = ""
    kaniko_images: tuple[str, ...] = ()
    pod_timeout: float = 120.0
    container_cap: int = 10
    pull_credential: str = ""


class KubernetesBackend:
    """Hands out one `KubernetesExecutor` per build; owns the client, the cap, the set of pods
    running builds own, and the orphan sweep."""

    name = "kubernetes"

    def __init__(self, cloud: KubernetesCloud, data_dir: Path) -> None:
        self.cloud = cloud
        self.kube = KubeClient(cloud.kubeconfig, cloud.namespace)
        self.cap = PodCap(cloud.container_cap)
        self.instance = instance_id(data_dir)
        self.live: set[str] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._forgetting: set[asyncio.Task[None]] = set()

    def new(self) -> KubernetesExecutor:
        return KubernetesExecutor(self)

    async def start(self) -> None:
        """Deletes the pods a previous run of this Dockyard left (no build runs yet), then keeps
        sweeping; in the background, so an unreachable API server never delays start-up."""
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def sweep_once(self, when: str) -> None:
        try:
            removed = await sweep(self.kube, self.instance, set(self.live))
        except ExecutorError as e:  # no configuration: said again by the first build that needs it
            log.warning("Kubernetes executor: %s", e)
            return
        for name in removed:
            log.warning("Kubernetes executor %s: deleted orphan build pod %s", when, name)

    async def _sweep_forever(self) -> None:
        await self.sweep_once("at start")
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            await self.sweep_once("sweep")

    def forget_when_gone(self, name: str, slot: bool) -> None:
        """Once the deleted pod `name` has left the API: no build owns it, and its cap slot (if
        `slot`) is free again. Runs in the background so the build ends without waiting."""
        task = asyncio.create_task(self._forget_when_gone(name, slot))
        self._forgetting.add(task)
        task.add_done_callback(self._forgetting.discard)

    async def _forget_when_gone(self, name: str, slot: bool) -> None:
        started = time.monotonic()
        try:
            while time.monotonic() - started < GONE_TIMEOUT:
                try:
                    await self.kube.call("read_namespaced_pod", name, await self.kube.ready())
                except Exception as e:
                    if api_status(e) == 404:
                        return
                await asyncio.sleep(0.25)
            log.warning("Kubernetes executor: pod %s still terminating after %g s", name, GONE_TIMEOUT)
        finally:
            self.live.discard(name)
            if slot:
                self.cap.release()

    def close(self) -> None:
        """Stops the background tasks (thread-safe: CIService.stop calls it from a thread)."""
        tasks = [*self._forgetting, *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.get_loop().call_soon_threadsafe(task.cancel)
        self.kube.close()


@dataclass
class _Step:
    id: str
    container: str
    files: StepFiles
    trace_events: str = ""  # host path of the builder's trace events file, when the step has one
    offset: int = 0
    code: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)


class KubernetesExecutor:
    name = "kubernetes"

    def __init__(self, backend: KubernetesBackend) -> None:
        self.backend = backend
        self.kube = backend.kube
        self.log: Any = None
        self.spec: AgentSpec | None = None
        self.pod: BuildPod | None = None
        self.created = False
        self._slot = False
        self._seen: set[tuple[str, int]] = set()
        self._events: list[dict[str, Any]] = []
        self._watcher: asyncio.Task[None] | None = None
        self._steps: dict[str, _Step] = {}
        self._ids = itertools.count(1)
        self._destroyed = False

    # -- setup ------------------------------------------------------------------
    async def setup(self, spec: AgentSpec, log: Any) -> None:
        self.spec, self.log = spec, log
        cloud = self.backend.cloud
        own = spec.insecure_registries[0] if spec.insecure_registries else ""
        agent_image = cloud.agent_image or default_image(own)
        options = PodOptions(
            agent_image=agent_image,
            executor_image=cloud.executor_image or agent_image,
            kaniko_images=cloud.kaniko_images,
            instance=self.backend.instance,
            job=spec.job or spec.build_dir.parent.name,
            number=spec.number or _number(spec.build_dir),
            build_url=spec.build_url,
            timeout_seconds=spec.timeout_seconds,
        )
        suffix = secrets.token_hex(3)
        pull = f"dockyard-pull-{suffix}-{options.number}" if cloud.pull_credential else ""
        if pull:
            options = PodOptions(**{**options.__dict__, "pull_secrets": (pull,)})
        pod = build_pod(spec.pod_yaml, options, suffix)
        self.pod = pod
        namespace = await self.kube.ready()
        log.line(f"[dockyard] Kubernetes: build pod {namespace}/{pod.name} (containers:"
                 f" {', '.join(pod.containers)}; steps outside container() run in '{AGENT_CONTAINER}')")
        for name, image in pod.mapped.items():
            log.line(f"[dockyard] container '{name}': {image} runs as Dockyard's executor image"
                     f" {options.executor_image} (/kaniko/executor = dockyard executor)")
        if not self.backend.cap.free:
            log.line(f"[dockyard] waiting for a Kubernetes slot: {self.backend.cap.used} build pods exist,"
                     f" the cap is {self.backend.cap.cap} (DOCKYARD_K8S_CONTAINER_CAP)")
        await self.backend.cap.acquire()
        self._slot = True
        if pull:
            await self._create_pull_secret(pull, spec)
        self.backend.live.add(pod.name)
        started = time.monotonic()
        self.created = True  # from the request on: an abort while it is in flight deletes the pod
        try:
            created = await self.kube.call("create_namespaced_pod", namespace, pod.manifest)
        except Exception as e:
            self.created = False
            if api_status(e) is None:  # the client's own check of the manifest
                raise ExecutorError(f"the pod template is not a valid Pod: {e}") from None
            raise ExecutorError(f"the cluster refused the build pod: {api_message(e)}") from None
        if pull:
            await own_by_pod(self.kube, pull, created)
        await self._wait_started(started)
        log.line(f"[dockyard] pod {pod.name} is running ({time.monotonic() - started:.1f} s)")
        self._watcher = asyncio.create_task(self._watch_events())
        await self._prepare(spec)

    async def _create_pull_secret(self, name: str, spec: AgentSpec) -> None:
        cred_id = self.backend.cloud.pull_credential
        if spec.cloud_credentials is None:
            raise ExecutorError("DOCKYARD_K8S_PULL_CREDENTIAL is set but there is no credential store")
        try:
            credential = await self.kube.run(spec.cloud_credentials.get, cred_id)
        except KeyError as e:
            raise ExecutorError(f"DOCKYARD_K8S_PULL_CREDENTIAL: {e}") from None
        manifest = pull_secret_manifest(name, credential, cred_id)
        try:
            await self.kube.call("create_namespaced_secret", self.kube.namespace, manifest)
        except Exception as e:
            raise ExecutorError(f"cannot create the pull secret {name}: {api_message(e)}") from None
        self.log.line(f"[dockyard] imagePullSecret {name} made from credential {cred_id!r}")

    async def _poll_events(self) -> None:
        """Prints the pod's events not printed yet."""
        assert self.pod is not None
        try:
            found = await self.kube.call(
                "list_namespaced_event", self.kube.namespace,
                field_selector=f"involvedObject.name={self.pod.name},involvedObject.kind=Pod")
        except Exception as e:
            if api_status(e) == 403:
                return  # no RBAC for events: the start decision still has the pod's status
            raise
        events = [self.kube.plain(item) for item in found.items]
        events.sort(key=lambda ev: str(ev.get("lastTimestamp") or ev.get("eventTime") or ""))
        for ev in events:
            key = event_key(ev)
            if key not in self._seen:
                self._seen.add(key)
                self.log.line(format_event(ev, self.pod.name))
        self._events = events

    async def _wait_started(self, started: float) -> None:
        assert self.pod is not None
        timeout = self.backend.cloud.pod_timeout
        while True:
            with contextlib.suppress(Exception):
                await self._poll_events()
            try:
                pod = await self._read_pod()
            except Exception as e:
                if api_status(e) == 404:
                    raise ExecutorError("the build pod was deleted before it started") from None
                pod = {}
            verdict = assess_start(pod, self._events)
            if verdict.state == "ready":
                return
            if verdict.state == "failed":
                raise ExecutorError(f"the build pod could not start: {verdict.reason}")
            if time.monotonic() - started > timeout:
                raise ExecutorError(
                    f"the build pod did not start within {timeout:g} s (DOCKYARD_K8S_POD_TIMEOUT):"
                    f" {verdict.reason}"
                )
            await asyncio.sleep(POLL_STARTING)

    async def _read_pod(self) -> dict[str, Any]:
        assert self.pod is not None
        found = await self.kube.call("read_namespaced_pod", self.pod.name, self.kube.namespace)
        return dict(self.kube.plain(found))

    async def _watch_events(self) -> None:
        while True:
            await asyncio.sleep(POLL_RUNNING)
            with contextlib.suppress(Exception):
                await self._poll_events()

    async def _prepare(self, spec: AgentSpec) -> None:
        """The control directories (writable by every container's user) and the workspace."""
        assert self.pod is not None
        ws = self.pod.workspace
        mkdir = (f"mkdir -p {quote(CONTROL_DIR + '/steps')} {quote(BUILD_DIR)} {quote(ws)} &&"
                 f" chmod 1777 {quote(CONTROL_DIR)} {quote(CONTROL_DIR + '/steps')} {quote(BUILD_DIR)}")
        res = await self.kube.exec(self.pod.name, AGENT_CONTAINER, ["sh", "-c", mkdir], idle=30)
        _check(res, f"preparing the workspace in container '{AGENT_CONTAINER}'")
        if not spec.workspace.is_dir() or not any(spec.workspace.iterdir()):
            return
        started = time.monotonic()
        counted: list[int] = [0, 0]
        res = await self.kube.run(
            self.kube.exec_blocking, self.pod.name, AGENT_CONTAINER,
            ["sh", "-c", f"umask {AGENT_UMASK:03o} && tar -x -o -f - -C {quote(ws)}"],
            _tar_chunks(spec.workspace, counted), None, None, 120.0,
        )
        _check(res, f"copying the workspace into container '{AGENT_CONTAINER}' (tar x)")
        self.log.line(f"[dockyard] workspace copied into the pod: {counted[0]} files,"
                      f" {counted[1] / 1e6:.1f} MB in {time.monotonic() - started:.1f} s")

    async def credential_fallback(self, first: Any, ids: list[str]) -> SecretLookup:
        """The build's credential lookup extended with the namespace's Secrets the pipeline
        names and Dockyard does not have (kubernetes_secrets says how they bind)."""
        found = await read_secrets(self.kube, first, ids)
        for cid in found:
            self.log.line(f"[dockyard] credential {cid!r}: the Secret of namespace {self.kube.namespace}")
        return SecretLookup(first, found, self.kube.namespace)

    # -- the workspace on Dockyard's side (file steps) --------------------------------
    async def pull_workspace(self) -> None:
        """Dockyard's copy of the workspace becomes the pod's (files steps made, deleted ones
        gone); the pod's tar is untrusted: extracted with tarfile's `data` filter, bounded."""
        if self.spec is None or self.pod is None or not self.created:
            return
        spec, ws = self.spec, self.pod.workspace
        archive = spec.build_dir / "workspace-pull.tar"
        size = [0]
        with open(archive, "wb") as out:
            def take(chunk: bytes) -> None:
                size[0] += len(chunk)
                if size[0] <= MAX_WORKSPACE:
                    out.write(chunk)

            tar = ["sh", "-c", f"cd {quote(ws)} && tar -c -f - ."]
            res = await self.kube.run(self.kube.exec_blocking, self.pod.name, AGENT_CONTAINER, tar,
                                      None, take, None, 300.0)
        try:
            _check(res, f"reading the workspace from container '{AGENT_CONTAINER}' (tar c)")
            if size[0] > MAX_WORKSPACE:
                raise ExecutorError(f"the pod's workspace is over {MAX_WORKSPACE >> 30} GiB: not copied back")
            await asyncio.to_thread(_replace_with, spec.workspace, archive)
        finally:
            archive.unlink(missing_ok=True)

    async def push_workspace(self) -> None:
        """The pod's workspace becomes Dockyard's copy (after a step wrote files there)."""
        if self.spec is None or self.pod is None or not self.created:
            return
        ws = quote(self.pod.workspace)
        script = (f"cd {ws} && rm -rf -- * .[!.]* ..?* && umask {AGENT_UMASK:03o} && tar -x -o -f -")
        chunks = _tar_chunks(self.spec.workspace, [0, 0])
        res = await self.kube.run(self.kube.exec_blocking, self.pod.name, AGENT_CONTAINER,
                                  ["sh", "-c", script], chunks, None, None, 300.0)
        _check(res, f"copying the workspace into container '{AGENT_CONTAINER}' (tar x)")

    # -- steps ------------------------------------------------------------------
    def _to_pod(self, value: str) -> str:
        assert self.spec is not None and self.pod is not None
        value = value.replace(str(self.spec.workspace), self.pod.workspace)
        return value.replace(str(self.spec.build_dir), BUILD_DIR)

    async def start_step(self, step: StepSpec) -> StepHandle:
        assert self.spec is not None and self.pod is not None, "setup() first"
        container = step.container or AGENT_CONTAINER
        if container not in self.pod.containers:
            raise ExecutorError(f"container('{container}'): the pod template has no such container")
        env = {k: self._to_pod(v) for k, v in step.env.items()}
        files = self._credential_files(step.env)
        step_id = f"step-{next(self._ids)}"
        sf = step_files(step_id, step.script, env, self._to_pod(str(step.cwd)), container, step.shell, files)
        res = await self.kube.exec(self.pod.name, container, sf.start_argv(), stdin=sf.payload, idle=30)
        if res.error or res.code != 0:
            why = res.error or res.stderr.strip() or f"exit code {res.code}"
            raise ExecutorError(f"the step could not start in container '{container}': {why}")
        events = step.env.get("DOCKYARD_TRACE_EVENTS", "")
        handle = _Step(step_id, container, sf, trace_events=events)
        self._steps[step_id] = handle
        return handle

    def _credential_files(self, env: dict[str, str] | Any) -> dict[str, bytes]:
        """The build's credential files (`credentials('id')` of a file credential) the step's
        environment points at, to be written in the pod at the translated path."""
        assert self.spec is not None
        secrets_dir = self.spec.build_dir / "secrets"
        out: dict[str, bytes] = {}
        for value in env.values():
            path = Path(value)
            if path.parent == secrets_dir and path.is_file():
                out[self._to_pod(value)] = path.read_bytes()
        return out

    async def tail(self, handle: StepHandle) -> AsyncIterator[bytes]:
        step = self._steps[handle.id]
        assert self.pod is not None
        failing_since: float | None = None
        while step.code is None:
            res: ExecResult | None = None
            async for chunk, ended in self._follow(step):
                if chunk:
                    step.offset += len(chunk)
                    failing_since = None  # the connection works: only a run of failures counts
                    yield chunk
                res = ended or res
            assert res is not None
            word, value = parse_status(res.stderr)
            if word == "exit":
                step.code = value
            elif word == "more":
                failing_since = None
            elif word == "lost":
                why = await self._why_stopped(step.container)
                yield f"\n[dockyard] the step's process is gone without an exit code: {why}\n".encode()
                step.code = -1
            else:
                why = res.error or f"the exec ended without a status (exit code {res.code})"
                failing_since = failing_since or time.monotonic()
                gone = await self._stopped(step.container)
                if gone:
                    yield f"\n[dockyard] {gone}\n".encode()
                    step.code = -1
                elif time.monotonic() - failing_since > RECONNECT_LIMIT:
                    yield (f"\n[dockyard] giving up on the step after {RECONNECT_LIMIT:g} s of failing"
                           f" exec connections: {why}\n").encode()
                    step.code = -1
                else:
                    self.log.line(f"[dockyard] exec connection to container '{step.container}' failed"
                                  f" ({why}): reading the step's output again from byte {step.offset}")
                    await asyncio.sleep(min(5.0, 0.5 + time.monotonic() - failing_since))

    async def _follow(self, step: _Step) -> AsyncIterator[tuple[bytes, ExecResult | None]]:
        """One FOLLOW exec: its stdout chunks as they come, then ("", result)."""
        assert self.pod is not None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        def deliver(chunk: bytes) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)

        step.stop.clear()
        job = asyncio.ensure_future(self.kube.run(
            self.kube.exec_blocking, self.pod.name, step.container, step.files.follow_argv(step.offset),
            None, deliver, step.stop, 60.0))
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({job, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result(), None
                    continue
                getter.cancel()
                break
            while not queue.empty():
                yield queue.get_nowait(), None
            yield b"", job.result()
        finally:
            if not job.done():
                step.stop.set()

    async def _stopped(self, container: str) -> str:
        """Why the container can no longer run the step ("" when it looks alive)."""
        assert self.pod is not None
        try:
            pod = await self._read_pod()
        except Exception as e:
            return explain_stop(None, container) if api_status(e) == 404 else ""
        deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if cs.get("name") == container and (cs.get("state") or {}).get("running") and not deleting:
                return ""
        return explain_stop(pod, container)

    async def _why_stopped(self, container: str) -> str:
        return await self._stopped(container) or f"container '{container}' lost the step's process"

    async def wait(self, handle: StepHandle) -> int:
        step = self._steps[handle.id]
        if step.code is None:
            async for chunk in self.tail(handle):
                self.log.write(chunk)
        if step.trace_events:
            await self._fetch_trace_events(step)
        self._steps.pop(handle.id, None)
        return step.code if step.code is not None else -1

    async def _fetch_trace_events(self, step: _Step) -> None:
        """The spans the builder appended in the pod, appended to the host's file for the trace."""
        assert self.pod is not None
        pod_path = self._to_pod(step.trace_events)
        moved = f"{pod_path}.{step.id}"
        script = (f"[ -f {quote(pod_path)} ] || exit 0; mv {quote(pod_path)} {quote(moved)} &&"
                  f" cat {quote(moved)} && rm -f {quote(moved)}")
        res = await self.kube.exec(self.pod.name, step.container, ["sh", "-c", script], idle=30)
        if res.stdout and not res.error:
            with open(step.trace_events, "ab") as f:
                f.write(res.stdout)

    async def kill(self, handle: StepHandle) -> None:
        step = self._steps.get(handle.id)
        if step is None or step.code is not None or self.pod is None:
            return
        await self.kube.exec(self.pod.name, step.container, step.files.kill_argv("TERM"), idle=15)
        for _ in range(int(KILL_GRACE / 0.1)):
            if step.code is not None:
                return
            await asyncio.sleep(0.1)
        if step.code is None:
            await self.kube.exec(self.pod.name, step.container, step.files.kill_argv("KILL"), idle=15)

    # -- teardown ---------------------------------------------------------------
    async def destroy(self) -> None:
        if self._destroyed:
            return
        self._destroyed = True
        if self._watcher is not None:
            self._watcher.cancel()
        for step in self._steps.values():
            step.stop.set()
        deleting = False
        try:
            if self.pod is not None and self.created:
                deleting = await self._delete_pod()
        finally:
            slot, self._slot = self._slot, False
            if self.pod is not None and deleting:  # the build ends now; the slot once the pod is gone
                self.backend.forget_when_gone(self.pod.name, slot)
            else:
                if self.pod is not None:
                    self.backend.live.discard(self.pod.name)
                if slot:
                    self.backend.cap.release()

    async def _delete_pod(self) -> bool:
        """Asks for the pod's deletion; False when it is gone already or cannot be deleted."""
        assert self.pod is not None
        name, ns = self.pod.name, self.kube.namespace
        with contextlib.suppress(Exception):
            await self._poll_events()
        try:
            await self.kube.call("delete_namespaced_pod", name, ns, grace_period_seconds=DELETE_GRACE)
        except Exception as e:
            if api_status(e) != 404:
                self.log.line(f"[dockyard] could not delete pod {name}: {api_message(e)}"
                              " (the orphan sweep retries)")
            return False
        self.log.line(f"[dockyard] deleting pod {name}")
        return True


def default_image(registry: str) -> str:
    """Dockyard's own image in its own registry (`dockyard image self` pushes it there)."""
    from dockyard import __version__

    if not registry:
        raise ExecutorError("set DOCKYARD_K8S_AGENT_IMAGE: the image of the build pod's agent container")
    return f"{registry}/dockyard/dockyard:{__version__}"


def _number(build_dir: Path) -> int:
    return int(build_dir.name) if build_dir.name.isdigit() else 0


def _check(res: ExecResult, what: str) -> None:
    if res.error or res.code != 0:
        detail = res.error or res.stderr.strip() or f"exit code {res.code}"
        raise ExecutorError(f"{what} failed: {detail}")


def _replace_with(workspace: Path, archive: Path) -> None:
    """`workspace`'s content replaced by the tar `archive` (no links out, no devices, safe modes)."""
    if workspace.exists():
        for child in workspace.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    workspace.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:") as tar:
        tar.extractall(workspace, filter="data")


def _tar_chunks(root: Path, counted: list[int]) -> Iterator[bytes]:
    """The directory as a tar stream in chunks of about TAR_CHUNK bytes (never whole in memory);
    `counted` gets [files, bytes]."""
    buffer = io.BytesIO()

    class Sink(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            return buffer.write(b)

    with tarfile.open(fileobj=Sink(), mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                full = os.path.join(dirpath, name)
                tar.add(full, arcname=os.path.relpath(full, root), recursive=False)
                if name in filenames:
                    counted[0] += 1
                    counted[1] += os.lstat(full).st_size
                if buffer.tell() >= TAR_CHUNK:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
    yield buffer.getvalue()
