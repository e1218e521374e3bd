"""Prometheus text metrics: request counts and durations per component, plus process figures.

Kept dependency-free: a middleware counts every request by component (the first path
segment family), method and status class, which is what an operator graphs first.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections import defaultdict

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_COMPONENTS = (
    ("/v2", "registry"),
    ("/service/token", "registry"),
    ("/api/v2.0", "harbor_api"),
    ("/api/v1", "gitea_api"),
    ("/api/ci", "ci"),
    ("/job", "ci"),
    ("/createItem", "ci"),
    ("/crumbIssuer", "ci"),
    ("/queue", "ci"),
    ("/healthz", "health"),
    ("/metrics", "metrics"),
)


def component_of(path: str) -> str:
    for prefix, name in _COMPONENTS:
        if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?"):
            return name
    return "git" if ".git" in path or path.count("/") >= 2 else "other"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.started = time.time()

    def observe(self, component: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(component, method, f"{status // 100}xx")] += 1
            self.seconds[component] += seconds

    def render(self) -> str:
        lines = [
            "# HELP dockyard_http_requests_total HTTP requests by component, method and status class.",
            "# TYPE dockyard_http_requests_total counter",
        ]
        with self._lock:
            for (component, method, status), count in sorted(self.requests.items()):
                labels = f'component="{component}",method="{method}",status="{status}"'
                lines.append(f"dockyard_http_requests_total{{{labels}}} {count}")
            lines += [
                "# HELP dockyard_http_request_seconds_total Time spent serving requests per component.",
                "# TYPE dockyard_http_request_seconds_total counter",
            ]
            for component, seconds in sorted(self.seconds.items()):
                lines.append(f'dockyard_http_request_seconds_total{{component="{component}"}} {seconds:.6f}')
        rss_kib = _rss_kib()
        lines += [
            "# HELP process_resident_memory_bytes Resident memory size in bytes.",
            "# TYPE process_resident_memory_bytes gauge",
            f"process_resident_memory_bytes {rss_kib * 1024}",
            "# HELP process_start_time_seconds Start time of the process since the epoch.",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"

    def endpoint(self, _request: Request) -> Response:
        return PlainTextResponse(self.render(), media_type="text/plain; version=0.0.4")


def _rss_kib() -> int:
    try:
        with open(f"/proc/{os.getpid()}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class MetricsMiddleware:
    """Times each HTTP request from start to its last body byte and records its status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe(
                component_of(scope["path"]), scope["method"], status, time.perf_counter() - started
            )
