"""What a running Dockyard needs to know about itself: where its data is, how it is reached, and
every tunable of its components.

`Settings.from_environ()` is the one place the server side reads the environment (once, at
start-up; nothing at import time); everything else receives a `Settings`. Each `DOCKYARD_*` name
is in `ENVIRONMENT` below and in README's Settings table (a test keeps the two equal).

Environment variables read elsewhere, on purpose:
- the builder's executor path, which runs alone in a pod like `/kaniko/executor` and never sees a
  `Settings`: `DOCKYARD_CACHE_DIR`, `DOCKYARD_DATA_DIR` (its cache), `DOCKYARD_SNAPSHOT`,
  `SOURCE_DATE_EPOCH`, `XDG_CACHE_HOME`, and Kaniko's own (`DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`,
  `XDG_RUNTIME_DIR`, `SSL_CERT_FILE`/`SSL_CERT_DIR`, `*_proxy`, build args from the environment);
- the client commands' user environment (`DOCKYARD_URL`, `DOCKYARD_USER`, `DOCKYARD_PASSWORD`,
  `DOCKYARD_TOKEN` of `dockyard ci|credentials|gitops`; `GIT_COMMIT` of `dockyard gitops`);
- git's and the steps' own environment: git subprocesses get the caller's environment minus
  `GIT_*`, the executor's zygote and a step's agent variables are the build's environment, and the
  pre-receive hook reads `DOCKYARD_PUSH_RULES` that the git server sets for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def default_data_dir() -> Path:
    """The data directory under the user's data home (XDG), as the issue asks."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "dockyard"


DEFAULT_WEBHOOK_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
DEFAULT_KANIKO_IMAGES = ("gcr.io/kaniko-project/executor", "cgr.dev/chainguard/kaniko")
DEFAULT_CI_MAX_PARALLEL = 16  # parallel branches at once per build
CI_EXECUTORS = ("local", "kubernetes")
DEFAULT_K8S_POD_TIMEOUT = 120.0  # seconds a build pod may take to start
DEFAULT_K8S_CONTAINER_CAP = 10  # build pods at once (Jenkins' containerCap default)
AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION")
_OFF = ("0", "false", "off", "no", "none")


def _retry_delays(name: str, raw: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in raw.split(",") if x.strip()) or DEFAULT_WEBHOOK_RETRY_DELAYS
    except ValueError:
        raise ValueError(f"{name} must be seconds separated by commas, got {raw!r}") from None


def _positive_int(name: str, raw: str) -> int:
    raw = raw.strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _port_or_off(name: str, raw: str) -> int | None:
    if raw.strip().lower() in _OFF:
        return None
    port = _positive_int(name, raw)
    if port > 65535:
        raise ValueError(f"{name} must be a TCP port (1-65535) or off, got {raw!r}")
    return port


def _switch(_name: str, raw: str) -> bool:
    return raw.strip().lower() not in _OFF


def _image_prefixes(_name: str, raw: str) -> tuple[str, ...]:
    if raw.strip().lower() in _OFF:
        return ()
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _text(_name: str, raw: str) -> str:
    return raw


def _executor(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in CI_EXECUTORS:
        raise ValueError(f"{name} must be one of {', '.join(CI_EXECUTORS)}, got {raw!r}")
    return value


# variable -> (Settings field, parser(name, raw)); an unset or empty variable keeps the default
ENVIRONMENT: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "DOCKYARD_DATA_DIR": ("data_dir", lambda _n, raw: Path(raw)),
    "DOCKYARD_DATABASE_URL": ("database_url", _text),
    "DOCKYARD_ADMIN_PASSWORD": ("admin_password", _text),
    "DOCKYARD_STORAGE": ("storage", _text),
    "DOCKYARD_UPLOAD_TTL": ("upload_ttl", _seconds),
    "DOCKYARD_WEBHOOK_ALLOWED_HOSTS": ("webhook_allowed_hosts", _text),
    "DOCKYARD_WEBHOOK_RETRY_DELAYS": ("webhook_retry_delays", _retry_delays),
    "DOCKYARD_CI_WEBHOOK_SECRET": ("ci_webhook_secret", _text),
    "DOCKYARD_CI_EXECUTORS": ("ci_executors", _positive_int),
    "DOCKYARD_CI_MAX_PARALLEL": ("ci_max_parallel", _positive_int),
    "DOCKYARD_CI_PREWARM": ("ci_prewarm", _switch),
    "DOCKYARD_CI_TEST_CLOCK": ("ci_test_clock", _text),
    "DOCKYARD_KANIKO_ALIAS": ("kaniko_images", _image_prefixes),
    "DOCKYARD_SSH_PORT": ("ssh_port", _port_or_off),
    "DOCKYARD_CI_EXECUTOR": ("ci_executor", _executor),
    "DOCKYARD_K8S_NAMESPACE": ("k8s_namespace", _text),
    "DOCKYARD_K8S_KUBECONFIG": ("k8s_kubeconfig", _text),
    "DOCKYARD_K8S_AGENT_IMAGE": ("k8s_agent_image", _text),
    "DOCKYARD_K8S_EXECUTOR_IMAGE": ("k8s_executor_image", _text),
    "DOCKYARD_K8S_POD_TIMEOUT": ("k8s_pod_timeout", _seconds),
    "DOCKYARD_K8S_CONTAINER_CAP": ("k8s_container_cap", _positive_int),
    "DOCKYARD_K8S_PULL_CREDENTIAL": ("k8s_pull_credential", _text),
}


@dataclass(frozen=True)
class Settings:
    """Immutable configuration; every path Dockyard writes is derived from `data_dir`."""

    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    admin_user: str = "admin"
    admin_password: str = field(default="", repr=False)  # '' generates one on first start
    public_url: str | None = None
    # Gitea's [webhook] ALLOWED_HOST_LIST: which addresses outgoing webhooks may reach
    # (`external`, `private`, `loopback`, `*`, CIDRs, host globs; see dockyard.http.hostmatch).
    webhook_allowed_hosts: str = "external"
    webhook_retry_delays: tuple[float, ...] = DEFAULT_WEBHOOK_RETRY_DELAYS
    # Registry blobs: file:// (registry_dir) or s3://BUCKET[/prefix] with the AWS variables.
    storage: str = "file://"
    aws_environment: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    upload_ttl: float = 24 * 3600.0  # seconds before an abandoned blob upload is removed
    # Metadata: '' is SQLite at db_path; or a URL such as postgresql://user@host/db.
    database_url: str = field(default="", repr=False)  # it may carry a password
    # CI: '' generates the webhook secret in secrets_dir; None executors is one per CPU.
    ci_webhook_secret: str = field(default="", repr=False)
    ci_executors: int | None = None
    ci_max_parallel: int = DEFAULT_CI_MAX_PARALLEL
    ci_prewarm: bool = True  # keep a pre-started `dockyard executor` for the Kaniko stand-in
    # Tests only: a file whose ISO 8601 text is "now" for cron triggers ('' = the system clock)
    ci_test_clock: str = ""
    kaniko_images: tuple[str, ...] = DEFAULT_KANIKO_IMAGES  # images whose steps run Dockyard's executor
    ssh_port: int | None = None  # git over SSH on this port (on `host`); None: no SSH server
    # Where builds run: "local" (this machine's sandbox) or "kubernetes" (one pod per build); a
    # pipeline picks the other with its pod template's `dockyard.io/executor` annotation.
    ci_executor: str = "local"
    # The Kubernetes cloud: namespace ('' = the service account's, else the kubeconfig context's),
    # kubeconfig ('' = in-cluster service account, else KUBECONFIG / ~/.kube/config as kubectl),
    # images ('' = Dockyard's own image in its own registry), start timeout, pods at once, and the
    # credential id an imagePullSecret is made from for every build pod ('' = none).
    k8s_namespace: str = ""
    k8s_kubeconfig: str = ""
    k8s_agent_image: str = ""
    k8s_executor_image: str = ""
    k8s_pod_timeout: float = DEFAULT_K8S_POD_TIMEOUT
    k8s_container_cap: int = DEFAULT_K8S_CONTAINER_CAP
    k8s_pull_credential: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment (`os.environ` unless given), then `overrides` (command
        flags); a bad value raises ValueError naming the variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (attribute, parse) in ENVIRONMENT.items():
            if env.get(name):
                values[attribute] = parse(name, env[name])
        values["aws_environment"] = {name: env[name] for name in AWS_VARIABLES if env.get(name)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def base_url(self) -> str:
        """The URL clients use to reach us (token realm, clone URLs, Location headers)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "dockyard.db"

    @property
    def database(self) -> str:
        """What `store.Database` opens: the URL when one is set, else the SQLite file."""
        return self.database_url or str(self.db_path)

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def registry_dir(self) -> Path:
        return self.data_dir / "registry"

    @property
    def git_dir(self) -> Path:
        return self.data_dir / "git"

    @property
    def ci_dir(self) -> Path:
        return self.data_dir / "ci"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"
