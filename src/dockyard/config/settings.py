"""What a running Dockyard needs to know about itself: where its data is and how it is reached."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    """The data directory under the user's data home (XDG), as the issue asks."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "dockyard"


def _webhook_retry_delays() -> tuple[float, ...]:
    """DOCKYARD_WEBHOOK_RETRY_DELAYS: seconds between delivery attempts, comma separated."""
    raw = os.environ.get("DOCKYARD_WEBHOOK_RETRY_DELAYS", "")
    try:
        return tuple(float(x) for x in raw.split(",") if x.strip()) or DEFAULT_WEBHOOK_RETRY_DELAYS
    except ValueError:
        return DEFAULT_WEBHOOK_RETRY_DELAYS


DEFAULT_WEBHOOK_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION")


def _aws_environment() -> dict[str, str]:
    """The usual AWS variables an s3:// storage URL takes its credentials and endpoint from."""
    return {name: os.environ[name] for name in AWS_VARIABLES if os.environ.get(name)}


@dataclass(frozen=True)
class Settings:
    """Immutable configuration; every path Dockyard writes is derived from `data_dir`."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    admin_user: str = "admin"
    public_url: str | None = None
    # Gitea's [webhook] ALLOWED_HOST_LIST: which addresses outgoing webhooks may reach
    # (`external`, `private`, `loopback`, `*`, CIDRs, host globs; see dockyard.git.hostmatch).
    webhook_allowed_hosts: str = field(
        default_factory=lambda: os.environ.get("DOCKYARD_WEBHOOK_ALLOWED_HOSTS") or "external")
    webhook_retry_delays: tuple[float, ...] = field(default_factory=_webhook_retry_delays)
    # Registry blobs: file:// (registry_dir) or s3://BUCKET[/prefix] with the AWS variables.
    storage: str = field(default_factory=lambda: os.environ.get("DOCKYARD_STORAGE") or "file://")
    aws_environment: dict[str, str] = field(default_factory=_aws_environment, repr=False, compare=False)
    # Metadata: '' is SQLite at db_path; or a URL such as postgresql://user@host/db.
    database_url: str = field(default_factory=lambda: os.environ.get("DOCKYARD_DATABASE_URL") or "")

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
